const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/** A whole duration text: one or more number-unit parts, e.g. "1h30m". Also exported in the config's JSON Schema. */
export const DURATION_PATTERN = /^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/;

/** Parses "500ms", "15s", "5m", "4h", "14d", "1w", or a sum such as "1h30m"; returns undefined if malformed. */
export function parseDurationMs(text: string): number | undefined {
  const parts = text.trim().match(/\d+(?:\.\d+)?(?:ms|s|m|h|d|w)/g);
  if (!parts || parts.join("") !== text.trim()) return undefined;
  let total = 0;
  for (const part of parts) {
    const m = DURATION_RE.exec(part);
    if (!m) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Formats a duration for people: "3 h 10 m", "45 s", "9 d 4 h". Two units at most. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.round(Math.abs(ms) / 1000);
  if (rest < 60) return `${sign}${rest} s`;
  const units: Array<[string, number]> = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const out: string[] = [];
  for (const [name, size] of units) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      out.push(`${n} ${name}`);
    } else if (out.length > 0) {
      out.push("");
    }
    if (out.length === 2) break;
  }
  return sign + out.filter((s) => s !== "").join(" ");
}
