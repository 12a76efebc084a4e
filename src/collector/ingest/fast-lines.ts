import { appendColumns, appendPoint, finishBatch, startBatch, type BatchEncoder, type ColumnarBatch } from "./columnar.js";
import { createSeriesCache, parseLineProtocol, MAX_TIME_MS, type LineError, type LineProtocolLimits, type Precision, type SeriesCache } from "./line-protocol.js";

/**
 * Line protocol read from bytes straight into a {@link ColumnarBatch}, for the common line: a
 * series seen before (its measurement and tags as the same bytes), the same field keys as its
 * last line, plain decimal numbers and an integer timestamp. Such a line costs no string and no
 * object. Any other line (a new series, strings, booleans, escapes, exponents, errors, comments)
 * goes to {@link parseLineProtocol} on its own, so every result is exactly what it gives for the
 * whole body: the same points, the same errors with line and column. A line with a quote that
 * cannot be read fast hands the rest of the body to it (a string field may span lines).
 */

/** Bytes of a head (measurement and tags) already parsed, and its id in the encoder. */
interface FastHead {
  bytes: Uint8Array;
  id: number;
  next: FastHead | undefined;
}

/** The field keys of a head's last line (as bytes) and the encoder's shape id for them. */
interface FastShape {
  keys: Uint8Array[];
  id: number;
}

/** What one worker keeps between bodies. */
export interface FastLinesState {
  enc: BatchEncoder;
  seriesCache: SeriesCache;
  heads: Map<number, FastHead>;
  shapes: Array<FastShape | undefined>;
  /** The encoder's generation these ids belong to. */
  generation: number;
  /** The limits the cached heads were checked against. */
  limitsKey: string;
  values: Float64Array<ArrayBuffer>;
  /** Lines read by the fast path so far. */
  fastLines: number;
}

export function createFastLinesState(enc: BatchEncoder): FastLinesState {
  return { enc, seriesCache: createSeriesCache(), heads: new Map(), shapes: [], generation: enc.generation, limitsKey: "", values: new Float64Array(64), fastLines: 0 };
}

export interface FastParseOptions {
  jobId: number;
  precision: Precision;
  defaultTimeMs: number;
  limits: LineProtocolLimits;
}

const LF = 10;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const EQUALS = 61;
const BACKSLASH = 92;
const LOWER_I = 105;
const LOWER_E = 101;
const UPPER_E = 69;
const PLUS = 43;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const MAX_EXACT_MANTISSA = 2 ** 53;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const PRECISION_SHIFT: Readonly<Record<Precision, number>> = { ns: 6, us: 3, ms: 0, s: 0, m: 0, h: 0 };
const PRECISION_MULTIPLIER: Readonly<Record<Precision, number>> = { ns: 1, us: 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Bytes a body is guessed to hold per line, to size the batch's arrays. */
const BYTES_PER_LINE_GUESS = 64;

/** Parses `body` into a batch: fast lines from bytes, the rest through {@link parseLineProtocol}. */
export function parseColumnar(state: FastLinesState, body: Buffer, opts: FastParseOptions): ColumnarBatch {
  const b = startBatch(state.enc, opts.jobId, Math.ceil(body.length / BYTES_PER_LINE_GUESS));
  const limitsKey = `${opts.limits.maxLineBytes},${opts.limits.maxTagsPerPoint},${opts.limits.maxTagValueBytes}`;
  if (state.generation !== state.enc.generation || state.limitsKey !== limitsKey) {
    state.heads.clear();
    state.shapes.length = 0;
    state.generation = state.enc.generation;
    state.limitsKey = limitsKey;
  }
  const n = body.length;
  let line = 1;
  let pos = 0;
  while (pos < n) {
    let end = body.indexOf(LF, pos);
    if (end === -1) end = n;
    if (end > pos && !fastLine(state, b, body, pos, end, opts)) {
      if (hasQuote(body, pos, end)) {
        slowText(state, b, body.toString("utf8", pos, n), line, opts);
        break;
      }
      slowLine(state, b, body, pos, end, line, opts);
    }
    line++;
    pos = end + 1;
  }
  return finishBatch(b);
}

function hasQuote(body: Buffer, start: number, end: number): boolean {
  for (let p = start; p < end; p++) if (body[p] === QUOTE) return true;
  return false;
}

type Builder = ReturnType<typeof startBatch>;

/** Parses `text` (which starts at line `firstLine` of the body) with the full parser; returns its points' head ids. */
function slowText(state: FastLinesState, b: Builder, text: string, firstLine: number, opts: FastParseOptions): number[] {
  const parsed = parseLineProtocol(text, { precision: opts.precision, defaultTimeMs: opts.defaultTimeMs, limits: opts.limits, seriesCache: state.seriesCache });
  const ids = parsed.points.map((p) => appendPoint(state.enc, b, p));
  for (const e of parsed.errors) b.batch.errors.push(shifted(e, firstLine - 1));
  return ids;
}

function shifted(e: LineError, lines: number): LineError {
  return lines === 0 ? e : { ...e, line: e.line + lines };
}

/** One line through the full parser; a plain head and plain field keys are remembered for the fast path. */
function slowLine(state: FastLinesState, b: Builder, body: Buffer, start: number, end: number, line: number, opts: FastParseOptions): void {
  const before = b.batch.count;
  const [id] = slowText(state, b, body.toString("utf8", start, end), line, opts);
  if (id === undefined || b.batch.count !== before + 1) return;
  const headEnd = plainHeadEnd(body, start, end);
  if (headEnd < 0) return;
  const last = state.enc.lastShape[id];
  if (last === undefined) return;
  const keys: Uint8Array[] = [];
  for (const name of last.names) {
    const bytes = Buffer.from(name, "utf8");
    if (!plainKey(bytes)) return;
    keys.push(bytes);
  }
  rememberHead(state, body, start, headEnd, id);
  state.shapes[id] = { keys, id: last.id };
}

/** Where the head ends (its first space) when it has no escapes and the line does not start blank; else -1. */
function plainHeadEnd(body: Buffer, start: number, end: number): number {
  const first = body[start];
  if (first === SPACE || first === 9 || first === 35) return -1; // space, tab, '#'
  for (let p = start; p < end; p++) {
    const ch = body[p];
    if (ch === SPACE) return validUtf8(body, start, p) ? p : -1;
    if (ch === BACKSLASH) return -1;
  }
  return -1;
}

/** Whether the bytes decode without replacement characters, so line lengths in bytes agree with the full parser's. */
function validUtf8(body: Buffer, start: number, end: number): boolean {
  const raw = body.subarray(start, end);
  return Buffer.from(raw.toString("utf8"), "utf8").equals(raw);
}

function plainKey(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  for (const ch of bytes) if (ch === COMMA || ch === SPACE || ch === EQUALS || ch === BACKSLASH || ch === QUOTE || ch === LF) return false;
  return true;
}

function hashBytes(body: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let p = start; p < end; p++) h = Math.imul(h ^ (body[p] as number), FNV_PRIME);
  return h >>> 0;
}

function rememberHead(state: FastLinesState, body: Buffer, start: number, end: number, id: number): void {
  const h = hashBytes(body, start, end);
  const first = state.heads.get(h);
  for (let e = first; e !== undefined; e = e.next) if (e.id === id) return;
  state.heads.set(h, { bytes: new Uint8Array(body.subarray(start, end)), id, next: first });
}

function findHead(state: FastLinesState, body: Buffer, start: number, end: number, hash: number): number {
  const len = end - start;
  for (let e = state.heads.get(hash); e !== undefined; e = e.next) {
    if (e.bytes.length !== len) continue;
    let p = 0;
    while (p < len && e.bytes[p] === body[start + p]) p++;
    if (p === len) return e.id;
  }
  return -1;
}

/** Reads one line fast and appends it; false when it needs the full parser (nothing was appended). */
function fastLine(state: FastLinesState, b: Builder, body: Buffer, start: number, end: number, opts: FastParseOptions): boolean {
  if (end - start > opts.limits.maxLineBytes) return false;
  // The head: up to the first space, hashed on the way.
  let h = FNV_OFFSET;
  let p = start;
  for (; p < end; p++) {
    const ch = body[p] as number;
    if (ch === SPACE) break;
    h = Math.imul(h ^ ch, FNV_PRIME);
  }
  if (p >= end - 1 || p === start) return false;
  const head = findHead(state, body, start, p, h >>> 0);
  if (head < 0) return false;
  const shape = state.shapes[head];
  if (shape === undefined) return false;
  p++;
  const keys = shape.keys;
  const values = state.values.length >= keys.length ? state.values : (state.values = new Float64Array(keys.length * 2));
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j] as Uint8Array;
    const len = key.length;
    if (p + len >= end) return false;
    for (let k = 0; k < len; k++) if (body[p + k] !== key[k]) return false;
    if (body[p + len] !== EQUALS) return false;
    p = readNumber(body, p + len + 1, end, values, j);
    if (p < 0) return false;
    const sep = p < end ? body[p] : LF;
    if (j < keys.length - 1) {
      if (sep !== COMMA) return false;
      p++;
    } else if (sep !== SPACE && sep !== LF) return false;
  }
  let timeMs = opts.defaultTimeMs;
  if (p < end) {
    timeMs = readTimestamp(body, p + 1, end, opts.precision);
    if (Number.isNaN(timeMs)) return false;
  }
  appendColumns(b, head, shape.id, timeMs, values, keys.length);
  state.fastLines++;
  return true;
}

/** A decimal float or `123i`, as the full parser reads it when it takes its fast path; -1 for anything else. */
function readNumber(body: Buffer, start: number, end: number, out: Float64Array, j: number): number {
  let p = start;
  const negative = body[p] === MINUS;
  if (negative) p++;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let ch = p < end ? (body[p] as number) : -1;
  for (; ch >= ZERO && ch <= NINE; ch = ++p < end ? (body[p] as number) : -1) {
    mantissa = mantissa * 10 + (ch - ZERO);
    digits++;
  }
  const intDigits = digits;
  const hasDot = ch === DOT;
  if (hasDot) {
    for (ch = ++p < end ? (body[p] as number) : -1; ch >= ZERO && ch <= NINE; ch = ++p < end ? (body[p] as number) : -1) {
      mantissa = mantissa * 10 + (ch - ZERO);
      digits++;
      fraction++;
    }
  }
  if (digits === 0) return -1;
  if (ch === LOWER_I) {
    if (hasDot || intDigits > 15) return -1;
    // `0 -` keeps -0i an integer zero.
    out[j] = negative ? 0 - mantissa : mantissa;
    return p + 1;
  }
  if (ch === LOWER_E || ch === UPPER_E) {
    p++;
    ch = p < end ? (body[p] as number) : -1;
    if (ch === PLUS || ch === MINUS) p++;
    const expStart = p;
    while (p < end && (body[p] as number) >= ZERO && (body[p] as number) <= NINE) p++;
    if (p === expStart) return -1;
    return exactNumber(body, start, p, out, j);
  }
  if (ch !== COMMA && ch !== SPACE && ch !== -1) return -1;
  // Exact when the digits make an integer below 2^53 and 10^fraction is exact (Clinger's fast path).
  if (mantissa >= MAX_EXACT_MANTISSA || fraction > 22) return exactNumber(body, start, p, out, j);
  const abs = fraction === 0 ? mantissa : mantissa / (POW10[fraction] as number);
  out[j] = negative ? -abs : abs;
  return p;
}

/** The correctly rounded value of the ASCII number body[start, end), as the full parser gets it from `Number()`. */
function exactNumber(body: Buffer, start: number, end: number, out: Float64Array, j: number): number {
  const value = Number(body.toString("latin1", start, end));
  if (!Number.isFinite(value)) return -1;
  out[j] = value;
  return end;
}

/** A non-negative integer timestamp that ends the line, in ms (floored); NaN for anything else. */
function readTimestamp(body: Buffer, start: number, end: number, precision: Precision): number {
  if (start >= end) return Number.NaN;
  for (let p = start; p < end; p++) {
    const ch = body[p] as number;
    if (ch < ZERO || ch > NINE) return Number.NaN;
  }
  let s = start;
  while (s < end - 1 && body[s] === ZERO) s++;
  const headEnd = Math.max(s, end - PRECISION_SHIFT[precision]);
  if (headEnd - s > 14) return Number.NaN;
  let head = 0;
  for (let p = s; p < headEnd; p++) head = head * 10 + ((body[p] as number) - ZERO);
  const ms = head * PRECISION_MULTIPLIER[precision];
  // The last ms of the range needs the full parser's int64 check.
  return ms >= MAX_TIME_MS ? Number.NaN : ms;
}
