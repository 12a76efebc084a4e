import type { Logger } from "pino";
import type { Alert, AlertState, Severity } from "../core/contracts.js";
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
  // Points up to the next evaluation. Writing them sooner would observe the same samples in the
  // same order; batching them saves calls. (Columns are written in place, a range at a time.)
  const pending: Point[] = [];
  let nextEvalMs = NaN;
  let newestMs = -Infinity;

  const evaluate = (nowMs: number): BacktestTransition[] => {
    if (pending.length > 0) {
      analyzer.write(pending);
      pending.length = 0;
    }
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
    // Points waiting from an earlier batch go first.
    if (columns && pending.length > 0) {
      analyzer.write(pending);
      pending.length = 0;
    }
    // Columns not yet written: points [from, i), their values from `fromValue`; point i's start at `value`.
    let from = 0;
    let fromValue = 0;
    let value = 0;
    // Index loops: this runs per sample.
    for (let i = 0; i < count; i++) {
      const t = columns ? (columns.timesMs[i] as number) : (points![i] as Point).timeMs;
      if (Number.isNaN(nextEvalMs)) nextEvalMs = ceilTo(t, intervalMs);
      while (t > nextEvalMs) {
        if (columns && i > from) {
          analyzer.writeColumns(columns, from, i, fromValue);
          from = i;
          fromValue = value;
        }
        if (nextEvalMs > newestMs + quietAfterMs) nextEvalMs = quietJump(nextEvalMs, t, lastSweepMs, sweepStepMs);
        const transitions = evaluate(nextEvalMs);
        for (let k = 0; k < transitions.length; k++) yield transitions[k] as BacktestTransition;
        nextEvalMs += intervalMs;
      }
      if (columns) value += (columns.fieldNames[columns.shapeIds[i] as number] as readonly string[]).length;
      else pending.push(points![i] as Point);
      if (t > newestMs) newestMs = t;
    }
    // Ranges index one batch's arrays: its rest is written before the next batch.
    if (columns && count > from) analyzer.writeColumns(columns, from, count, fromValue);
    stats.samples += count;
  }
  if (!Number.isNaN(nextEvalMs)) yield* evaluate(nextEvalMs);
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
