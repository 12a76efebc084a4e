import type { Logger } from "pino";
import type { Alert, AlertState, Severity } from "../core/contracts.js";
import type { ColumnHead, PointColumns } from "../core/columns.js";
import type { Point, SeriesInfo } from "../core/point.js";
import { isColumns, type SampleBatch } from "./backtest-input.js";
import { createAnalyzer } from "./engine.js";
import { compileRule, ruleMatches, type RuleSpec } from "./rules.js";

/**
 * Backtesting: recorded samples replayed through the live analyzer (`createAnalyzer`, the same
 * rules, models and alert lifecycle) with a simulated clock. Rules are evaluated at every
 * multiple of the evaluation interval, as the live loop does every interval: each evaluation
 * sees the samples with time ≤ its own, and one last evaluation follows the last sample.
 * Nothing sleeps.
 *
 * Long gaps are skipped once they are provably quiet: past the newest sample plus the longest
 * rule window no model predicts, so every alert resolves and its resolved state expires after
 * the retention; from then until the next sample an evaluation only sweeps stale series. The
 * replay jumps to the last sweep the live loop would make before the next sample, so the same
 * series are forgotten, and evaluates every interval from there.
 */

/** One alert transition, as `ansai backtest` prints it. Times in ms since the epoch. */
export interface BacktestTransition {
  /** Simulated evaluation time of the transition. */
  timeMs: number;
  rule: string;
  series: string;
  state: AlertState;
  severity: Severity;
  /** Latest observed value of the series. */
  value: number;
  /** Forecast crossing and its interval, rounded to whole ms; null when the trend never gets there (or the band is unbounded). */
  etaMs: number | null;
  etaLowMs: number | null;
  etaHighMs: number | null;
  /** The rule's summary line, rendered at `timeMs`. */
  summary: string;
}

/** Running counters, updated as the replay goes (for progress bars and summaries). */
export interface BacktestStats {
  /** Points fed to the analyzer. */
  samples: number;
  /** Evaluations run. */
  evaluations: number;
  /** Simulated time of the latest evaluation (ms), NaN before the first. */
  clockMs: number;
}

export interface BacktestOptions {
  rules: RuleSpec[];
  /** `analyzer.evaluation_interval` in ms. */
  evaluationIntervalMs: number;
  log: Logger;
  /** Filled in as the replay runs. */
  stats?: BacktestStats;
}

/** The analyzer's default time a resolved alert stays visible; passed explicitly so gap skipping can rely on it. */
export const RESOLVED_RETENTION_MS = 15 * 60_000;
/** engine.ts sweeps stale series at most this often (ms of evaluation time); gap jumps land on that schedule. */
const ENGINE_SWEEP_INTERVAL_MS = 60_000;

export function newBacktestStats(): BacktestStats {
  return { samples: 0, evaluations: 0, clockMs: NaN };
}

/**
 * Replays batches of points or columns (in time order; an older point is fed as a late sample,
 * as live ingest would) and yields every alert transition. Throws RangeError for a bad interval,
 * and ANSAI_CONFIG_INVALID for bad rules (as the live analyzer does).
 */
export async function* backtest(batches: AsyncIterable<SampleBatch>, opts: BacktestOptions): AsyncGenerator<BacktestTransition> {
  const intervalMs = opts.evaluationIntervalMs;
  if (!(Number.isSafeInteger(intervalMs) && intervalMs > 0)) throw new RangeError(`evaluationIntervalMs must be a whole number of ms > 0, got ${intervalMs}`);
  // Nothing reads rule health or every prediction in a replay: no clock reads per rule, and predictions built only for alerts.
  const analyzer = createAnalyzer({ rules: opts.rules, log: opts.log, resolvedRetentionMs: RESOLVED_RETENTION_MS, timeRules: false, collectPredictions: false });
  const stats = opts.stats ?? newBacktestStats();
  const longestWindowMs = opts.rules.reduce((m, r) => Math.max(m, r.windowMs), 0);
  // After newest sample + this, evaluations change nothing until the next sample.
  const quietAfterMs = longestWindowMs + RESOLVED_RETENTION_MS + 2 * intervalMs;
  // With an evaluation at every boundary, the engine sweeps every `sweepStepMs` from `lastSweepMs`.
  const sweepStepMs = ceilTo(ENGINE_SWEEP_INTERVAL_MS, intervalMs);
  let lastSweepMs = -Infinity;
  // Samples up to the next evaluation. Writing them sooner would observe the same samples in
  // the same order; batching them saves calls.
  const pending: Point[] = [];
  const pendingColumns = new PendingColumns();
  let nextEvalMs = NaN;
  let newestMs = -Infinity;

  const flush = (): void => {
    if (pending.length > 0) {
      analyzer.write(pending);
      pending.length = 0;
    }
    if (pendingColumns.count > 0) {
      analyzer.writeColumns(pendingColumns);
      pendingColumns.clear();
    }
  };
  const evaluate = (nowMs: number): BacktestTransition[] => {
    flush();
    stats.evaluations++;
    stats.clockMs = nowMs;
    if (nowMs - lastSweepMs >= ENGINE_SWEEP_INTERVAL_MS) lastSweepMs = nowMs;
    const { transitions } = analyzer.evaluate(nowMs);
    return transitions.length === 0 ? NO_TRANSITIONS : transitions.map((a) => toTransition(a, nowMs));
  };

  for await (const batch of batches) {
    const columns = isColumns(batch) ? batch : undefined;
    const points = isColumns(batch) ? undefined : batch;
    const count = columns ? columns.count : (points as readonly Point[]).length;
    // Kinds and column tables do not mix in one pending batch.
    if (columns ? pending.length > 0 || !pendingColumns.accepts(columns) : pendingColumns.count > 0) flush();
    // Index loops and a cursor over the values: this runs per sample.
    let value = 0;
    for (let i = 0; i < count; i++) {
      const t = columns ? (columns.timesMs[i] as number) : (points![i] as Point).timeMs;
      if (Number.isNaN(nextEvalMs)) nextEvalMs = ceilTo(t, intervalMs);
      while (t > nextEvalMs) {
        if (nextEvalMs > newestMs + quietAfterMs) nextEvalMs = quietJump(nextEvalMs, t, lastSweepMs, sweepStepMs);
        const transitions = evaluate(nextEvalMs);
        for (let k = 0; k < transitions.length; k++) yield transitions[k] as BacktestTransition;
        nextEvalMs += intervalMs;
      }
      if (columns) value = pendingColumns.add(columns, i, value);
      else pending.push(points![i] as Point);
      if (t > newestMs) newestMs = t;
    }
    stats.samples += count;
  }
  if (!Number.isNaN(nextEvalMs)) yield* evaluate(nextEvalMs);
}

/**
 * Points copied out of column batches until the next evaluation (typed arrays, grown as
 * needed, reused): one write per evaluation and no object per sample. Holds points of one set
 * of column tables (`heads`, `fieldNames`) at a time.
 */
class PendingColumns implements PointColumns {
  count = 0;
  heads: ReadonlyArray<ColumnHead | undefined> = [];
  fieldNames: ReadonlyArray<readonly string[] | undefined> = [];
  headIds: Int32Array = new Int32Array(64);
  shapeIds: Int32Array = new Int32Array(64);
  timesMs: Float64Array = new Float64Array(64);
  values: Float64Array = new Float64Array(64);
  readonly others: Array<[number, string | boolean]> = [];
  private valueCount = 0;
  /** Index into the source batch's `others` (values are copied in order). */
  private otherAt = 0;

  /** Whether points of `c` may join the pending ones. */
  accepts(c: PointColumns): boolean {
    return this.count === 0 || (c.heads === this.heads && c.fieldNames === this.fieldNames);
  }

  /** Copies point `i` of `c`, whose values start at `first`; returns where the next point's values start. */
  add(c: PointColumns, i: number, first: number): number {
    if (this.count === 0) {
      this.heads = c.heads;
      this.fieldNames = c.fieldNames;
    }
    if (i === 0) this.otherAt = 0;
    const shape = c.shapeIds[i] as number;
    const width = (c.fieldNames[shape] as readonly string[]).length;
    const n = this.count;
    if (n === this.timesMs.length) {
      this.headIds = growInt32(this.headIds);
      this.shapeIds = growInt32(this.shapeIds);
      this.timesMs = growFloat64(this.timesMs, n + 1);
    }
    while (this.valueCount + width > this.values.length) this.values = growFloat64(this.values, this.valueCount + width);
    this.headIds[n] = c.headIds[i] as number;
    this.shapeIds[n] = shape;
    this.timesMs[n] = c.timesMs[i] as number;
    const end = first + width;
    for (let v = first; v < end; v++) this.values[this.valueCount + v - first] = c.values[v] as number;
    for (let o = c.others[this.otherAt]; o !== undefined && o[0] < end; o = c.others[++this.otherAt]) {
      if (o[0] >= first) this.others.push([this.valueCount + o[0] - first, o[1]]);
    }
    this.valueCount += width;
    this.count = n + 1;
    return end;
  }

  clear(): void {
    this.count = 0;
    this.valueCount = 0;
    // Setting an array's length is a call even when it is already 0 (this runs per evaluation).
    if (this.others.length > 0) this.others.length = 0;
  }
}

function growInt32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function growFloat64(a: Float64Array, atLeast: number): Float64Array {
  const b = new Float64Array(Math.max(a.length * 2, atLeast));
  b.set(a);
  return b;
}

/** In a quiet gap: the last boundary before `t` on the live loop's sweep schedule (or `nextEvalMs` if none is later). */
function quietJump(nextEvalMs: number, t: number, lastSweepMs: number, sweepStepMs: number): number {
  if (!Number.isFinite(lastSweepMs)) return nextEvalMs;
  const k = Math.ceil((t - lastSweepMs) / sweepStepMs) - 1;
  return Math.max(nextEvalMs, lastSweepMs + k * sweepStepMs);
}

const NO_TRANSITIONS: BacktestTransition[] = [];

/** The smallest multiple of `stepMs` ≥ `t`. */
function ceilTo(t: number, stepMs: number): number {
  return Math.ceil(t / stepMs) * stepMs;
}

function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms);
}

function toTransition(a: Alert, nowMs: number): BacktestTransition {
  const p = a.prediction;
  return {
    timeMs: nowMs,
    rule: a.rule,
    series: a.series,
    state: a.state,
    severity: a.severity,
    value: p.value,
    // Whole ms: the interval bounds come from root finding and carry sub-ms noise.
    etaMs: roundMs(p.etaMs),
    etaLowMs: roundMs(p.etaLowMs),
    etaHighMs: roundMs(p.etaHighMs),
    summary: a.summary,
  };
}

/** Rules whose match fits a series (measurement, tags and field). */
export function rulesWatching(rules: readonly RuleSpec[], series: SeriesInfo): RuleSpec[] {
  return rules.filter((r) => r.match.field === series.field && ruleMatches(compileRule(r), series.measurement, series.tags));
}

/**
 * Replaces the threshold of the rules that watch `series` (of every rule when no series is
 * given) with a fixed value, e.g. a process's memory limit where the rule reads `memory_limit`.
 * Returns the new rule list and the names overridden.
 */
export function overrideThreshold(rules: readonly RuleSpec[], value: number, series?: SeriesInfo): { rules: RuleSpec[]; overridden: string[] } {
  if (!Number.isFinite(value)) throw new RangeError(`threshold must be a finite number, got ${value}`);
  const targets = new Set((series ? rulesWatching(rules, series) : rules).map((r) => r.name));
  return {
    rules: rules.map((r) => (targets.has(r.name) ? { ...r, threshold: { value } } : r)),
    overridden: [...targets],
  };
}

/** The transition as one JSON line, keys in the documented order, without a newline. */
export function transitionJson(t: BacktestTransition): string {
  return JSON.stringify({
    time: t.timeMs,
    rule: t.rule,
    series: t.series,
    state: t.state,
    value: t.value,
    eta: t.etaMs,
    eta_low: t.etaLowMs,
    eta_high: t.etaHighMs,
  });
}
