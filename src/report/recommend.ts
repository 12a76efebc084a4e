import { formatDuration } from "../core/duration.js";
import { formatValue } from "../core/format.js";
import type { Exhaustion, ItemStatus, ReportItem } from "./types.js";

const DAY_MS = 86_400_000;
/** Percent items running out within this are critical (a week: time to order disks). */
const CRITICAL_PERCENT_MS = 7 * DAY_MS;
/** Certificates: as the built-in cert_expiry_3d and cert_expiry_14d rules. */
const CRITICAL_CERT_MS = 3 * DAY_MS;
const WARNING_CERT_MS = 14 * DAY_MS;

/** "2026-12-14" in `timeZone`. */
export function formatDate(ms: number, timeZone: string): string {
  const parts = dateParts(ms, timeZone);
  return `${parts.year}-${parts.month}-${parts.day}`;
}

interface DateParts {
  year: string;
  month: string;
  monthName: string;
  day: string;
}

function dateParts(ms: number, timeZone: string): DateParts {
  const get = (opts: Intl.DateTimeFormatOptions, type: Intl.DateTimeFormatPartTypes): string =>
    new Intl.DateTimeFormat("en-GB", { timeZone, ...opts }).formatToParts(ms).find((p) => p.type === type)?.value ?? "";
  const numeric = { year: "numeric", month: "2-digit", day: "2-digit" } as const;
  return { year: get(numeric, "year"), month: get(numeric, "month"), day: get(numeric, "day"), monthName: get({ month: "short" }, "month") };
}

/** "12–19 Dec", "28 Nov – 3 Dec", "28 Dec 2026 – 3 Jan 2027", "12 Dec or later", "by 19 Dec". */
export function formatDateRange(lowMs: number | null, highMs: number | null, timeZone: string): string {
  const short = (p: DateParts, withYear: boolean): string => `${Number(p.day)} ${p.monthName}${withYear ? ` ${p.year}` : ""}`;
  if (lowMs === null && highMs === null) return "no bounds";
  if (highMs === null) return `${short(dateParts(lowMs!, timeZone), false)} or later`;
  if (lowMs === null) return `by ${short(dateParts(highMs, timeZone), false)}`;
  const a = dateParts(lowMs, timeZone);
  const b = dateParts(highMs, timeZone);
  if (a.year !== b.year) return `${short(a, true)} – ${short(b, true)}`;
  if (a.month !== b.month) return `${short(a, false)} – ${short(b, false)}`;
  if (a.day === b.day) return short(a, false);
  return `${Number(a.day)}–${Number(b.day)} ${a.monthName}`;
}

/** How urgent an item is; see {@link ItemStatus}. */
export function itemStatus(item: Pick<ReportItem, "kind" | "exhaustion" | "current">, nowMs: number, horizonMs: number): ItemStatus {
  if (item.current === null) return "unknown";
  const e = item.exhaustion;
  if (item.kind === "certificate") {
    const leftMs = (e?.atMs ?? Infinity) - nowMs;
    if (leftMs <= CRITICAL_CERT_MS) return "critical";
    if (leftMs <= WARNING_CERT_MS) return "warning";
    return leftMs <= horizonMs ? "watch" : "ok";
  }
  if (e === null) return "ok";
  if (e.atMs - nowMs <= CRITICAL_PERCENT_MS) return "critical";
  if (e.atMs - nowMs <= horizonMs) return "warning";
  return e.lowMs !== null && e.lowMs - nowMs <= horizonMs ? "watch" : "ok";
}

/** Context for a recommendation beyond the item: the fastest grower that explains it. */
export interface RecommendationHints {
  /** The fastest-growing directory under a disk's mount, e.g. "/var/log". */
  directory?: string;
  /** The fastest-growing process on the host, e.g. "java (pid 12) +120 MiB/day". */
  process?: string;
}

/** "+2", "−0.5", "±0" (below 0.005). */
export function signed(v: number): string {
  return Math.abs(v) < 0.005 ? "±0" : `${v > 0 ? "+" : "−"}${formatValue(Math.abs(v))}`;
}

/** One line saying what to do about an item, with the date and its range in `timeZone`. */
export function recommendation(item: ReportItem, nowMs: number, timeZone: string, hints: RecommendationHints = {}): string {
  if (item.kind === "certificate") return certRecommendation(item, nowMs, timeZone);
  if (item.current === null) return "no data in the history window: check that the collector runs";
  const e = item.exhaustion;
  const what = fixFor(item, hints);
  // A seasonal forecast's dates are when the busy hour gets there, not the daily average.
  if (item.model === "seasonal") what.outcome += " at the busy hour";
  if (item.status === "unknown" || item.growthPerDay === null) return `no forecast yet: too little history (${formatValue(item.current, "used_percent")} used now)`;
  if (e !== null && e.atMs <= nowMs) return `${what.now}: ${item.target} is at its limit now`;
  if (e !== null && (item.status === "critical" || item.status === "warning")) {
    return `${what.fix}: ${what.outcome} around ${formatDate(e.atMs, timeZone)} (${formatDateRange(e.lowMs, e.highMs, timeZone)})`;
  }
  if (item.status === "watch" && e?.lowMs != null) {
    return `watch ${item.target}: ${what.outcome} around ${formatDate(e.atMs, timeZone)} on the trend, from ${formatDate(e.lowMs, timeZone)} at the fastest plausible rate`;
  }
  const free = item.headroomAtHorizon === null ? "" : `; ${formatValue(Math.max(0, item.headroomAtHorizon))} points free at the horizon`;
  return `no action: ${formatValue(item.current, "used_percent")} used, ${signed(item.growthPerDay)} points a day${free}`;
}

function fixFor(item: ReportItem, hints: RecommendationHints): { fix: string; now: string; outcome: string } {
  switch (item.kind) {
    case "disk": {
      const clean = hints.directory ? `clean ${hints.directory}` : "free space";
      return { fix: `grow ${item.target} or ${clean}`, now: `free space on ${item.target} now (${clean.replace(/^free space$/, "delete old files")})`, outcome: "full" };
    }
    case "inodes":
      return { fix: `remove small files under ${item.target} or recreate it with more inodes`, now: `remove small files under ${item.target} now`, outcome: "out of inodes" };
    case "memory": {
      const grower = hints.process ? ` (fastest grower: ${hints.process})` : "";
      return { fix: `add memory or fix the grower${grower}`, now: `relieve memory now${grower}`, outcome: "full" };
    }
    default:
      return { fix: "add CPU or spread the load", now: "shed load now", outcome: "saturated" };
  }
}

function certRecommendation(item: ReportItem, nowMs: number, timeZone: string): string {
  const e = item.exhaustion;
  if (e === null || item.current === null) return "no data in the history window: check that the x509_cert collector runs";
  if (e.atMs <= nowMs) return `renew ${item.target} now: it expired on ${formatDate(e.atMs, timeZone)}`;
  const when = `expires ${formatDate(e.atMs, timeZone)}, in ${formatDuration(e.atMs - nowMs)}`;
  if (item.status === "ok") return `no action: ${when}`;
  return `renew ${item.target}: ${when}`;
}

/** An exhaustion record from model times (ms), or null when there is no ETA. */
export function exhaustion(etaMs: number | null, lowMs: number | null, highMs: number | null): Exhaustion | null {
  if (etaMs === null) return null;
  // Whole ms, so the ISO text and the number say the same instant.
  const round = (ms: number | null): number | null => (ms === null ? null : Math.round(ms));
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  const [at, low, high] = [Math.round(etaMs), round(lowMs), round(highMs)];
  return { atMs: at, at: new Date(at).toISOString(), lowMs: low, low: iso(low), highMs: high, high: iso(high) };
}
