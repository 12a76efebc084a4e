// Parser for the Prometheus text exposition format 0.0.4 and the common subset of the
// OpenMetrics text format. One pass over the text with index arithmetic: no regex per line,
// no array of lines. A malformed line is recorded and skipped; the parser never throws.

/** Metric family types of 0.0.4 and OpenMetrics; anything undeclared is "untyped". */
export type MetricType =
  | "counter"
  | "gauge"
  | "histogram"
  | "summary"
  | "untyped"
  | "unknown"
  | "info"
  | "stateset"
  | "gaugehistogram";

const TYPES: ReadonlySet<string> = new Set<MetricType>([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
  "unknown",
  "info",
  "stateset",
  "gaugehistogram",
]);

/** One sample line. Histogram and summary series keep their own names (`x_bucket`, `x_sum`, `x_count`). */
export interface Sample {
  /** Sample name as written, e.g. `http_requests_total` or `rpc_seconds_bucket`. */
  name: string;
  /** Label name → unescaped value (`le` and `quantile` included). */
  labels: Record<string, string>;
  /** May be NaN or ±Infinity. */
  value: number;
  /** Timestamp of the sample in Unix milliseconds, when the exposition gave one. */
  timestampMs?: number;
  /** Type declared by `# TYPE` for the sample's family, else "untyped". */
  type: MetricType;
}

/** A line the parser skipped. */
export interface ParseIssue {
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface ParseResult {
  samples: Sample[];
  /** Family name → HELP text (unescaped). */
  help: Map<string, string>;
  /** Family name → declared TYPE. */
  types: Map<string, MetricType>;
  errors: ParseIssue[];
}

export interface ParseOptions {
  /**
   * Unit of sample timestamps: "ms" for 0.0.4 (integers), "s" for OpenMetrics (may be fractional).
   * Default "ms".
   */
  timestampUnit?: "ms" | "s";
}

/** Suffixes by which a sample name refers to its family (histograms, summaries, OpenMetrics counters). */
const FAMILY_SUFFIXES = ["_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info"];

const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const EQUALS = 61;
const OPEN = 123;
const CLOSE = 125;
const HASH = 35;
const CR = 13;

/** Letters, `_`, `:` (metric names) and digits after the first character. */
function isNameStart(c: number, allowColon: boolean): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (allowColon && c === 58);
}

function isNameChar(c: number, allowColon: boolean): boolean {
  return isNameStart(c, allowColon) || (c >= 48 && c <= 57);
}

/** A failure inside one line; caught per line so one bad line never stops the rest. */
class LineError extends Error {}

/** Cursor over one line `[pos, end)` of the text. */
interface Cursor {
  text: string;
  pos: number;
  end: number;
}

/** The char code at the cursor, or -1 at the end of the line. */
function peek(c: Cursor): number {
  return c.pos < c.end ? c.text.charCodeAt(c.pos) : -1;
}

function skipBlanks(c: Cursor): void {
  while (c.pos < c.end) {
    const ch = c.text.charCodeAt(c.pos);
    if (ch !== SPACE && ch !== TAB) return;
    c.pos++;
  }
}

function readName(c: Cursor, allowColon: boolean, what: string): string {
  const start = c.pos;
  if (c.pos >= c.end || !isNameStart(c.text.charCodeAt(c.pos), allowColon)) throw new LineError(`expected a ${what}`);
  c.pos++;
  while (c.pos < c.end && isNameChar(c.text.charCodeAt(c.pos), allowColon)) c.pos++;
  return c.text.slice(start, c.pos);
}

/** Reads a quoted label value; the cursor is on the opening quote. Unknown escapes stay as written, as Prometheus does. */
function readQuoted(c: Cursor): string {
  c.pos++;
  let out = "";
  let chunk = c.pos;
  while (c.pos < c.end) {
    const ch = c.text.charCodeAt(c.pos);
    if (ch === QUOTE) {
      out += c.text.slice(chunk, c.pos);
      c.pos++;
      return out;
    }
    if (ch === BACKSLASH) {
      out += c.text.slice(chunk, c.pos);
      const next = c.text.charCodeAt(c.pos + 1);
      if (c.pos + 1 >= c.end) throw new LineError("unterminated label value");
      if (next === 110) out += "\n";
      else if (next === BACKSLASH || next === QUOTE) out += String.fromCharCode(next);
      else out += c.text.slice(c.pos, c.pos + 2);
      c.pos += 2;
      chunk = c.pos;
      continue;
    }
    c.pos++;
  }
  throw new LineError("unterminated label value");
}

/** Reads `{name="value",...}`; the cursor is on `{`. A trailing comma is allowed. */
function readLabels(c: Cursor): Record<string, string> {
  // No prototype: a label named `__proto__` is data, not a prototype change.
  const labels = Object.create(null) as Record<string, string>;
  c.pos++;
  for (;;) {
    skipBlanks(c);
    if (c.pos >= c.end) throw new LineError("unterminated label set");
    if (peek(c) === CLOSE) {
      c.pos++;
      return labels;
    }
    const name = readName(c, false, "label name");
    skipBlanks(c);
    if (peek(c) !== EQUALS) throw new LineError(`expected "=" after label ${name}`);
    c.pos++;
    skipBlanks(c);
    if (peek(c) !== QUOTE) throw new LineError(`expected a quoted value for label ${name}`);
    if (Object.hasOwn(labels, name)) throw new LineError(`label ${name} appears twice`);
    labels[name] = readQuoted(c);
    skipBlanks(c);
    const ch = peek(c);
    if (ch === COMMA) c.pos++;
    else if (ch !== CLOSE) throw new LineError("expected \",\" or \"}\" in the label set");
  }
}

/** The next blank-separated token, or "" at the end of the line. */
function readToken(c: Cursor): string {
  skipBlanks(c);
  const start = c.pos;
  while (c.pos < c.end) {
    const ch = c.text.charCodeAt(c.pos);
    if (ch === SPACE || ch === TAB) break;
    c.pos++;
  }
  return c.text.slice(start, c.pos);
}

/** Go's ParseFloat spellings of the specials (any case), then JavaScript's number grammar. */
export function parseValue(token: string): number | undefined {
  if (token === "") return undefined;
  const lower = token.toLowerCase();
  const unsigned = lower.startsWith("+") || lower.startsWith("-") ? lower.slice(1) : lower;
  if (unsigned === "inf" || unsigned === "infinity") return lower.startsWith("-") ? -Infinity : Infinity;
  if (lower === "nan") return Number.NaN;
  const v = Number(token);
  return Number.isNaN(v) ? undefined : v;
}

function familyType(name: string, types: ReadonlyMap<string, MetricType>): MetricType {
  const own = types.get(name);
  if (own !== undefined) return own;
  for (const suffix of FAMILY_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const t = types.get(name.slice(0, -suffix.length));
    if (t !== undefined) return t;
  }
  return "untyped";
}

function parseSample(c: Cursor, types: ReadonlyMap<string, MetricType>, unit: "ms" | "s"): Sample {
  const name = readName(c, true, "metric name");
  skipBlanks(c);
  const labels = peek(c) === OPEN ? readLabels(c) : (Object.create(null) as Record<string, string>);
  const valueToken = readToken(c);
  const value = parseValue(valueToken);
  if (value === undefined) throw new LineError(valueToken === "" ? "missing value" : `invalid value ${JSON.stringify(valueToken)}`);
  const sample: Sample = { name, labels, value, type: familyType(name, types) };
  const tsToken = readToken(c);
  // An OpenMetrics exemplar (` # {...} v ts`) may follow; it is ignored.
  if (tsToken === "" || tsToken === "#") return sample;
  const ts = Number(tsToken);
  if (!Number.isFinite(ts)) throw new LineError(`invalid timestamp ${JSON.stringify(tsToken)}`);
  sample.timestampMs = unit === "s" ? Math.round(ts * 1000) : Math.trunc(ts);
  const rest = readToken(c);
  if (rest !== "" && rest !== "#") throw new LineError(`unexpected ${JSON.stringify(rest)} after the timestamp`);
  return sample;
}

/** Unescapes HELP text: only `\\` and `\n` are escapes there. */
function unescapeHelp(s: string): string {
  if (!s.includes("\\")) return s;
  return s.replace(/\\([\\n])/g, (_m, ch: string) => (ch === "n" ? "\n" : "\\"));
}

/** `# HELP name text`, `# TYPE name type`; any other comment is ignored. Returns true on `# EOF`. */
function parseComment(c: Cursor, result: ParseResult): boolean {
  c.pos++;
  const keyword = readToken(c);
  if (keyword === "EOF") return true;
  if (keyword !== "HELP" && keyword !== "TYPE") return false;
  skipBlanks(c);
  const name = readName(c, true, "metric name");
  if (keyword === "HELP") {
    // One separator, then the rest of the line verbatim.
    const ch = peek(c);
    if (ch !== -1 && ch !== SPACE && ch !== TAB) throw new LineError("expected a blank after the metric name");
    result.help.set(name, unescapeHelp(c.text.slice(Math.min(c.pos + 1, c.end), c.end)));
    return false;
  }
  const type = readToken(c).toLowerCase();
  if (!TYPES.has(type)) throw new LineError(`unknown metric type ${JSON.stringify(type)}`);
  result.types.set(name, type as MetricType);
  return false;
}

/** Parses a whole exposition. Never throws; skipped lines are listed in `errors`. */
export function parsePrometheusText(text: string, options: ParseOptions = {}): ParseResult {
  const unit = options.timestampUnit ?? "ms";
  const result: ParseResult = { samples: [], help: new Map(), types: new Map(), errors: [] };
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    lineNo++;
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const next = end + 1;
    if (end > start && text.charCodeAt(end - 1) === CR) end--;
    const c: Cursor = { text, pos: start, end };
    skipBlanks(c);
    try {
      if (c.pos < c.end) {
        if (peek(c) === HASH) {
          if (parseComment(c, result)) break;
        } else {
          result.samples.push(parseSample(c, result.types, unit));
        }
      }
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      result.errors.push({ line: lineNo, message: err.message });
    }
    start = next;
  }
  return result;
}
