// Time values as InfluxDB 1.x prints them: RFC 3339 with trimmed nanoseconds, or integers in the `epoch` unit.

export const NS_PER_MS = 1_000_000n;

/** Nanoseconds per unit of the `epoch` query parameter; anything else is nanoseconds, as in InfluxDB. */
const EPOCH_NS: Readonly<Record<string, bigint>> = { ns: 1n, n: 1n, u: 1000n, µ: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** How times are written: an RFC 3339 string (no `epoch`), or an integer count of this many ns. */
export type TimeFormat = { kind: "rfc3339" } | { kind: "epoch"; unitNs: bigint };

export function timeFormat(epoch: string | undefined): TimeFormat {
  if (epoch === undefined || epoch === "") return { kind: "rfc3339" };
  return { kind: "epoch", unitNs: EPOCH_NS[epoch] ?? 1n };
}

/** Go's integer division truncates toward zero, and so does InfluxDB's epoch conversion. */
export function formatTime(ns: bigint, format: TimeFormat): bigint | string {
  return format.kind === "epoch" ? ns / format.unitNs : formatRfc3339Nano(ns);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** Go's time.RFC3339Nano in UTC: fraction digits trimmed of trailing zeros, none when zero. */
export function formatRfc3339Nano(ns: bigint): string {
  let ms = ns / NS_PER_MS;
  let subMsNs = ns % NS_PER_MS;
  if (subMsNs < 0n) {
    subMsNs += NS_PER_MS;
    ms -= 1n;
  }
  const d = new Date(Number(ms));
  const year = d.getUTCFullYear();
  const date = `${year < 0 ? "-" : ""}${pad(Math.abs(year), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const fraction = `${pad(d.getUTCMilliseconds(), 3)}${pad(Number(subMsNs), 6)}`.replace(/0+$/, "");
  return `${date}T${clock}${fraction === "" ? "" : `.${fraction}`}Z`;
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Parses the time strings InfluxQL accepts in WHERE (RFC 3339, `2006-01-02 15:04:05.999`, `2006-01-02`) into ns. */
export function parseTimeString(text: string): bigint | undefined {
  const m = TIME_RE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (!Number.isFinite(ms)) return undefined;
  let offsetMs = 0;
  if (zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    offsetMs = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return BigInt(ms - offsetMs) * NS_PER_MS + BigInt(frac.padEnd(9, "0"));
}

/** JSON.stringify that writes bigints as plain integers (epoch=ns times do not fit a double). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `\u0000${v.toString()}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, "$1");
}
