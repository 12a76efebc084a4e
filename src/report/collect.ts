import type { Logger } from "pino";
import type { TrendForecast } from "../analyzer/models/linear-trend.js";
import type { Samples, Store } from "../core/contracts.js";
import { formatValue } from "../core/format.js";
import { seriesKey, type SeriesInfo } from "../core/point.js";
import { certForecast, fitCertificate, fitSeasonal, fitTrend, forecastBand, type SeasonalFit } from "./forecast.js";
import { exhaustion, itemStatus, recommendation, type RecommendationHints } from "./recommend.js";
import { REPORT_SCHEMA, type Grower, type HostReport, type ItemStatus, type Report, type ReportItem, type ResourceKind } from "./types.js";

const DAY_MS = 86_400_000;
/** Query buckets over the history: fine enough for the model's 64 buckets and for a chart. */
const HISTORY_BUCKETS = 512;
/** With fewer samples than this over the history (a young install), the data's own span is re-read finer. */
const DENSE_ENOUGH = 64;
/** Growers listed per kind and host. */
const TOP_GROWERS = 5;
/** A certificate not seen for this long is no longer presented (renewed or removed): left out. */
const CERT_STALE_MS = 2 * DAY_MS;
/** Exhaustion dates further than this many horizons away are not given (the models' bound reach). */
const ETA_REACH_HORIZONS = 10;
/** Host of series without a host tag. */
const NO_HOST = "(no host tag)";

export interface CollectOptions {
  store: Store;
  /** The report's "now" (ms): history ends here, forecasts start here. */
  nowMs: number;
  /** How far ahead to look (ms). */
  horizonMs: number;
  /** How much history to fit and show (ms). */
  historyMs: number;
  /** IANA zone for the dates in recommendations. */
  timezone: string;
  /** Report id; default made from `nowMs`. */
  id?: string;
  log?: Logger;
  /** Called after each series read, for progress bars. */
  onProgress?: (done: number, total: number, label: string) => void;
  signal?: AbortSignal;
}

/** A percent resource read from one field of one measurement (Telegraf names). */
interface PercentSource {
  kind: Exclude<ResourceKind, "certificate">;
  measurement: string;
  field: string;
  tags?: Record<string, string>;
  target: (tags: Readonly<Record<string, string>>) => string;
  /** Turns a stored value into percent used (CPU stores idle). */
  toPercent?: (v: number) => number;
  /** Load with a daily rhythm: forecast on the daily season once there is enough history. */
  seasonal?: boolean;
}

const PERCENT_SOURCES: readonly PercentSource[] = [
  { kind: "disk", measurement: "disk", field: "used_percent", target: (t) => t.path ?? "?" },
  { kind: "inodes", measurement: "disk", field: "inodes_used_percent", target: (t) => t.path ?? "?" },
  { kind: "memory", measurement: "mem", field: "used_percent", target: () => "memory", seasonal: true },
  { kind: "cpu", measurement: "cpu", field: "usage_idle", tags: { cpu: "cpu-total" }, target: () => "cpu", toPercent: (v) => 100 - v, seasonal: true },
];

interface GrowerSource {
  kind: Grower["kind"];
  measurement: string;
  field: string;
  name: (tags: Readonly<Record<string, string>>) => string;
}

const GROWER_SOURCES: readonly GrowerSource[] = [
  { kind: "mount", measurement: "disk", field: "used", name: (t) => t.path ?? "?" },
  { kind: "directory", measurement: "dir_size", field: "size_bytes", name: (t) => t.path ?? "?" },
  { kind: "process", measurement: "procstat", field: "memory_rss", name: (t) => `${t.process_name ?? t.exe ?? t.pattern ?? "?"}${t.pid ? ` (pid ${t.pid})` : ""}` },
];

/** "20260105T070000Z" from a time in ms. */
export function reportIdFor(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
}

/** One reading pass over the store, with progress and partial-failure bookkeeping. */
interface Pass {
  opts: CollectOptions;
  errors: string[];
  done: number;
  total: number;
}

/**
 * Builds the capacity report from the store: per host, disk and inode use per mount, memory,
 * CPU and certificates, each with growth, predicted exhaustion and its bounds, headroom at the
 * horizon and a recommendation; plus the fastest-growing mounts, directories and processes.
 * A series that cannot be read is listed in `errors` and the rest goes on.
 */
export async function collectReport(opts: CollectOptions): Promise<Report> {
  const percentSeries = await Promise.all(PERCENT_SOURCES.map((s) => opts.store.listSeries({ measurement: s.measurement, field: s.field, tags: s.tags })));
  const growerSeries = await Promise.all(GROWER_SOURCES.map((s) => opts.store.listSeries({ measurement: s.measurement, field: s.field })));
  const certSeries = await opts.store.listSeries({ measurement: "x509_cert", field: "expiry" });
  const pass: Pass = { opts, errors: [], done: 0, total: [...percentSeries, ...growerSeries].reduce((n, l) => n + l.length, 0) + certSeries.length };

  const hosts = new Map<string, HostReport>();
  const hostOf = (host: string): HostReport => {
    let h = hosts.get(host);
    if (!h) {
      h = { host, items: [], topGrowers: { mounts: [], directories: [], processes: [] } };
      hosts.set(host, h);
    }
    return h;
  };
  for (const [i, source] of GROWER_SOURCES.entries()) {
    for (const info of growerSeries[i] ?? []) {
      const g = await readGrower(pass, source, info);
      if (!g) continue;
      const list = hostOf(info.tags.host ?? NO_HOST).topGrowers;
      (g.kind === "mount" ? list.mounts : g.kind === "directory" ? list.directories : list.processes).push(g);
    }
  }
  for (const h of hosts.values()) {
    for (const key of ["mounts", "directories", "processes"] as const) {
      h.topGrowers[key] = h.topGrowers[key].filter((g) => g.growthBytesPerDay > 0).sort((a, b) => b.growthBytesPerDay - a.growthBytesPerDay).slice(0, TOP_GROWERS);
    }
  }

  let n = 0;
  for (const [i, source] of PERCENT_SOURCES.entries()) {
    for (const info of percentSeries[i] ?? []) {
      const host = info.tags.host ?? NO_HOST;
      const item = await readPercentItem(pass, source, info, `i${n++}`, hintsFor(source, info, hostOf(host)));
      if (item) hostOf(host).items.push(item);
    }
  }
  for (const info of certSeries) {
    const item = await readCertItem(pass, info, `i${n++}`);
    if (item) hostOf(info.tags.host ?? NO_HOST).items.push(item);
  }

  const sorted = [...hosts.values()].filter((h) => h.items.length > 0 || hasGrowers(h)).sort((a, b) => a.host.localeCompare(b.host));
  for (const h of sorted) h.items.sort(byUrgency);
  return {
    schema: REPORT_SCHEMA,
    id: opts.id ?? reportIdFor(opts.nowMs),
    generatedAtMs: opts.nowMs,
    generatedAt: new Date(opts.nowMs).toISOString(),
    timezone: opts.timezone,
    horizonMs: opts.horizonMs,
    historyMs: opts.historyMs,
    hosts: sorted,
    summary: summarize(sorted),
    errors: pass.errors,
  };
}

const hasGrowers = (h: HostReport): boolean => h.topGrowers.mounts.length + h.topGrowers.directories.length + h.topGrowers.processes.length > 0;

const STATUS_ORDER: Readonly<Record<ItemStatus, number>> = { critical: 0, warning: 1, watch: 2, unknown: 3, ok: 4 };

/** Most urgent first; then the nearest exhaustion; then by kind and target for a stable order. */
function byUrgency(a: ReportItem, b: ReportItem): number {
  return (
    STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
    (a.exhaustion?.atMs ?? Infinity) - (b.exhaustion?.atMs ?? Infinity) ||
    a.kind.localeCompare(b.kind) ||
    a.target.localeCompare(b.target)
  );
}

function summarize(hosts: readonly HostReport[]): Report["summary"] {
  const s = { items: 0, critical: 0, warning: 0, watch: 0, ok: 0, unknown: 0 };
  for (const h of hosts) {
    for (const item of h.items) {
      s.items++;
      s[item.status]++;
    }
  }
  return s;
}

/** The fastest directory under a disk's mount, and the fastest process for memory. */
function hintsFor(source: PercentSource, info: SeriesInfo, host: HostReport): RecommendationHints {
  const g = host.topGrowers;
  if (source.kind === "disk" || source.kind === "inodes") {
    const mount = info.tags.path ?? "";
    const dir = g.directories.find((d) => isUnder(d.name, mount));
    return dir ? { directory: dir.name } : {};
  }
  if (source.kind === "memory" && g.processes[0]) {
    const p = g.processes[0];
    return { process: `${p.name} +${formatValue(p.growthBytesPerDay, "memory_rss")}/day` };
  }
  return {};
}

/** True when `dir` is `mount` or below it (not merely sharing a prefix, as /var2 and /var). */
export function isUnder(dir: string, mount: string): boolean {
  if (mount === "") return false;
  if (mount === "/" || dir === mount) return dir.startsWith("/") || dir === mount;
  return dir.startsWith(mount.endsWith("/") ? mount : `${mount}/`);
}

/**
 * Bucket means of a series over the history; when the store holds much less than the history
 * (a young install), the data's own span is read again with finer buckets.
 */
async function readHistory(pass: Pass, key: string, aggregate: "mean" | "last" = "mean"): Promise<Samples | undefined> {
  const { store, nowMs, historyMs } = pass.opts;
  try {
    pass.opts.signal?.throwIfAborted();
    const startMs = nowMs - historyMs;
    const coarse = await store.query({ series: key, startMs, endMs: nowMs, stepMs: Math.max(1000, historyMs / HISTORY_BUCKETS), aggregate });
    if (coarse.length >= DENSE_ENOUGH || coarse.length < 2) return coarse;
    const firstMs = coarse[0]![0];
    return await store.query({ series: key, startMs: firstMs, endMs: nowMs, stepMs: Math.max(1000, (nowMs - firstMs) / (HISTORY_BUCKETS / 2)), aggregate });
  } catch (err) {
    if (pass.opts.signal?.aborted) throw err;
    pass.errors.push(`${key}: ${err instanceof Error ? err.message : String(err)}`);
    pass.opts.log?.warn({ err, series: key }, "report: cannot read a series; it is left out");
    return undefined;
  } finally {
    pass.done++;
    pass.opts.onProgress?.(pass.done, pass.total, key);
  }
}

async function readGrower(pass: Pass, source: GrowerSource, info: SeriesInfo): Promise<Grower | undefined> {
  const samples = await readHistory(pass, info.key);
  if (!samples || samples.length === 0) return undefined;
  const { nowMs, horizonMs, historyMs } = pass.opts;
  const fc = fitTrend(samples, nowMs, Infinity, horizonMs, historyMs);
  if (!fc) return undefined;
  return { kind: source.kind, name: source.name(info.tags), series: info.key, currentBytes: fc.lastValue, growthBytesPerDay: fc.slopePerMs * DAY_MS };
}

async function readPercentItem(pass: Pass, source: PercentSource, info: SeriesInfo, id: string, hints: RecommendationHints): Promise<ReportItem | undefined> {
  const raw = await readHistory(pass, info.key);
  if (!raw) return undefined;
  const { nowMs, horizonMs, historyMs, timezone } = pass.opts;
  const toPercent = source.toPercent ?? ((v: number) => v);
  const history: Samples = raw.map(([t, v]) => [t, toPercent(v)]);
  const limit = 100;
  const seasonal = source.seasonal ? fitSeasonal(history, nowMs, limit, horizonMs, 0) : undefined;
  const fc = seasonal ? undefined : fitTrend(history, nowMs, limit, horizonMs, historyMs);
  const item: ReportItem = {
    id,
    kind: source.kind,
    host: info.tags.host ?? NO_HOST,
    target: source.target(info.tags),
    series: info.key,
    tags: { ...info.tags },
    unit: "percent",
    current: history.length > 0 ? history[history.length - 1]![1] : null,
    limit,
    growthPerDay: null,
    growthPerWeek: null,
    exhaustion: null,
    headroomAtHorizon: null,
    model: null,
    confidence: null,
    status: "unknown",
    recommendation: "",
    samples: history.length,
    history,
    forecast: [],
  };
  if (seasonal) applySeasonal(item, seasonal, nowMs, horizonMs);
  else if (fc) applyTrend(item, fc, nowMs, horizonMs);
  item.status = item.model !== null ? itemStatus(item, nowMs, horizonMs) : "unknown";
  item.recommendation = recommendation(item, nowMs, timezone, hints);
  return item;
}

function applyTrend(item: ReportItem, fc: TrendForecast, nowMs: number, horizonMs: number): void {
  item.current = fc.lastValue;
  item.growthPerDay = fc.slopePerMs * DAY_MS;
  item.growthPerWeek = fc.slopePerMs * 7 * DAY_MS;
  // Past the reach of the model's bounds (10 horizons) a date says nothing: a near-flat trend.
  const inSight = fc.etaMs !== null && fc.etaMs - nowMs <= ETA_REACH_HORIZONS * horizonMs;
  item.exhaustion = inSight ? exhaustion(fc.etaMs, fc.etaLowMs, fc.etaHighMs) : null;
  item.headroomAtHorizon = item.limit - Math.min(item.limit, fc.forecastValue);
  item.model = "robust_trend";
  item.confidence = fc.confidence;
  item.forecast = forecastBand(fc, nowMs, horizonMs, item.limit, 0);
}

/** As applyTrend, on the daily season: the headroom is the busy hour's, over the horizon's last day. */
function applySeasonal(item: ReportItem, { fc, band }: SeasonalFit, nowMs: number, horizonMs: number): void {
  applyTrend(item, fc, nowMs, horizonMs);
  const lastDay = band.filter((p) => p.tMs >= nowMs + horizonMs - DAY_MS);
  item.headroomAtHorizon = item.limit - Math.min(item.limit, Math.max(...lastDay.map((p) => p.value)));
  item.model = "seasonal";
  item.forecast = band;
}

/** A certificate's days left; the exact notAfter from `enddate` when stored, else from `expiry`. */
async function readCertItem(pass: Pass, info: SeriesInfo, id: string): Promise<ReportItem | undefined> {
  const raw = await readHistory(pass, info.key);
  const { nowMs, horizonMs, timezone } = pass.opts;
  if (!raw || raw.length === 0 || nowMs - raw[raw.length - 1]![0] > CERT_STALE_MS) return undefined;
  // Unknown series read as empty: then the expiry samples say it.
  const endKey = seriesKey(info.measurement, info.tags, "enddate");
  const stepMs = Math.max(1000, pass.opts.historyMs / HISTORY_BUCKETS);
  const end = await pass.opts.store.query({ series: endKey, startMs: nowMs - pass.opts.historyMs, endMs: nowMs, stepMs, aggregate: "last" }).catch(() => undefined);
  const fit = end && end.length > 0 ? fitCertificate(end, "enddate") : fitCertificate(raw, "expiry");
  if (!fit) return undefined;
  const t = info.tags;
  const daysLeft = (fit.notAfterMs - nowMs) / DAY_MS;
  const item: ReportItem = {
    id,
    kind: "certificate",
    host: t.host ?? NO_HOST,
    target: `${t.common_name || t.san || "certificate"}${t.source ? ` (${t.source})` : ""}`,
    series: info.key,
    tags: { ...t },
    unit: "days",
    current: daysLeft,
    limit: 0,
    growthPerDay: -1,
    growthPerWeek: -7,
    exhaustion: exhaustion(fit.notAfterMs, fit.notAfterMs, fit.notAfterMs),
    headroomAtHorizon: daysLeft - horizonMs / DAY_MS,
    model: "cert_expiry",
    confidence: 1,
    status: "unknown",
    recommendation: "",
    samples: raw.length,
    history: raw.map(([tMs, v]) => [tMs, v / 86_400]),
    forecast: certForecast(fit.notAfterMs, nowMs, horizonMs),
  };
  item.status = itemStatus(item, nowMs, horizonMs);
  item.recommendation = recommendation(item, nowMs, timezone);
  return item;
}
