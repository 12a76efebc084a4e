import { INACTIVE, RESOLVE_HORIZON_FACTOR, stepAlert, type AlertLifecycle } from "../rules.js";
import type { ForecastModel } from "./model.js";
import type { Scenario } from "./scenarios.js";

/**
 * Replays a scenario through a model as a rule would see it — evaluations on a fixed cadence,
 * the alert lifecycle of `rules.ts` (pending → firing after `forMs`, hysteresis on resolve) —
 * and scores the result against the scenario's true exhaustion time.
 */

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

export interface ScoreOptions {
  /** The rule's horizon (ms): alert when the ETA is within it. */
  horizonMs: number;
  /** The rule's `for` (ms). */
  forMs: number;
  /** Evaluation cadence (ms). Default 60 s. */
  evalEveryMs?: number;
  /** The rule's minSamples. Default 5. */
  minSamples?: number;
  /** An alert firing earlier than this before the true exhaustion (or with none) is false. Default 48 h. */
  falseAlarmMarginMs?: number;
  /**
   * History fed before evaluation starts (ms), as the engine warms models from the store on
   * start. Default 0.
   */
  warmupMs?: number;
  /** ETA error and coverage are scored while the truth is this far ahead: [min, max] (ms). Default [1 h, 48 h]. */
  etaWindowMs?: readonly [number, number];
}

export interface ScenarioScore {
  scenario: string;
  /** Alert episodes that fired although exhaustion was more than the margin away (or never). */
  falseAlarms: number;
  /** Length of the evaluated series in weeks (after the warm-up, up to the exhaustion). */
  seriesWeeks: number;
  falseAlarmsPerSeriesWeek: number;
  /** How long before the true exhaustion the first non-false alert fired (ms), or null. */
  leadMs: number | null;
  /** Per scored evaluation: |eta − truth| / (truth − now); Infinity when there was no ETA. */
  etaErrors: number[];
  /** Median of `etaErrors`, NaN when nothing was scored. */
  medianEtaError: number;
  /** Share of scored evaluations with truth inside [eta_low, eta_high]; NaN when none. */
  coverage: number;
}

/** Scores one model on one scenario, in a fresh slot released afterwards. */
export function scoreScenario(model: ForecastModel, s: Scenario, opts: ScoreOptions): ScenarioScore {
  const evalEveryMs = opts.evalEveryMs ?? 60_000;
  const minSamples = opts.minSamples ?? 5;
  const margin = opts.falseAlarmMarginMs ?? 48 * HOUR_MS;
  const [etaMin, etaMax] = opts.etaWindowMs ?? [HOUR_MS, 48 * HOUR_MS];
  const truth = s.exhaustionMs;
  const evalFromMs = s.startMs + (opts.warmupMs ?? 0);
  const timing = { forMs: opts.forMs, keepResolvedMs: 15 * 60_000 };
  const slot = model.allocate();
  let lc: AlertLifecycle = INACTIVE;
  let lastEval = -Infinity;
  let falseAlarms = 0;
  let leadMs: number | null = null;
  let covered = 0;
  const etaErrors: number[] = [];
  let endMs = s.startMs + s.durationMs;
  try {
    for (let i = 0; i < s.timesMs.length; i++) {
      const t = s.timesMs[i]!;
      if (truth !== null && t >= truth) {
        endMs = truth;
        break;
      }
      model.observe(slot, t, s.values[i]!);
      if (t < evalFromMs || t - lastEval < evalEveryMs) continue;
      lastEval = t;
      const fc = model.predict(slot, t, s.threshold, opts.horizonMs, minSamples);
      const eta = fc?.etaMs ?? null;
      const prev = lc;
      lc = stepAlert(
        prev,
        { active: eta !== null && eta <= t + opts.horizonMs, keepFiring: eta !== null && eta <= t + RESOLVE_HORIZON_FACTOR * opts.horizonMs },
        t,
        timing,
      );
      if (lc.phase === "firing" && prev.phase !== "firing") {
        if (truth === null || truth - t > margin) falseAlarms++;
        else leadMs ??= truth - t;
      }
      if (truth === null || truth - t < etaMin || truth - t > etaMax) continue;
      etaErrors.push(eta === null ? Infinity : Math.abs(eta - truth) / (truth - t));
      const low = fc?.etaLowMs ?? null;
      const high = fc?.etaHighMs ?? null;
      if (low !== null && low <= truth && (high === null || truth <= high)) covered++;
    }
  } finally {
    model.release(slot);
  }
  const seriesWeeks = Math.max(0, endMs - evalFromMs) / WEEK_MS;
  return {
    scenario: s.name,
    falseAlarms,
    seriesWeeks,
    falseAlarmsPerSeriesWeek: seriesWeeks > 0 ? falseAlarms / seriesWeeks : 0,
    leadMs,
    etaErrors,
    medianEtaError: median(etaErrors),
    coverage: etaErrors.length > 0 ? covered / etaErrors.length : NaN,
  };
}

/** Median of a list (NaN when empty); Infinity entries count as largest. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const h = a.length >>> 1;
  return a.length % 2 === 1 ? a[h]! : (a[h - 1]! + a[h]!) / 2;
}
