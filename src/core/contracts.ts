import type { Logger } from "pino";
import type { Point, SeriesInfo } from "./point.js";

/** Wall-clock source, injected so tests and backtests can drive time. */
export interface Clock {
  /** Unix time in milliseconds. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** Context handed to a collector for one pass. */
export interface CollectContext {
  /** Timestamp to stamp on every point of this pass (ms). */
  nowMs: number;
  /** Value of the `host` tag for this machine. */
  host: string;
  log: Logger;
  /** Reports a failure on one item (a mount, a process) without failing the pass. */
  reportError(item: string, err: unknown): void;
}

/** A polled source of points. One file per collector in `src/collector/`. */
export interface Collector {
  readonly name: string;
  collect(ctx: CollectContext): Promise<Point[]>;
}

/** Aggregation applied per step bucket. */
export type Aggregate = "mean" | "min" | "max" | "last" | "count" | "sum";

export interface RangeQuery {
  /** Series key as made by `seriesKey`. */
  series: string;
  startMs: number;
  endMs: number;
  /** Bucket width in ms; points are aggregated per bucket. */
  stepMs: number;
  aggregate: Aggregate;
}

/** `[bucketStartMs, value]` pairs, ascending by time. */
export type Samples = Array<[number, number]>;

export interface SeriesFilter {
  measurement?: string;
  field?: string;
  /** Exact tag matches. */
  tags?: Readonly<Record<string, string>>;
  limit?: number;
}

/** Where points live. Writes are buffered; `flush` makes them durable. */
export interface Store {
  /** Queues points; never blocks on I/O. Non-numeric fields are ignored (booleans become 0/1). */
  write(points: readonly Point[]): void;
  /** Writes every queued point durably. */
  flush(): Promise<void>;
  listSeries(filter: SeriesFilter): Promise<SeriesInfo[]>;
  query(q: RangeQuery): Promise<Samples>;
  /** Count of queued, not yet durable points. */
  pendingPoints(): number;
  /** Flushes and releases the database. */
  close(): Promise<void>;
}

/** A forecast for one series against one threshold. */
export interface Prediction {
  rule: string;
  model: string;
  series: string;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  field: string;
  /** When the prediction was made (ms). */
  atMs: number;
  /** Latest observed value. */
  value: number;
  threshold: number;
  /** Trend slope in units of the series per second. */
  slopePerS: number;
  /** When the threshold is expected to be reached (ms), or null if the trend never reaches it. */
  etaMs: number | null;
  /** Earliest plausible time (ms) from the prediction interval, or null. */
  etaLowMs: number | null;
  /** Latest plausible time (ms), or null when the interval does not bound it. */
  etaHighMs: number | null;
  /** Trend's forecast value at the rule's horizon. */
  forecastValue: number;
  /**
   * The band around `forecastValue` at the horizon: the lines that reach the threshold at
   * eta_low and eta_high, or ± 2 residual σ when the trend does not get there.
   */
  forecastLow?: number;
  forecastHigh?: number;
  /** 0..1: how sure the model is that the series really trends toward the threshold. */
  confidence: number;
  samples: number;
  /** Anomaly score of the latest sample (σ above the learned baseline), for `anomaly` rules. */
  score?: number;
}

export type AlertState = "pending" | "firing" | "resolved";
export type Severity = "info" | "warning" | "critical";

export interface Alert {
  /** Stable id: rule name plus series key. */
  id: string;
  rule: string;
  severity: Severity;
  state: AlertState;
  series: string;
  tags: Readonly<Record<string, string>>;
  /** When the condition first held in this episode (ms). */
  activeSinceMs: number;
  firedAtMs: number | null;
  resolvedAtMs: number | null;
  /** One line for people, e.g. "/var on web-01 full in 3 h 10 m (2 h 50 m – 3 h 40 m)". */
  summary: string;
  prediction: Prediction;
  /** Set when a silence covers the alert: shown, not notified. */
  silenced?: boolean;
}

/** What an action reports after it ran. */
export interface ActionResult {
  ok: boolean;
  exitCode: number | null;
  durationMs: number;
  /** Last few KiB of combined stdout/stderr. */
  outputTail: string;
  error?: string;
  /** Facts the action measured, for the journal, e.g. `{ bytesFreed: 123 }` or `{ expiryMs: ... }`. */
  details?: Readonly<Record<string, string | number | boolean | null>>;
}

/** A healing action declared in config. One file per type in `src/remediator/actions/`. */
export interface Action {
  readonly type: string;
  /** What would run, for the journal and dry-run, e.g. the argv. */
  describe(alert: Alert): string;
  /**
   * What the action acts on for this alert, e.g. `unit:nginx.service` or `path:/var/log`; cooldowns,
   * per-target limits and allow-lists key on it. Without it the target is the alert's series.
   */
  target?(alert: Alert): string;
  /**
   * Exactly what a run would do, item by item (the files a cleanup would delete), for dry-run and
   * approvals. Reads only; never changes anything. Without it the preview is `describe`.
   */
  preview?(alert: Alert, signal: AbortSignal): Promise<string[]>;
  /**
   * Why this alert cannot be acted on at all (e.g. its tag names no valid unit), or undefined.
   * Asked before planning, so refused metric data never uses up limits or trips breakers.
   */
  refusal?(alert: Alert): string | undefined;
  run(alert: Alert, signal: AbortSignal): Promise<ActionResult>;
}

/** Receives every point that enters the pipeline (store, analyzer). */
export interface PointSink {
  write(points: readonly Point[]): void;
}
