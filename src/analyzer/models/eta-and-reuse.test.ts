import { describe, expect, it } from "vitest";
import { generateScenario, type ScenarioKind } from "../../../test/fixtures/scenarios/disks.js";
import { generateMemoryScenario, type MemoryScenarioKind } from "../../../test/fixtures/scenarios/memory.js";
import { createModel, MODEL_NAMES, type ModelName } from "./index.js";
import type { ForecastModel, TrendForecast } from "./model.js";

/**
 * Two promises of the models that offer `eta`, checked on seeded scenarios sampled every minute
 * and evaluated every 10 s (five evaluations of six see no new sample):
 * - `eta`, asked alone, is exactly `predict`'s `etaMs` (NaN for none);
 * - a forecast repeated without a new sample (which reuses the slot's fits and envelope) equals
 *   one made from scratch, as a model gives after forecasting another slot in between.
 */

const MIN = 60_000;
const EVERY_MS = 10_000;

/** A series and the thresholds to ask about: the one it is about and one it is already past. */
interface Case {
  timesMs: Float64Array;
  values: Float64Array;
  thresholds: number[];
}

const disk = (kind: ScenarioKind): Case => ({ ...generateScenario(kind, { seed: 3, intervalMs: MIN, durationMs: 4 * 24 * 60 * MIN }), thresholds: [100, 60] });
const memory = (kind: MemoryScenarioKind): Case => {
  const s = generateMemoryScenario(kind, { seed: 3, intervalMs: MIN });
  return { ...s, thresholds: [s.threshold, 0.5 * s.threshold] };
};

const SUITES: Partial<Record<ModelName, { windowMs: number; cases: Record<string, () => Case> }>> = {
  linear_trend: { windowMs: 6 * 60 * MIN, cases: { linear: () => disk("linear"), logrotate: () => disk("logrotate"), "backup-bursts": () => disk("backup-bursts"), gaps: () => disk("gaps") } },
  sawtooth_trend: { windowMs: 3 * 24 * 60 * MIN, cases: { linear: () => disk("linear"), logrotate: () => disk("logrotate"), "backup-bursts": () => disk("backup-bursts"), gaps: () => disk("gaps") } },
  leak_detector: { windowMs: 3 * 60 * MIN, cases: { leak: () => memory("leak"), "leak-gaps": () => memory("leak-gaps"), warmup: () => memory("warmup"), "deploy-step": () => memory("deploy-step"), "gc-flat": () => memory("gc-flat") } },
};

interface Mismatch {
  atMs: number;
  threshold: number;
  reused: TrendForecast | undefined;
  fresh: TrendForecast | undefined;
  eta: number;
}

/**
 * Replays a case into three models: one asked only for `eta`, one for `predict` on slot a, and
 * one for `predict` on a decoy slot and then on its own (so it never reuses), comparing them at every evaluation.
 */
function compare(name: ModelName, windowMs: number, c: Case): { evaluations: number; forecasts: number; etas: number; mismatches: Mismatch[] } {
  const etaOnly = createModel(name, windowMs);
  const reusing = createModel(name, windowMs);
  const fresh = createModel(name, windowMs);
  const e = etaOnly.allocate();
  const a = reusing.allocate();
  const f = fresh.allocate();
  const decoy = fresh.allocate();
  const eta = (etaOnly.eta as NonNullable<ForecastModel["eta"]>).bind(etaOnly);
  const mismatches: Mismatch[] = [];
  let evaluations = 0;
  let forecasts = 0;
  let etas = 0;
  let next = Math.ceil((c.timesMs[0] as number) / EVERY_MS) * EVERY_MS;
  for (let i = 0; i < c.timesMs.length; i++) {
    const t = c.timesMs[i] as number;
    for (; next < t; next += EVERY_MS) {
      evaluations++;
      for (const threshold of c.thresholds) {
        const alone = eta(e, next, threshold, 24 * 60 * MIN, 10);
        const reused = reusing.predict(a, next, threshold, 24 * 60 * MIN, 10);
        fresh.predict(decoy, next, threshold, 24 * 60 * MIN, 10);
        const made = fresh.predict(f, next, threshold, 24 * 60 * MIN, 10);
        if (reused) forecasts++;
        if (!Number.isNaN(alone)) etas++;
        if (!same(reused, made) || !Object.is(alone, reused?.etaMs ?? NaN)) mismatches.push({ atMs: next, threshold, reused, fresh: made, eta: alone });
      }
    }
    const v = c.values[i] as number;
    etaOnly.observe(e, t, v);
    reusing.observe(a, t, v);
    fresh.observe(f, t, v);
    fresh.observe(decoy, t, v);
  }
  return { evaluations, forecasts, etas, mismatches: mismatches.slice(0, 3) };
}

function same(x: TrendForecast | undefined, y: TrendForecast | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  return (Object.keys(x) as Array<keyof TrendForecast>).every((k) => Object.is(x[k], y[k])) && Object.keys(x).length === Object.keys(y).length;
}

describe("models with eta: eta equals predict's ETA, and forecasts without a new sample equal fresh ones", () => {
  const withEta = MODEL_NAMES.filter((n) => createModel(n, 60 * MIN).eta !== undefined);

  it("covers the disk and memory rules' models, each with cases", () => {
    expect(withEta).toEqual(expect.arrayContaining(["linear_trend", "sawtooth_trend", "leak_detector"]));
    for (const n of withEta) expect(SUITES[n], `add cases for ${n}`).toBeDefined();
  });

  for (const name of withEta) {
    const suite = SUITES[name];
    if (!suite) continue;
    it.each(Object.keys(suite.cases))(`${name} on %s`, (kind) => {
      const r = compare(name, suite.windowMs, (suite.cases[kind] as () => Case)());
      expect(r.mismatches).toEqual([]);
      // The comparison saw forecasts and ETAs, not only empty slots.
      expect(r.forecasts).toBeGreaterThan(r.evaluations / 2);
      if (!["gc-flat", "deploy-step", "warmup"].includes(kind)) expect(r.etas).toBeGreaterThan(0);
    });
  }
});
