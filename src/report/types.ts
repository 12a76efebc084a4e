/**
 * The capacity report as data: what `collect` builds and every format renders. JSON-serialisable
 * (numbers, strings, arrays, plain objects; times as ms and as RFC 3339); `schema` changes only
 * when a field changes meaning.
 */

export const REPORT_SCHEMA = 1;

/** Resources a report covers, one item per host and mount / certificate / host-wide resource. */
export type ResourceKind = "disk" | "inodes" | "memory" | "cpu" | "certificate";

/**
 * critical: runs out within 7 days (certificates: 3 days, as the cert_expiry_3d rule);
 * warning: within the horizon (certificates: 14 days); watch: bounds reach the limit within the
 * horizon but the central forecast does not; ok: none of those; unknown: too little data.
 */
export type ItemStatus = "critical" | "warning" | "watch" | "ok" | "unknown";

/** When the limit is reached: central forecast and its interval (ms and RFC 3339). */
export interface Exhaustion {
  atMs: number;
  at: string;
  /** Earliest plausible time, or null when the interval gives none. */
  lowMs: number | null;
  low: string | null;
  /** Latest plausible time, or null when unbounded (the pessimistic line never gets there). */
  highMs: number | null;
  high: string | null;
}

/** One forecast step: central value and band. */
export interface ForecastPoint {
  tMs: number;
  value: number;
  low: number;
  high: number;
}

export interface ReportItem {
  /** Stable within the report: index of the item, e.g. "i3"; used for chart anchors. */
  id: string;
  kind: ResourceKind;
  host: string;
  /** For people: "/var", "memory", "cpu", "example.org (tcp://example.org:443)". */
  target: string;
  /** Series the item was read from (line-protocol key). */
  series: string;
  tags: Record<string, string>;
  /** percent (used; CPU: busy) or days (certificates: validity left). */
  unit: "percent" | "days";
  /** Latest value in `unit`, or null without data. */
  current: number | null;
  /** The value that means "out of it": 100 (percent) or 0 (days left). */
  limit: number;
  /** Change per day and per week in `unit` (robust trend), or null without a forecast. */
  growthPerDay: number | null;
  growthPerWeek: number | null;
  /** Predicted exhaustion, or null when the trend does not get there (within 10 horizons for bounds). */
  exhaustion: Exhaustion | null;
  /** Distance to the limit at the horizon's end in `unit` (percent points free, days left); null without a forecast. */
  headroomAtHorizon: number | null;
  /**
   * How the forecast was made: `robust_trend` (Theil–Sen), `seasonal` (Holt–Winters with a daily
   * season, for CPU and memory with two days of data: dates are when the busy hour reaches the
   * limit), `cert_expiry` (exact); null without a forecast.
   */
  model: "robust_trend" | "seasonal" | "cert_expiry" | null;
  /** 0..1: how sure the model is of the trend's direction (seasonal: that the limit is reached within the horizon); null without a forecast. */
  confidence: number | null;
  status: ItemStatus;
  /** One line saying what to do, e.g. "grow /var or clean /var/log: full around 2026-12-14 (12–19 Dec)". */
  recommendation: string;
  /** Samples (query buckets) the forecast saw. */
  samples: number;
  /** `[timeMs, value]` in `unit`, oldest first (bucket means over the history). */
  history: Array<[number, number]>;
  /** From the latest sample to the horizon's end (empty without a forecast). */
  forecast: ForecastPoint[];
}

/** A mount, directory or process ranked by growth in bytes. */
export interface Grower {
  kind: "mount" | "directory" | "process";
  /** "/var", "/var/log", "java (pid 1234)". */
  name: string;
  series: string;
  currentBytes: number;
  growthBytesPerDay: number;
}

export interface HostReport {
  host: string;
  items: ReportItem[];
  /** Fastest growers first; only those that grow. */
  topGrowers: { mounts: Grower[]; directories: Grower[]; processes: Grower[] };
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  /** e.g. "20260105T070000Z": the generation time, also the file name prefix. */
  id: string;
  generatedAtMs: number;
  generatedAt: string;
  /** IANA zone the dates in recommendations and charts are shown in. */
  timezone: string;
  horizonMs: number;
  historyMs: number;
  hosts: HostReport[];
  summary: { items: number; critical: number; warning: number; watch: number; ok: number; unknown: number };
  /** Series or sources that could not be read; the rest of the report is complete. */
  errors: string[];
}
