import type { Aggregate } from "../core/contracts.js";

// InfluxQL text built from values that may come from anywhere (tag values, series keys): every
// identifier, string and regex is quoted here, so no value can change the shape of a query.

/** Escapes `s` for InfluxQL's quoted scanner: backslash, the quote, and newline (raw newlines end a string). */
function escapeQuoted(s: string, quote: '"' | "'"): string {
  let out = "";
  for (const ch of s) {
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else out += ch;
  }
  return out;
}

/** A double-quoted identifier (measurement, tag key, field key, retention policy). */
export function quoteIdent(name: string): string {
  return `"${escapeQuoted(name, '"')}"`;
}

/** A single-quoted string literal, e.g. a tag value. */
export function quoteString(value: string): string {
  return `'${escapeQuoted(value, "'")}'`;
}

/**
 * A `/regex/` literal matching what `source` matches as a Go regular expression. InfluxQL ends a
 * regex at the first unescaped `/` and turns only `\/` into `/`, so bare slashes get a backslash,
 * existing escapes pass through, and raw newlines become `\n`.
 */
export function quoteRegex(source: string): string {
  let out = "";
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\" && i + 1 < source.length) {
      out += `\\${source[i + 1] === "\n" ? "n" : source[i + 1]}`;
      i++;
    } else if (ch === "/") out += "\\/";
    else if (ch === "\n") out += "\\n";
    else out += ch;
  }
  return `/${out}/`;
}

/** `"rp"."m"` or `"m"`. */
export function quoteSource(measurement: string, retentionPolicy?: string): string {
  return retentionPolicy ? `${quoteIdent(retentionPolicy)}.${quoteIdent(measurement)}` : quoteIdent(measurement);
}

/** `"k" = 'v' AND ...` in key order, or "" for no tags. */
export function tagConditions(tags: Readonly<Record<string, string>>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${quoteIdent(k)} = ${quoteString(tags[k] ?? "")}`)
    .join(" AND ");
}

export interface SelectSpec {
  measurement: string;
  field: string;
  tags: Readonly<Record<string, string>>;
  retentionPolicy?: string;
  aggregate: Aggregate;
  startMs: number;
  endMs: number;
  stepMs: number;
}

/**
 * One series aggregated per step bucket over [startMs, endMs), buckets aligned to the epoch like
 * the embedded store's. The tag conditions also match series with more tags, so the result is
 * grouped by every tag (`GROUP BY *`) and the caller keeps the group whose tag set is exactly the
 * series' (see {@link isExactTagSet}).
 */
export function selectQuery(s: SelectSpec): string {
  const conditions = [tagConditions(s.tags), `time >= ${Math.trunc(s.startMs)}ms`, `time < ${Math.trunc(s.endMs)}ms`].filter(Boolean);
  const step = Math.max(1, Math.trunc(s.stepMs));
  return `SELECT ${s.aggregate}(${quoteIdent(s.field)}) FROM ${quoteSource(s.measurement, s.retentionPolicy)} WHERE ${conditions.join(" AND ")} GROUP BY time(${step}ms), * fill(none)`;
}

/** Whether a `GROUP BY *` group (every tag key of the measurement, "" where absent) is exactly `tags`. */
export function isExactTagSet(group: Readonly<Record<string, string>>, tags: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(group)) if ((Object.hasOwn(tags, k) ? tags[k] : "") !== v) return false;
  for (const k of Object.keys(tags)) if (!Object.hasOwn(group, k) && tags[k] !== "") return false;
  return true;
}

/** `SHOW SERIES` and `SHOW FIELD KEYS` in one request, optionally narrowed to a measurement and exact tags, and limited to `limit` series. */
export function listSeriesQuery(measurement: string | undefined, tags: Readonly<Record<string, string>>, limit?: number): string {
  const from = measurement === undefined ? "" : ` FROM ${quoteIdent(measurement)}`;
  const where = tagConditions(tags);
  const limitClause = limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.trunc(limit))}`;
  return `SHOW SERIES${from}${where ? ` WHERE ${where}` : ""}${limitClause}; SHOW FIELD KEYS${from}`;
}

/** Unescapes what InfluxDB escapes in a series key; other backslashes are literal, as InfluxDB stores them. */
function unescapeKeyPart(s: string): string {
  return s.replace(/\\([, =])/g, "$1");
}

/** Splits `s` at each `sep` not escaped by a backslash. */
function splitUnescaped(s: string, sep: string, max = Infinity): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length && parts.length < max - 1; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === sep) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** Parses a key of `SHOW SERIES` (`m,k=v,...`); undefined when it is not one. */
export function parseShowSeriesKey(key: string): { measurement: string; tags: Record<string, string> } | undefined {
  const [measurement, ...pairs] = splitUnescaped(key, ",");
  if (!measurement) return undefined;
  const entries: Array<[string, string]> = [];
  for (const pair of pairs) {
    const kv = splitUnescaped(pair, "=", 2);
    if (kv.length !== 2 || !kv[0]) return undefined;
    entries.push([unescapeKeyPart(kv[0]), unescapeKeyPart(kv[1] ?? "")]);
  }
  // fromEntries makes own properties, so a tag named "__proto__" stays a tag.
  return { measurement: unescapeKeyPart(measurement), tags: Object.fromEntries(entries) };
}

/** One series of an InfluxQL result. */
export interface InfluxqlSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

export interface InfluxqlStatementResult {
  statement_id?: number;
  series?: InfluxqlSeries[];
  error?: string;
}

/** The body of `GET /query`. */
export interface InfluxqlResponse {
  results?: InfluxqlStatementResult[];
  error?: string;
}

/** Field types that hold numbers (what the analyzer can use). */
export const NUMERIC_FIELD_TYPES: ReadonlySet<string> = new Set(["float", "integer", "unsigned"]);
