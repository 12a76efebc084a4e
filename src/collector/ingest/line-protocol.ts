import { ownString, type FieldValue, type Point } from "../../core/point.js";

/**
 * InfluxDB line protocol: a strict, linear-time parser and a serializer.
 *
 * Syntax accepted (https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/):
 * `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line.
 * - Escapes: in the measurement `\,` `\ ` `\\`; in tag keys, tag values and field keys also `\=`.
 *   A backslash before any other character is a literal backslash, as InfluxDB reads it.
 * - String fields are double-quoted with `\"` and `\\` escapes; they may hold raw newlines
 *   (InfluxDB and Telegraf allow them, and strings need them to round-trip).
 * - Floats (`1`, `-1.5`, `.5`, `1e-7`), integers `42i` (int64 range), unsigned `42u` (uint64
 *   range), booleans t/T/true/True/TRUE and f/F/false/False/FALSE. Integers become JS numbers:
 *   values beyond 2^53 keep the nearest double, like every other number in ANSAI.
 * - Timestamps are optional integers in the given precision, converted to ms with floor
 *   (toward -infinity: -1 ns is -1 ms), so sub-ms precision is dropped, never rounded up.
 * - Blank lines, `#` comments, CRLF line ends; one or more spaces between sections.
 * - Duplicate field keys: the last value wins, as in InfluxDB. Duplicate tag keys are an error.
 * A bad line becomes a {@link LineError} and parsing goes on with the next line (InfluxDB's
 * partial-write semantics). Every step scans char codes once: time is linear in the input.
 */

/** Timestamp precision; `m` and `h` exist for InfluxDB 1.x's /write. */
export type Precision = "ns" | "us" | "ms" | "s" | "m" | "h";

/** Size limits per line; each violation is a line error of kind "limit". */
export interface LineProtocolLimits {
  /** Longest line in UTF-8 bytes (a string field's newlines count as part of its line). */
  maxLineBytes: number;
  /** Most tags on one point. */
  maxTagsPerPoint: number;
  /** Longest tag value in UTF-8 bytes, after unescaping. */
  maxTagValueBytes: number;
}

export const DEFAULT_LINE_PROTOCOL_LIMITS: Readonly<LineProtocolLimits> = Object.freeze({
  maxLineBytes: 64 * 1024,
  maxTagsPerPoint: 64,
  maxTagValueBytes: 16 * 1024,
});

/** One rejected line. */
export interface LineError {
  /** 1-based line number in the input. */
  line: number;
  /** 1-based column (UTF-16 code units from the start of the line) where the problem is. */
  column: number;
  message: string;
  /** The line as received, cut to 200 characters. */
  text: string;
  /** "limit" for a size limit, "syntax" for everything else. */
  kind: "syntax" | "limit";
}

export interface ParseOptions {
  precision: Precision;
  /** Time given to points without a timestamp (ms). */
  defaultTimeMs: number;
  limits?: Partial<LineProtocolLimits>;
  /**
   * Series remembered across parses (see {@link createSeriesCache}). Without one, only points of
   * one input share a tags object.
   */
  seriesCache?: SeriesCache;
}

/** The measurement and tags of one series, as points of that series share them. */
export interface SeriesHead {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Series kept from one parse to the next, by the raw text of their measurement and tags, so a
 * series keeps one measurement string and one frozen tags object across requests: the store,
 * the analyzer and the write route's limiter then find it by identity instead of rebuilding its
 * key (and a repeated series skips tag parsing). Bounded: past `maxEntries` it starts over. Its
 * strings are copies, so it never keeps a request body alive. Create one per stream of inputs
 * (the write route keeps one); a parse with other tag limits than the last empties it first.
 */
export interface SeriesCache {
  readonly heads: Map<string, SeriesHead>;
  readonly maxEntries: number;
  /** Tag limits the cached series were checked against. */
  maxTagsPerPoint: number;
  maxTagValueBytes: number;
}

/** About 0.5 KB a series with 8 tags, so about 30 MB at most; 10k series take 5 MB. */
export const DEFAULT_SERIES_CACHE_ENTRIES = 65_536;

/** An empty {@link SeriesCache} holding up to `maxEntries` series. */
export function createSeriesCache(maxEntries = DEFAULT_SERIES_CACHE_ENTRIES): SeriesCache {
  return { heads: new Map(), maxEntries, maxTagsPerPoint: -1, maxTagValueBytes: -1 };
}

export interface ParseResult {
  points: Point[];
  errors: LineError[];
}

/** The int64 nanosecond range InfluxDB stores, in whole ms. */
export const MAX_TIME_MS = 9_223_372_036_854;

const LF = 10;
const CR = 13;
const TAB = 9;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const EQUALS = 61;
const BACKSLASH = 92;
const LOWER_E = 101;
const UPPER_E = 69;
const LOWER_I = 105;
const LOWER_U = 117;

const ERROR_TEXT_CHARS = 200;
const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";
const UINT64_MAX = "18446744073709551615";
/** 10^0..10^22: every one is exact in a double, so mantissa / 10^k is correctly rounded. */
const MAX_EXACT_POW10 = 22;
const POW10 = Array.from({ length: MAX_EXACT_POW10 + 1 }, (_, k) => 10 ** k);
/** Integers below 2^53 are exact in a double. */
const MAX_EXACT_MANTISSA = 2 ** 53;

/** Scanner state for one input; `fail` records the first problem of the current line. */
interface Cursor {
  readonly text: string;
  readonly n: number;
  readonly limits: LineProtocolLimits;
  pos: number;
  /** Newlines inside string fields of the current line, so line numbers stay right. */
  innerNewlines: number;
  /** Where the last parsed line ended, before its LF or CRLF. */
  lineEnd: number;
  errPos: number;
  errMessage: string;
  errKind: "syntax" | "limit";
  /** Recently seen names and tag values by hash: repeated ones are shared, not allocated per line. */
  names: Array<string | undefined>;
  /** Series seen (raw measurement and tags → their head), so a repeated series skips parsing them. */
  heads: Map<string, SeriesHead>;
  /** Entries `heads` holds before it starts over. */
  headLimit: number;
  /** Whether `heads` outlives this input: its keys and strings must then not point into `text`. */
  headsKept: boolean;
  /** First space at or after the last search start (-1: none left); reused while lines start before it, so searches stay linear. */
  nextSpace: number;
}

const NAME_CACHE_SLOTS = 4096;
/** Distinct series remembered per input (without a {@link SeriesCache}) before the cache starts over. */
const HEAD_CACHE_ENTRIES = 8192;
const HEAD_CACHE_MAX_CHARS = 1024;
const FNV_PRIME = 0x01000193;

function fail(c: Cursor, pos: number, message: string, kind: "syntax" | "limit" = "syntax"): undefined {
  c.errPos = pos;
  c.errMessage = message;
  c.errKind = kind;
  return undefined;
}

/**
 * Parses a line-protocol body; bad lines become errors and the rest are kept. Points of one
 * series share one frozen `tags` object (copy it to add a tag): fewer allocations, and a store
 * can cache its series keys per tags object.
 */
export function parseLineProtocol(text: string, opts: ParseOptions): ParseResult {
  const limits = { ...DEFAULT_LINE_PROTOCOL_LIMITS, ...opts.limits };
  const kept = opts.seriesCache;
  if (kept !== undefined && (kept.maxTagsPerPoint !== limits.maxTagsPerPoint || kept.maxTagValueBytes !== limits.maxTagValueBytes)) {
    // Cached series skip the tag limits; series checked against other limits must be checked again.
    kept.heads.clear();
    kept.maxTagsPerPoint = limits.maxTagsPerPoint;
    kept.maxTagValueBytes = limits.maxTagValueBytes;
  }
  const c: Cursor = {
    text,
    n: text.length,
    limits,
    pos: 0,
    innerNewlines: 0,
    lineEnd: 0,
    errPos: 0,
    errMessage: "",
    errKind: "syntax",
    names: new Array<string | undefined>(NAME_CACHE_SLOTS),
    heads: kept?.heads ?? new Map(),
    headLimit: kept?.maxEntries ?? HEAD_CACHE_ENTRIES,
    headsKept: kept !== undefined,
    nextSpace: -2,
  };
  const points: Point[] = [];
  const errors: LineError[] = [];
  let line = 1;
  let pos = 0;
  while (pos < c.n) {
    const lineStart = pos;
    const first = skipBlank(text, pos);
    if (first < 0) {
      // Blank line or comment: -first is where the next line starts.
      pos = -first;
      line++;
      continue;
    }
    c.pos = first;
    c.innerNewlines = 0;
    const point = parseLine(c, opts);
    if (point !== undefined && !tooLong(c, lineStart, c.lineEnd)) {
      points.push(point);
      line += 1 + c.innerNewlines;
      pos = c.pos;
      continue;
    }
    // Resume after this physical line, even if a string field ran past it: the other lines are kept.
    const end = physicalLineEnd(text, lineStart);
    if (tooLong(c, lineStart, end)) {
      fail(c, lineStart + c.limits.maxLineBytes, `line is longer than the limit of ${c.limits.maxLineBytes} bytes`, "limit");
    }
    errors.push(lineError(c, line, lineStart, end));
    pos = end + 1;
    line++;
  }
  return { points, errors };
}

/** Where the next non-space character is, or minus the start of the next line when this one is blank or a comment. */
function skipBlank(text: string, pos: number): number {
  const n = text.length;
  let p = pos;
  while (p < n && text.charCodeAt(p) === SPACE) p++;
  let ch = text.charCodeAt(p);
  if (ch === HASH) return -(physicalLineEnd(text, p) + 1);
  if (ch === TAB) {
    // A line of spaces and tabs is blank; a tab before text is part of the measurement.
    let q = p;
    while (q < n && (text.charCodeAt(q) === TAB || text.charCodeAt(q) === SPACE)) q++;
    ch = text.charCodeAt(q);
    if (q >= n || ch === LF || (ch === CR && (q + 1 >= n || text.charCodeAt(q + 1) === LF))) return -(physicalLineEnd(text, q) + 1);
    return p;
  }
  if (p >= n || ch === LF || (ch === CR && (p + 1 >= n || text.charCodeAt(p + 1) === LF))) return -(physicalLineEnd(text, p) + 1);
  return p;
}

function physicalLineEnd(text: string, from: number): number {
  const i = text.indexOf("\n", from);
  return i === -1 ? text.length : i;
}

function lineError(c: Cursor, line: number, lineStart: number, end: number): LineError {
  let stop = Math.min(end, lineStart + ERROR_TEXT_CHARS);
  if (stop === end && stop > lineStart && c.text.charCodeAt(stop - 1) === CR) stop--;
  return {
    line,
    column: c.errPos - lineStart + 1,
    message: c.errMessage,
    text: c.text.slice(lineStart, stop),
    kind: c.errKind,
  };
}

function tooLong(c: Cursor, start: number, end: number): boolean {
  return utf8Exceeds(c.text, start, end, c.limits.maxLineBytes);
}

/** Whether text[start, end) is longer than maxBytes in UTF-8; counts bytes only when the length alone cannot tell. */
function utf8Exceeds(text: string, start: number, end: number, maxBytes: number): boolean {
  const chars = end - start;
  if (chars > maxBytes) return true;
  if (chars * 3 <= maxBytes) return false;
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const ch = text.charCodeAt(i);
    if (ch < 0x80) bytes += 1;
    else if (ch < 0x800) bytes += 2;
    else if (ch >= 0xd800 && ch <= 0xdbff && i + 1 < end) {
      // A surrogate pair is one 4-byte character.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes > maxBytes;
}

function isLineEnd(c: Cursor, pos: number): boolean {
  if (pos >= c.n) return true;
  const ch = c.text.charCodeAt(pos);
  return ch === LF || (ch === CR && (pos + 1 >= c.n || c.text.charCodeAt(pos + 1) === LF));
}

/** Moves past the line end at `pos` (LF, CRLF or the end of input). */
function consumeLineEnd(c: Cursor, pos: number): void {
  c.lineEnd = pos;
  c.pos = c.text.charCodeAt(pos) === CR ? pos + 2 : pos + 1;
  if (c.pos > c.n) c.pos = c.n;
}

function skipSpaces(c: Cursor): void {
  while (c.pos < c.n && c.text.charCodeAt(c.pos) === SPACE) c.pos++;
}

/** Sets a key without letting `__proto__` change the object's prototype. */
function setOwn<V>(obj: Record<string, V>, key: string, value: V): void {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function parseLine(c: Cursor, opts: ParseOptions): Point | undefined {
  const head = readHead(c);
  if (head === undefined) return undefined;
  if (c.pos >= c.n || c.text.charCodeAt(c.pos) !== SPACE) return fail(c, c.pos, "missing fields: expected a space then field=value");
  skipSpaces(c);
  if (isLineEnd(c, c.pos)) return fail(c, c.pos, "missing fields: expected field=value");
  const fields = readFields(c);
  if (fields === undefined) return undefined;
  const timeMs = readTimestamp(c, opts);
  if (timeMs === undefined) return undefined;
  return { measurement: head.measurement, tags: head.tags, fields, timeMs };
}

/**
 * Reads a measurement (withEquals false) or a tag key, tag value or field key (withEquals true)
 * up to an unescaped comma, space, `=` (keys and values only) or line end.
 */
function readName(c: Cursor, withEquals: boolean): string {
  const { text, n } = c;
  const start = c.pos;
  let p = start;
  let escaped = false;
  while (p < n) {
    const ch = text.charCodeAt(p);
    if (ch === COMMA || ch === SPACE || ch === LF || (withEquals && ch === EQUALS)) break;
    if (ch === BACKSLASH && p + 1 < n && isEscapable(text.charCodeAt(p + 1), withEquals)) {
      escaped = true;
      p += 2;
    } else p++;
  }
  c.pos = p;
  return escaped ? unescapeName(text, start, p, withEquals) : intern(c, start, p, sampleHash(text, start, p));
}

/** A cheap hash from the length and a few characters; a collision only costs a cache miss. */
function sampleHash(text: string, start: number, end: number): number {
  const len = end - start;
  if (len === 0) return 0;
  let h = Math.imul(len, 0x9e3779b1) ^ text.charCodeAt(start);
  h = Math.imul(h, FNV_PRIME) ^ text.charCodeAt(end - 1);
  h = Math.imul(h, FNV_PRIME) ^ text.charCodeAt(start + (len >> 1));
  h = Math.imul(h, FNV_PRIME) ^ text.charCodeAt(end - 1 - (len >> 2));
  return (h ^ (h >>> 15)) >>> 0;
}

/** text[start, end) as a string, shared with an earlier equal one when the cache still holds it. */
function intern(c: Cursor, start: number, end: number, hash: number): string {
  const slot = hash & (NAME_CACHE_SLOTS - 1);
  const cached = c.names[slot];
  if (cached !== undefined && cached.length === end - start && c.text.startsWith(cached, start)) return cached;
  const s = c.text.slice(start, end);
  c.names[slot] = s;
  return s;
}

function isEscapable(ch: number, withEquals: boolean): boolean {
  return ch === COMMA || ch === SPACE || ch === BACKSLASH || (withEquals && ch === EQUALS);
}

function unescapeName(text: string, start: number, end: number, withEquals: boolean): string {
  let out = "";
  let chunk = start;
  for (let p = start; p < end; p++) {
    if (text.charCodeAt(p) === BACKSLASH && p + 1 < end && isEscapable(text.charCodeAt(p + 1), withEquals)) {
      out += text.slice(chunk, p);
      chunk = p + 1;
      p++;
    }
  }
  return out + text.slice(chunk, end);
}

/**
 * Reads the measurement and the tag section. Points of one series share one head (one
 * measurement string, one frozen tags object): a head seen before is looked up by its text, not
 * parsed again.
 */
function readHead(c: Cursor): SeriesHead | undefined {
  const start = c.pos;
  if (c.nextSpace !== -1 && c.nextSpace < start) c.nextSpace = c.text.indexOf(" ", start);
  const end = c.nextSpace;
  // Only heads that end at the first space and are short are cached; the rest are just parsed.
  if (end === -1 || end - start > HEAD_CACHE_MAX_CHARS) return parseHead(c);
  const raw = c.text.slice(start, end);
  const cached = c.heads.get(raw);
  if (cached !== undefined) {
    // The same text ended the head at this space when it was parsed, so it does here too.
    c.pos = end;
    return cached;
  }
  const parsed = parseHead(c);
  if (parsed === undefined || c.pos !== end) return parsed;
  if (c.heads.size >= c.headLimit) c.heads.clear();
  // A kept cache holds copies: names and values are slices of the input, which must not stay alive.
  const head: SeriesHead = c.headsKept
    ? { measurement: ownString(parsed.measurement), tags: Object.freeze(ownTags(parsed.tags)) }
    : { measurement: parsed.measurement, tags: Object.freeze(parsed.tags) };
  c.heads.set(c.headsKept ? ownString(raw) : raw, head);
  return head;
}

function parseHead(c: Cursor): SeriesHead | undefined {
  const start = c.pos;
  const measurement = readName(c, false);
  if (measurement === "") return fail(c, start, "missing measurement");
  // A tags object of its own, even when empty: consumers cache per tags object and measurement.
  if (c.pos >= c.n || c.text.charCodeAt(c.pos) !== COMMA) return { measurement, tags: {} };
  const tags = parseTags(c);
  return tags === undefined ? undefined : { measurement, tags };
}

function ownTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(tags)) setOwn(out, ownString(key), ownString(tags[key] ?? ""));
  return out;
}

function parseTags(c: Cursor): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  let count = 0;
  while (c.pos < c.n && c.text.charCodeAt(c.pos) === COMMA) {
    c.pos++;
    const keyStart = c.pos;
    const key = readName(c, true);
    if (key === "") return fail(c, keyStart, "missing tag key");
    if (c.text.charCodeAt(c.pos) !== EQUALS) return fail(c, c.pos, `missing "=" after tag key "${key}"`);
    if (Object.hasOwn(tags, key)) return fail(c, keyStart, `duplicate tag key "${key}"`);
    if (++count > c.limits.maxTagsPerPoint) return fail(c, keyStart, `more than ${c.limits.maxTagsPerPoint} tags`, "limit");
    c.pos++;
    const valueStart = c.pos;
    const value = readName(c, true);
    if (value === "") return fail(c, valueStart, `missing value of tag "${key}"`);
    if (c.text.charCodeAt(c.pos) === EQUALS) return fail(c, c.pos, `unescaped "=" in the value of tag "${key}"`);
    if (utf8Exceeds(value, 0, value.length, c.limits.maxTagValueBytes)) {
      return fail(c, valueStart, `value of tag "${key}" is longer than the limit of ${c.limits.maxTagValueBytes} bytes`, "limit");
    }
    setOwn(tags, key, value);
  }
  return tags;
}

function readFields(c: Cursor): Record<string, FieldValue> | undefined {
  const fields: Record<string, FieldValue> = {};
  for (;;) {
    const keyStart = c.pos;
    const key = readName(c, true);
    if (key === "") return fail(c, keyStart, "missing field key");
    if (c.text.charCodeAt(c.pos) !== EQUALS) return fail(c, c.pos, `missing "=" after field key "${key}"`);
    c.pos++;
    const value = readFieldValue(c, key);
    if (value === undefined) return undefined;
    setOwn(fields, key, value);
    if (c.pos < c.n && c.text.charCodeAt(c.pos) === COMMA) {
      c.pos++;
      continue;
    }
    if (c.pos < c.n && c.text.charCodeAt(c.pos) === SPACE) return fields;
    if (isLineEnd(c, c.pos)) return fields;
    return fail(c, c.pos, `unexpected character ${JSON.stringify(c.text[c.pos])} after the value of field "${key}"`);
  }
}

function readFieldValue(c: Cursor, key: string): FieldValue | undefined {
  const ch = c.text.charCodeAt(c.pos);
  if (ch === QUOTE) return readString(c, key);
  if ((ch >= ZERO && ch <= NINE) || ch === MINUS || ch === DOT) return readNumber(c, key);
  if (ch === 116 || ch === 84 || ch === 102 || ch === 70) return readBoolean(c, key); // t T f F
  if (c.pos >= c.n || ch === COMMA || ch === SPACE || isLineEnd(c, c.pos)) return fail(c, c.pos, `missing value of field "${key}"`);
  return fail(c, c.pos, `invalid value of field "${key}": expected a number, a quoted string or a boolean`);
}

function readString(c: Cursor, key: string): string | undefined {
  const { text, n } = c;
  const open = c.pos;
  let out = "";
  let chunk = open + 1;
  for (let p = open + 1; p < n; p++) {
    const ch = text.charCodeAt(p);
    if (ch === QUOTE) {
      c.pos = p + 1;
      return out + text.slice(chunk, p);
    }
    if (ch === BACKSLASH) {
      const next = text.charCodeAt(p + 1);
      if (next === QUOTE || next === BACKSLASH) {
        out += text.slice(chunk, p);
        chunk = p + 1;
        p++;
      }
    } else if (ch === LF) c.innerNewlines++;
  }
  return fail(c, open, `unterminated string in field "${key}"`);
}

const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ["t", true],
  ["T", true],
  ["true", true],
  ["True", true],
  ["TRUE", true],
  ["f", false],
  ["F", false],
  ["false", false],
  ["False", false],
  ["FALSE", false],
]);

function readBoolean(c: Cursor, key: string): boolean | undefined {
  const start = c.pos;
  let p = start;
  while (p < c.n && p - start <= 5 && isWordChar(c.text.charCodeAt(p))) p++;
  const value = BOOLEANS.get(c.text.slice(start, p));
  if (value === undefined) return fail(c, start, `invalid value of field "${key}": expected a number, a quoted string or a boolean`);
  c.pos = p;
  return value;
}

function isWordChar(ch: number): boolean {
  return (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122);
}

function isDigit(ch: number): boolean {
  return ch >= ZERO && ch <= NINE;
}

/** Reads a float, `123i` or `123u`; fast path for decimals of up to 16 digits, `Number()` for the rest. */
function readNumber(c: Cursor, key: string): number | undefined {
  const { text, n } = c;
  const start = c.pos;
  let p = start;
  const negative = text.charCodeAt(p) === MINUS;
  if (negative) p++;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let ch = text.charCodeAt(p);
  for (; p < n && isDigit(ch); ch = text.charCodeAt(++p)) {
    mantissa = mantissa * 10 + (ch - ZERO);
    digits++;
  }
  const intEnd = p;
  const hasDot = p < n && ch === DOT;
  if (hasDot) {
    for (ch = text.charCodeAt(++p); p < n && isDigit(ch); ch = text.charCodeAt(++p)) {
      mantissa = mantissa * 10 + (ch - ZERO);
      digits++;
      fraction++;
    }
  }
  if (digits === 0) return fail(c, start, `invalid number in field "${key}"`);
  if (ch === LOWER_I || ch === LOWER_U) {
    if (hasDot) return fail(c, start, `invalid ${ch === LOWER_I ? "integer" : "unsigned integer"} in field "${key}": no decimal point allowed`);
    c.pos = p + 1;
    const digitStart = negative ? start + 1 : start;
    return ch === LOWER_I ? readInteger(c, key, digitStart, intEnd, negative, mantissa) : readUnsigned(c, key, start, intEnd, negative, mantissa);
  }
  if (ch === LOWER_E || ch === UPPER_E) {
    p++;
    ch = text.charCodeAt(p);
    if (ch === PLUS || ch === MINUS) p++;
    const expStart = p;
    while (p < n && isDigit(text.charCodeAt(p))) p++;
    if (p === expStart) return fail(c, start, `invalid number in field "${key}": exponent without digits`);
    const value = Number(text.slice(start, p));
    if (!Number.isFinite(value)) return fail(c, start, `number out of range in field "${key}"`);
    c.pos = p;
    return value;
  }
  c.pos = p;
  // Exact when the digits make an integer below 2^53 (every step was exact: the value only grows)
  // and 10^fraction is exact: one IEEE division is then correctly rounded (Clinger's fast path).
  // Covers 16-digit decimals too, the common output of float formatting.
  if (mantissa < MAX_EXACT_MANTISSA && fraction <= MAX_EXACT_POW10) {
    const abs = fraction === 0 ? mantissa : mantissa / (POW10[fraction] as number);
    return negative ? -abs : abs;
  }
  const value = Number(text.slice(start, p));
  if (!Number.isFinite(value)) return fail(c, start, `number out of range in field "${key}"`);
  return value;
}

function readInteger(c: Cursor, key: string, digitStart: number, end: number, negative: boolean, mantissa: number): number | undefined {
  // `0 -` keeps -0i an integer zero.
  if (end - digitStart <= 15) return negative ? 0 - mantissa : mantissa;
  if (exceedsDecimal(c.text, digitStart, end, negative ? INT64_MIN_ABS : INT64_MAX)) {
    return fail(c, negative ? digitStart - 1 : digitStart, `integer out of the int64 range in field "${key}"`);
  }
  return Number(c.text.slice(negative ? digitStart - 1 : digitStart, end));
}

function readUnsigned(c: Cursor, key: string, start: number, end: number, negative: boolean, mantissa: number): number | undefined {
  if (negative) return fail(c, start, `unsigned integer in field "${key}" cannot be negative`);
  if (end - start <= 15) return mantissa;
  if (exceedsDecimal(c.text, start, end, UINT64_MAX)) return fail(c, start, `integer out of the uint64 range in field "${key}"`);
  return Number(c.text.slice(start, end));
}

/** Whether the decimal digits text[start, end) are larger than `max` (digits too); leading zeros ignored. */
function exceedsDecimal(text: string, start: number, end: number, max: string): boolean {
  let s = start;
  while (s < end - 1 && text.charCodeAt(s) === ZERO) s++;
  const len = end - s;
  if (len !== max.length) return len > max.length;
  for (let i = 0; i < len; i++) {
    const d = text.charCodeAt(s + i) - max.charCodeAt(i);
    if (d !== 0) return d > 0;
  }
  return false;
}

/** Digits to shift right (ns, us) or a multiplier (s, m, h) to reach ms. */
const PRECISION_SHIFT: Readonly<Record<Precision, number>> = { ns: 6, us: 3, ms: 0, s: 0, m: 0, h: 0 };
const PRECISION_MULTIPLIER: Readonly<Record<Precision, number>> = { ns: 1, us: 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Reads the optional timestamp and the line end; returns ms. */
function readTimestamp(c: Cursor, opts: ParseOptions): number | undefined {
  skipSpaces(c);
  if (isLineEnd(c, c.pos)) {
    consumeLineEnd(c, c.pos);
    return opts.defaultTimeMs;
  }
  const { text, n } = c;
  const start = c.pos;
  let p = start;
  const negative = text.charCodeAt(p) === MINUS;
  if (negative) p++;
  const digitStart = p;
  while (p < n && isDigit(text.charCodeAt(p))) p++;
  if (p === digitStart || !(p >= n || text.charCodeAt(p) === SPACE || isLineEnd(c, p))) {
    return fail(c, start, "invalid timestamp: expected an integer");
  }
  const ms = timestampMs(text, digitStart, p, negative, opts.precision);
  if (ms === undefined) return fail(c, start, `timestamp out of range (more than ${MAX_TIME_MS} ms from 1970)`);
  c.pos = p;
  skipSpaces(c);
  if (!isLineEnd(c, c.pos)) return fail(c, c.pos, "unexpected text after the timestamp");
  consumeLineEnd(c, c.pos);
  return ms;
}

/** Converts a timestamp's digits to ms, flooring sub-ms parts; undefined when out of range. */
function timestampMs(text: string, start: number, end: number, negative: boolean, precision: Precision): number | undefined {
  let s = start;
  while (s < end - 1 && text.charCodeAt(s) === ZERO) s++;
  const headEnd = Math.max(s, end - PRECISION_SHIFT[precision]);
  // 14 digits are exact in a double and already beyond MAX_TIME_MS.
  if (headEnd - s > 14) return undefined;
  let head = 0;
  for (let p = s; p < headEnd; p++) head = head * 10 + (text.charCodeAt(p) - ZERO);
  let remainder = false;
  for (let p = headEnd; p < end; p++) if (text.charCodeAt(p) !== ZERO) remainder = true;
  const abs = head * PRECISION_MULTIPLIER[precision];
  if (abs > MAX_TIME_MS + (negative && remainder ? -1 : 0)) return undefined;
  // Only the last ms of the range can hold a ns count past int64.
  if (precision === "ns" && abs === MAX_TIME_MS && exceedsDecimal(text, s, end, negative ? INT64_MIN_ABS : INT64_MAX)) return undefined;
  // Floor: a negative time with a sub-ms remainder goes one ms further back. `0 -` avoids -0.
  return negative ? 0 - abs - (remainder ? 1 : 0) : abs;
}

/**
 * Serializes points at ms precision, tags sorted by key. Numbers are written as floats, never
 * `42i`: a JS number does not know whether it was an integer, and one field switching between
 * float and integer across points is a type conflict InfluxDB rejects.
 * Tags with an empty value are left out (InfluxDB treats them as absent).
 * Throws RangeError for what line protocol cannot carry: an empty measurement, tag key or field
 * key, a measurement starting with `#`, a newline outside a string field, a point without
 * fields, a non-finite number, or a time that is not an integer within ±{@link MAX_TIME_MS}.
 */
export function formatLineProtocol(points: readonly Point[]): string {
  let out = "";
  for (const p of points) out += `${formatPoint(p)}\n`;
  return out;
}

function formatPoint(p: Point): string {
  if (p.measurement === "" || p.measurement.charCodeAt(0) === HASH) {
    throw new RangeError(`line protocol cannot carry the measurement ${JSON.stringify(p.measurement)}`);
  }
  let out = escapeName(p.measurement, false);
  for (const key of Object.keys(p.tags).sort()) {
    const value = p.tags[key] ?? "";
    if (value === "") continue;
    out += `,${escapeName(key, true)}=${escapeName(value, true)}`;
  }
  let sep = " ";
  for (const key of Object.keys(p.fields)) {
    out += `${sep}${escapeName(key, true)}=${formatFieldValue(key, p.fields[key] as FieldValue)}`;
    sep = ",";
  }
  if (sep === " ") throw new RangeError(`point ${JSON.stringify(p.measurement)} has no fields`);
  if (!Number.isInteger(p.timeMs) || Math.abs(p.timeMs) > MAX_TIME_MS) {
    throw new RangeError(`point ${JSON.stringify(p.measurement)} has time ${p.timeMs}: expected integer ms within ±${MAX_TIME_MS}`);
  }
  return `${out} ${p.timeMs === 0 ? 0 : p.timeMs}`;
}

const MEASUREMENT_SPECIAL = /[\\, ]/g;
const NAME_SPECIAL = /[\\,= ]/g;

function escapeName(s: string, withEquals: boolean): string {
  if (s === "") throw new RangeError("line protocol cannot carry an empty tag or field key");
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === LF) throw new RangeError(`line protocol cannot carry a newline in ${JSON.stringify(s)}`);
    // Most names need no escaping; the regex runs only for the few that do.
    if (ch === COMMA || ch === SPACE || ch === BACKSLASH || (withEquals && ch === EQUALS)) {
      if (s.includes("\n")) throw new RangeError(`line protocol cannot carry a newline in ${JSON.stringify(s)}`);
      return s.replace(withEquals ? NAME_SPECIAL : MEASUREMENT_SPECIAL, "\\$&");
    }
  }
  return s;
}

function formatFieldValue(key: string, v: FieldValue): string {
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return `"${v.replace(/[\\"]/g, "\\$&")}"`;
  if (!Number.isFinite(v)) throw new RangeError(`field "${key}" is ${v}: line protocol has no non-finite numbers`);
  return Object.is(v, -0) ? "-0" : String(v);
}
