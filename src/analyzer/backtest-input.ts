import { parseLineProtocol, type LineError } from "../collector/ingest/line-protocol.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { columnsToPoints, type ColumnHead, type PointColumns } from "../core/columns.js";
import type { Point, SeriesInfo } from "../core/point.js";

/**
 * Readers for `ansai backtest` input: a CSV of one series (`timestamp,value`) or InfluxDB line
 * protocol, detected from the first line that is not blank or a `#` comment. Both stream: text
 * arrives in chunks, only whole lines are parsed, and each chunk becomes one batch of points.
 *
 * CSV timestamps, per row:
 * - an epoch number, its unit from its count of integer digits unless `precision` is given:
 *   up to 11 digits seconds, 12–14 milliseconds, 15–17 microseconds, 18 or more nanoseconds
 *   (each reading covers 1973–5138). The first epoch row fixes the unit; a later row of another
 *   unit is an error, not a silent jump in time. Seconds may carry a fraction (ms kept); other
 *   units are floored to whole ms.
 * - RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.250+02:00`), or the same without an
 *   offset, including `YYYY-MM-DD HH:MM:SS`: no offset means UTC.
 * Line protocol timestamps are in `precision` (default ns, as InfluxDB) and required.
 * A bad row or line is an ANSAI_BACKTEST_INVALID error naming `name:line`.
 */

/** Unit of epoch timestamps. */
export type EpochPrecision = "ns" | "us" | "ms" | "s";

export type InputFormat = "csv" | "line-protocol";

/** A batch of samples: points (line protocol), or columns (CSV: no object per row). */
export type SampleBatch = readonly Point[] | PointColumns;

export interface ReadOptions {
  /** The input as the user named it, for error messages (e.g. "disk.csv"). */
  name: string;
  /** Series of a CSV's values (required for CSV); with line protocol, only its points are kept. */
  series?: SeriesInfo;
  /** Unit of epoch timestamps; default: by digit count for CSV, ns for line protocol. */
  precision?: EpochPrecision;
  /** Called once the format is known, before the first batch. */
  onFormat?: (format: InputFormat) => void;
}

/** The CSV header, compared after trimming, lower-casing and dropping quotes. */
export const CSV_HEADER = "timestamp,value";
/** A line longer than this (no newline in sight) is an error: the input is not text of lines. */
const MAX_LINE_CHARS = 1 << 20;
const INPUT_HINT = `Fix that line. CSV input needs a header "${CSV_HEADER}" then one sample per line; line protocol needs a timestamp on every line. See \`ansai backtest --help\`.`;

const CR = 13;
const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const HASH = 35;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const COLON = 58;
const ZERO = 48;
const NINE = 57;
const UPPER_T = 84;
const LOWER_T = 116;
const UPPER_Z = 90;
const LOWER_Z = 122;
const BOM = 0xfeff;

const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k);
const DIGITS_PER_UNIT: Readonly<Record<EpochPrecision, string>> = { s: "seconds", ms: "milliseconds", us: "microseconds", ns: "nanoseconds" };

/** An input error at `name:line`. */
export function inputError(name: string, line: number, message: string): AnsaiError {
  return new AnsaiError(ErrorCodes.BACKTEST_INVALID, `${name}:${line}: ${message}`, INPUT_HINT);
}

/**
 * Reads samples from text chunks; yields one batch of points per chunk (possibly empty batches
 * are skipped). Points are fresh objects; points of one series share one frozen tags object.
 */
export async function* readSamples(chunks: AsyncIterable<string>, opts: ReadOptions): AsyncGenerator<Point[]> {
  for await (const batch of readSampleBatches(chunks, opts)) yield isColumns(batch) ? columnsToPoints(batch) : batch;
}

/** Whether a batch is columns (else points). */
export function isColumns(batch: SampleBatch): batch is PointColumns {
  return !Array.isArray(batch);
}

/**
 * As `readSamples`, but a CSV's batches are columns (one head, one field; fresh arrays per
 * batch, the `heads` and `fieldNames` tables shared by every batch of the input): what the
 * replay feeds the analyzer, without two objects per row.
 */
export async function* readSampleBatches(chunks: AsyncIterable<string>, opts: ReadOptions): AsyncGenerator<Point[] | PointColumns> {
  const detected = await detectInput(chunks, opts.name);
  if (detected === undefined) return;
  opts.onFormat?.(detected.format);
  if (detected.format === "csv") yield* readCsvBatches(detected.text, opts);
  else yield* readLineProtocol(detected.text, opts);
}

/** An input's format and all of its text (the part read to decide included). */
export interface DetectedInput {
  format: InputFormat;
  text: AsyncIterable<string>;
}

/**
 * Reads text until the first line that is not blank or a comment is whole and decides the
 * format from it; undefined for an input without such a line. Throws ANSAI_BACKTEST_INVALID
 * when that line is neither a CSV header nor line protocol.
 */
export async function detectInput(chunks: AsyncIterable<string>, name: string): Promise<DetectedInput | undefined> {
  const it = chunks[Symbol.asyncIterator]();
  let head = "";
  let format: InputFormat | undefined;
  for (;;) {
    format = detectFormat(head, name);
    if (format !== undefined) break;
    const next = await it.next();
    if (next.done) {
      format = detectFormat(head, name, true);
      break;
    }
    head += next.value;
    if (head.length > MAX_LINE_CHARS && head.indexOf("\n") < 0) throw inputError(name, 1, `line is longer than ${MAX_LINE_CHARS} characters: expected text lines`);
  }
  return format === undefined ? undefined : { format, text: prepend(head, it) };
}

/** The format from the first line that is not blank or a comment; undefined while that line is incomplete. */
function detectFormat(text: string, name: string, atEnd = false): InputFormat | undefined {
  let pos = text.charCodeAt(0) === BOM ? 1 : 0;
  let line = 1;
  for (;;) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0 && !atEnd) return undefined;
    const end = nl < 0 ? text.length : nl;
    const content = text.slice(pos, end).trim();
    if (content !== "" && !content.startsWith("#")) {
      if (isCsvHeader(content)) return "csv";
      const lp = parseLineProtocol(`${content}\n`, { precision: "ns", defaultTimeMs: 0 });
      if (lp.errors.length === 0) return "line-protocol";
      // Without a space it cannot be line protocol; with one, the parser's reason helps.
      const why = content.includes(" ") ? ` (as line protocol: ${lp.errors[0]?.message ?? "invalid"})` : "";
      throw inputError(name, line, `expected the CSV header "${CSV_HEADER}" or InfluxDB line protocol, got ${quote(content)}${why}`);
    }
    if (nl < 0) return undefined; // empty input
    pos = nl + 1;
    line++;
  }
}

function isCsvHeader(line: string): boolean {
  return line.replace(/"/g, "").replace(/\s+/g, "").toLowerCase() === CSV_HEADER;
}

async function* prepend(head: string, it: AsyncIterator<string>): AsyncGenerator<string> {
  if (head !== "") yield head;
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    yield next.value;
  }
}

/** Splits chunks into runs of whole lines: yields [text, firstLineNumber] with text ending at a newline (or the input's end). */
async function* wholeLines(chunks: AsyncIterable<string>, name: string): AsyncGenerator<[string, number]> {
  let carry = "";
  let line = 1;
  for await (const chunk of chunks) {
    const text = carry + chunk;
    const lastNl = text.lastIndexOf("\n");
    if (lastNl < 0) {
      if (text.length > MAX_LINE_CHARS) throw inputError(name, line, `line is longer than ${MAX_LINE_CHARS} characters: expected text lines`);
      carry = text;
      continue;
    }
    const run = text.slice(0, lastNl + 1);
    carry = text.slice(lastNl + 1);
    yield [run, line];
    line += countNewlines(run);
  }
  if (carry !== "") yield [carry, line];
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// CSV

/** Parser state across chunks. */
interface CsvState {
  name: string;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  field: string;
  /** Whether the header line has been read. */
  headerSeen: boolean;
  /** Epoch unit fixed by `--precision` or by the first epoch row, and that row's line. */
  epochUnit: EpochPrecision | undefined;
  epochUnitLine: number;
  forced: boolean;
  /** Rows of the current chunk; grown as needed, copied out per batch. */
  timesMs: Float64Array;
  values: Float64Array;
  rows: number;
}

/** The `heads` and `fieldNames` tables of a CSV's batches: one head, one field, shared by every batch. */
export interface CsvTables {
  heads: ColumnHead[];
  fieldNames: Array<readonly string[]>;
}

/** The tables for a CSV of `series`. */
export function csvTables(series: SeriesInfo): CsvTables {
  return { heads: [{ measurement: series.measurement, tags: Object.freeze({ ...series.tags }) }], fieldNames: [Object.freeze([series.field])] };
}

/** The series a CSV needs, or the error saying to name it. */
export function csvSeries(opts: ReadOptions): SeriesInfo {
  if (opts.series !== undefined) return opts.series;
  throw new AnsaiError(
    ErrorCodes.BACKTEST_INVALID,
    `${opts.name} is CSV, which holds one series without its name`,
    'Add --series naming it, e.g. --series "disk,host=h1,path=/data used_percent" or "procstat,host=h1,process_name=worker memory_rss".',
  );
}

/**
 * The batches of a CSV's text (from its start, header included; see `detectInput`), one per
 * run of whole lines.
 */
export async function* readCsvBatches(chunks: AsyncIterable<string>, opts: ReadOptions): AsyncGenerator<PointColumns> {
  const series = csvSeries(opts);
  const { heads, fieldNames } = csvTables(series);
  const state: CsvState = {
    name: opts.name,
    measurement: series.measurement,
    tags: Object.freeze({ ...series.tags }),
    field: series.field,
    headerSeen: false,
    epochUnit: opts.precision,
    epochUnitLine: 0,
    forced: opts.precision !== undefined,
    timesMs: new Float64Array(1024),
    values: new Float64Array(1024),
    rows: 0,
  };
  for await (const [text, firstLine] of wholeLines(chunks, opts.name)) {
    parseCsvRows(text, firstLine, state);
    const count = state.rows;
    if (count === 0) continue;
    const values = state.values.slice(0, count);
    // One head and one shape: all ids are 0.
    const ids = new Int32Array(count);
    yield { count, heads, fieldNames, headIds: ids, shapeIds: ids, timesMs: state.timesMs.slice(0, count), values, others: [] };
  }
}

/** Parses whole CSV lines into the state's columns (from row 0); throws on the first bad row. */
function parseCsvRows(text: string, firstLine: number, state: CsvState): void {
  state.rows = 0;
  const n = text.length;
  let line = firstLine;
  let pos = firstLine === 1 && text.charCodeAt(0) === BOM ? 1 : 0;
  while (pos < n) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = n;
    const next = end + 1;
    let stop = end;
    if (stop > pos && text.charCodeAt(stop - 1) === CR) stop--;
    readRow(text, pos, stop, line, state);
    pos = next;
    line++;
  }
}

/** Reads one line into the state's columns (nothing for a blank line or the header). */
function readRow(text: string, start: number, stop: number, line: number, state: CsvState): void {
  let a = start;
  let b = stop;
  while (a < b && isBlank(text.charCodeAt(a))) a++;
  while (b > a && isBlank(text.charCodeAt(b - 1))) b--;
  if (a === b) return; // blank line
  if (!state.headerSeen) {
    // The header is the first line neither blank nor a comment; detection already checked it.
    if (text.charCodeAt(a) !== HASH) state.headerSeen = true;
    return;
  }
  const comma = text.indexOf(",", a);
  if (comma < 0 || comma >= b) throw inputError(state.name, line, `expected 2 columns "${CSV_HEADER}", got 1: ${quote(text.slice(a, b))}`);
  const comma2 = text.indexOf(",", comma + 1);
  if (comma2 >= 0 && comma2 < b) {
    const cols = text.slice(a, b).split(",").length;
    throw inputError(state.name, line, `expected 2 columns "${CSV_HEADER}", got ${cols}: ${quote(text.slice(a, b))}`);
  }
  // Plain index arithmetic, no tuples: this runs once per row. Each column is trimmed, then unquoted.
  let ta = a;
  let tb = comma;
  while (tb > ta && isBlank(text.charCodeAt(tb - 1))) tb--;
  if (tb - ta >= 2 && text.charCodeAt(ta) === QUOTE && text.charCodeAt(tb - 1) === QUOTE) {
    ta++;
    tb--;
    while (ta < tb && isBlank(text.charCodeAt(ta))) ta++;
    while (tb > ta && isBlank(text.charCodeAt(tb - 1))) tb--;
  }
  let va = comma + 1;
  let vb = b;
  while (va < vb && isBlank(text.charCodeAt(va))) va++;
  if (vb - va >= 2 && text.charCodeAt(va) === QUOTE && text.charCodeAt(vb - 1) === QUOTE) {
    va++;
    vb--;
    while (va < vb && isBlank(text.charCodeAt(va))) va++;
    while (vb > va && isBlank(text.charCodeAt(vb - 1))) vb--;
  }
  const timeMs = readTimestamp(text, ta, tb, line, state);
  const value = readValue(text, va, vb);
  if (value === undefined) throw inputError(state.name, line, `expected a number as the value, got ${quote(text.slice(va, vb))}`);
  const row = state.rows;
  if (row === state.timesMs.length) {
    state.timesMs = grow(state.timesMs);
    state.values = grow(state.values);
  }
  state.timesMs[row] = timeMs;
  state.values[row] = value;
  state.rows = row + 1;
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

function isBlank(ch: number): boolean {
  return ch === SPACE || ch === TAB;
}

function isDigit(ch: number): boolean {
  return ch >= ZERO && ch <= NINE;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A decimal number, or undefined. Short plain decimals are parsed in place; the rest by Number(). */
function readValue(text: string, a: number, b: number): number | undefined {
  let p = a;
  const sign = text.charCodeAt(p);
  const negative = sign === MINUS;
  if (negative || sign === PLUS) p++;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let ch = text.charCodeAt(p);
  for (; p < b && isDigit(ch); ch = text.charCodeAt(++p)) {
    mantissa = mantissa * 10 + (ch - ZERO);
    digits++;
  }
  if (p < b && ch === DOT) {
    for (ch = text.charCodeAt(++p); p < b && isDigit(ch); ch = text.charCodeAt(++p)) {
      mantissa = mantissa * 10 + (ch - ZERO);
      digits++;
      fraction++;
    }
  }
  if (p === b && digits > 0 && digits <= 15) {
    const abs = fraction === 0 ? mantissa : mantissa / (POW10[fraction] as number);
    return negative ? -abs : abs;
  }
  const s = text.slice(a, b);
  if (!NUMBER_RE.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

const TIMESTAMP_EXPECTED = 'expected a timestamp (epoch seconds or milliseconds, RFC 3339 such as 2024-05-01T12:00:00Z, or "YYYY-MM-DD HH:MM:SS" in UTC)';

function readTimestamp(text: string, a: number, b: number, line: number, state: CsvState): number {
  if (a < b && isDigit(text.charCodeAt(a)) && (b - a < 5 || text.charCodeAt(a + 4) !== MINUS)) return readEpoch(text, a, b, line, state);
  const ms = readDateTime(text, a, b);
  if (typeof ms === "number") return ms;
  throw inputError(state.name, line, `${ms ?? TIMESTAMP_EXPECTED}, got ${quote(text.slice(a, b))}`);
}

/** An epoch number (digits, optional fraction) in the file's unit, floored to ms. */
function readEpoch(text: string, a: number, b: number, line: number, state: CsvState): number {
  let p = a;
  while (p < b - 1 && text.charCodeAt(p) === ZERO && isDigit(text.charCodeAt(p + 1))) p++;
  const intStart = p;
  // The integer's value as it is scanned (exact up to 15 digits): epoch ms need no second pass.
  let whole = 0;
  for (let ch = text.charCodeAt(p); p < b && isDigit(ch); ch = text.charCodeAt(++p)) whole = whole * 10 + (ch - ZERO);
  const intEnd = p;
  let fracEnd = p;
  if (p < b && text.charCodeAt(p) === DOT) {
    p++;
    while (p < b && isDigit(text.charCodeAt(p))) p++;
    fracEnd = p;
  }
  if (p !== b) throw inputError(state.name, line, `${TIMESTAMP_EXPECTED}, got ${quote(text.slice(a, b))}`);
  const intDigits = intEnd - intStart;
  const unit = unitOfDigits(intDigits);
  if (state.epochUnit === undefined) {
    state.epochUnit = unit;
    state.epochUnitLine = line;
  } else if (!state.forced && unit !== state.epochUnit) {
    throw inputError(
      state.name,
      line,
      `timestamp ${text.slice(a, b)} looks like epoch ${DIGITS_PER_UNIT[unit]} but line ${state.epochUnitLine} was epoch ${DIGITS_PER_UNIT[state.epochUnit]}; use one unit, or name it with --precision`,
    );
  }
  // Whole ms as epochMs computes them (the same digits, the same operations), without reading them again.
  const ms = state.epochUnit === "ms" && fracEnd === intEnd && intDigits <= 15 ? (Number.isSafeInteger(whole) ? whole : undefined) : epochMs(text, intStart, intEnd, fracEnd, state.epochUnit);
  if (ms === undefined) throw inputError(state.name, line, `timestamp ${text.slice(a, b)} is out of range`);
  return ms;
}

/** Digits of the integer part → unit: ≤11 s, 12–14 ms, 15–17 us, ≥18 ns. */
function unitOfDigits(digits: number): EpochPrecision {
  if (digits <= 11) return "s";
  if (digits <= 14) return "ms";
  if (digits <= 17) return "us";
  return "ns";
}

const UNIT_SHIFT: Readonly<Record<EpochPrecision, number>> = { s: -3, ms: 0, us: 3, ns: 6 };

/** Integer digits [intStart, intEnd) and fraction digits (after the dot, up to fracEnd) → whole ms, floored. */
function epochMs(text: string, intStart: number, intEnd: number, fracEnd: number, unit: EpochPrecision): number | undefined {
  const shift = UNIT_SHIFT[unit];
  // Digits kept as the whole-ms part: drop `shift` trailing integer digits, or borrow -shift fraction digits.
  const headEnd = Math.max(intStart, intEnd - Math.max(0, shift));
  if (headEnd - intStart > 15) return undefined;
  let ms = 0;
  for (let p = intStart; p < headEnd; p++) ms = ms * 10 + (text.charCodeAt(p) - ZERO);
  for (let k = 0; k < -shift; k++) {
    const p = intEnd + 1 + k;
    ms = ms * 10 + (p < fracEnd ? text.charCodeAt(p) - ZERO : 0);
  }
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * `YYYY-MM-DD[T| ]HH:MM:SS[.fff][Z|±HH:MM|±HHMM]` → ms, or a message saying what is wrong
 * (undefined: not a date at all).
 */
export function readDateTime(text: string, a: number, b: number): number | string | undefined {
  const num = (p: number, len: number): number => {
    let v = 0;
    for (let i = 0; i < len; i++) {
      const ch = text.charCodeAt(p + i);
      if (p + i >= b || !isDigit(ch)) return -1;
      v = v * 10 + (ch - ZERO);
    }
    return v;
  };
  const year = num(a, 4);
  const month = num(a + 5, 2);
  const day = num(a + 8, 2);
  const sep = text.charCodeAt(a + 10);
  const hour = num(a + 11, 2);
  const minute = num(a + 14, 2);
  const second = num(a + 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  if (text.charCodeAt(a + 4) !== MINUS || text.charCodeAt(a + 7) !== MINUS) return undefined;
  if (!(sep === UPPER_T || sep === LOWER_T || sep === SPACE)) return undefined;
  if (text.charCodeAt(a + 13) !== COLON || text.charCodeAt(a + 16) !== COLON) return undefined;
  let p = a + 19;
  let millis = 0;
  if (p < b && text.charCodeAt(p) === DOT) {
    p++;
    const fracStart = p;
    while (p < b && isDigit(text.charCodeAt(p))) {
      if (p - fracStart < 3) millis = millis * 10 + (text.charCodeAt(p) - ZERO);
      p++;
    }
    if (p === fracStart) return undefined;
    for (let k = p - fracStart; k < 3; k++) millis *= 10;
  }
  let offsetMin = 0;
  if (p < b) {
    const z = text.charCodeAt(p);
    if (z === UPPER_Z || z === LOWER_Z) p++;
    else if (z === PLUS || z === MINUS) {
      const oh = num(p + 1, 2);
      const colon = text.charCodeAt(p + 3) === COLON ? 1 : 0;
      const om = num(p + 3 + colon, 2);
      if (oh < 0 || om < 0) return undefined;
      if (oh > 23 || om > 59) return "expected a UTC offset within ±23:59";
      offsetMin = (z === MINUS ? -1 : 1) * (oh * 60 + om);
      p += 5 + colon;
    }
    if (p !== b) return undefined;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return "expected a valid calendar date";
  if (hour > 23 || minute > 59 || second > 60) return "expected a valid time of day";
  const days = daysFromCivil(year, month, day);
  return (((days * 24 + hour) * 60 + minute - offsetMin) * 60 + second) * 1000 + millis;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

// ---------------------------------------------------------------------------------------------
// Line protocol

async function* readLineProtocol(chunks: AsyncIterable<string>, opts: ReadOptions): AsyncGenerator<Point[]> {
  const precision = opts.precision ?? "ns";
  const keep = opts.series ? seriesFilter(opts.series) : undefined;
  for await (const [text, firstLine] of wholeLines(chunks, opts.name)) {
    // NaN marks a line without a timestamp: a replay needs every sample's own time.
    const { points, errors } = parseLineProtocol(text, { precision, defaultTimeMs: NaN });
    if (errors.length > 0) throw lineProtocolError(opts.name, firstLine, errors[0] as LineError);
    if (points.some((p) => Number.isNaN(p.timeMs))) {
      throw inputError(opts.name, firstLine - 1 + lineWithoutTimestamp(text, precision), "missing timestamp: a backtest replays every sample at its own time");
    }
    const kept = keep ? points.filter(keep) : points;
    if (kept.length > 0) yield kept;
  }
}

function lineProtocolError(name: string, firstLine: number, e: LineError): AnsaiError {
  return new AnsaiError(
    ErrorCodes.BACKTEST_INVALID,
    `${name}:${firstLine - 1 + e.line}:${e.column}: invalid line protocol: ${e.message}: ${quote(e.text)}`,
    INPUT_HINT,
  );
}

/** 1-based line (within `text`) of the first point without a timestamp; error path only. */
function lineWithoutTimestamp(text: string, precision: EpochPrecision): number {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const { points } = parseLineProtocol(`${lines[i]}\n`, { precision, defaultTimeMs: NaN });
    if (points.some((p) => Number.isNaN(p.timeMs))) return i + 1;
  }
  return 1;
}

/** Keeps the points of one measurement and tag set (all their fields, so a threshold field still arrives). */
function seriesFilter(series: SeriesInfo): (p: Point) => boolean {
  const wantKeys = Object.keys(series.tags);
  const known = new WeakMap<object, boolean>();
  return (p) => {
    if (p.measurement !== series.measurement) return false;
    let hit = known.get(p.tags);
    if (hit === undefined) {
      const keys = Object.keys(p.tags);
      hit = keys.length === wantKeys.length && wantKeys.every((k) => p.tags[k] === series.tags[k]);
      known.set(p.tags, hit);
    }
    return hit;
  };
}

// Exported for tests: one CSV line's timestamp with a fresh state.
export function parseCsvTimestamp(text: string, precision?: EpochPrecision): number {
  const state: CsvState = {
    name: "input",
    measurement: "",
    tags: {},
    field: "",
    headerSeen: true,
    epochUnit: precision,
    epochUnitLine: 0,
    forced: precision !== undefined,
    timesMs: new Float64Array(1),
    values: new Float64Array(1),
    rows: 0,
  };
  return readTimestamp(text, 0, text.length, 1, state);
}

// Kept beside the readers so the CLI and tests name precisions the same way.
export const EPOCH_PRECISIONS: readonly EpochPrecision[] = ["ns", "us", "ms", "s"];

/** Text chunks of a string, for tests and small inputs. */
export async function* stringChunks(text: string, chunkChars = 1 << 16): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += chunkChars) yield text.slice(i, i + chunkChars);
}
