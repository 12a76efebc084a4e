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

/** Splits `s` on `sep` where `sep` is not backslash-escaped, and unescapes the parts. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length) {
      cur += s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/** Finds the first `sep` not escaped by a backslash, or -1. */
function indexUnescaped(s: string, sep: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === sep) return i;
  }
  return -1;
}

/** Parses a key made by {@link seriesKey}; returns undefined when it is not one. */
export function parseSeriesKey(key: string): SeriesInfo | undefined {
  const space = indexUnescaped(key, " ");
  if (space <= 0 || space === key.length - 1) return undefined;
  const head = key.slice(0, space);
  const field = splitUnescaped(key.slice(space + 1), "\u0000")[0] ?? "";
  const [measurement, ...pairs] = splitRawOnUnescapedComma(head);
  if (measurement === undefined || measurement === "") return undefined;
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = indexUnescaped(pair, "=");
    if (eq <= 0) return undefined;
    tags[unescape(pair.slice(0, eq))] = unescape(pair.slice(eq + 1));
  }
  const m = unescape(measurement);
  return { key: seriesKey(m, tags, field), measurement: m, tags, field };
}

function unescape(s: string): string {
  return splitUnescaped(s, "\u0000")[0] ?? "";
}

/** Like splitUnescaped on "," but keeps escapes so `=` inside tags can still be found. */
function splitRawOnUnescapedComma(s: string): string[] {
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
