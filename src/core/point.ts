/** A field value as InfluxDB knows it; the analyzer and the store only keep numbers. */
export type FieldValue = number | string | boolean;

/** One observation, shaped like an InfluxDB point. */
export interface Point {
  measurement: string;
  /** Tag key → value; identity of the series. */
  tags: Readonly<Record<string, string>>;
  /** Field key → value; one series per numeric field. */
  fields: Readonly<Record<string, FieldValue>>;
  /** Unix time in milliseconds. */
  timeMs: number;
}

/** A numeric series as the store and API describe it. */
export interface SeriesInfo {
  /** Line-protocol style key, e.g. `disk,host=web-01,path=/var used_percent`. */
  key: string;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  field: string;
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 keeps a slice of a
 * longer string as a view that holds the whole original (a request body) alive; anything kept
 * for long (caches, series catalogues) should keep a copy instead.
 */
export function ownString(s: string): string {
  return Buffer.from(s, "utf16le").toString("utf16le");
}

const escapeMeasurement = (s: string): string => s.replace(/[\\, ]/g, (c) => `\\${c}`);
const escapeTag = (s: string): string => s.replace(/[\\,= ]/g, (c) => `\\${c}`);

/** Builds the canonical series key: measurement, tags sorted by key, then the field. */
export function seriesKey(measurement: string, tags: Readonly<Record<string, string>>, field: string): string {
  let key = escapeMeasurement(measurement);
  for (const k of Object.keys(tags).sort()) {
    key += `,${escapeTag(k)}=${escapeTag(tags[k] ?? "")}`;
  }
  return `${key} ${escapeTag(field)}`;
}

/** Finds the first `sep` not escaped by a backslash, or -1. */
function indexUnescaped(s: string, sep: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === sep) return i;
  }
  return -1;
}

/** Splits on commas not escaped by a backslash, keeping the escapes (so `=` can still be found). */
function splitOnUnescapedComma(s: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === ",") {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

const unescape = (s: string): string => s.replace(/\\(.)/g, "$1");

/** Parses a key made by {@link seriesKey}; returns undefined when it is not one. */
export function parseSeriesKey(key: string): SeriesInfo | undefined {
  const space = indexUnescaped(key, " ");
  if (space <= 0 || space === key.length - 1) return undefined;
  const [measurement, ...pairs] = splitOnUnescapedComma(key.slice(0, space));
  if (measurement === undefined || measurement === "") return undefined;
  const entries: Array<[string, string]> = [];
  for (const pair of pairs) {
    const eq = indexUnescaped(pair, "=");
    if (eq <= 0) return undefined;
    entries.push([unescape(pair.slice(0, eq)), unescape(pair.slice(eq + 1))]);
  }
  // fromEntries makes own properties, so a tag named "__proto__" stays a tag.
  const tags: Record<string, string> = Object.fromEntries(entries);
  const m = unescape(measurement);
  const field = unescape(key.slice(space + 1));
  return { key: seriesKey(m, tags, field), measurement: m, tags, field };
}
