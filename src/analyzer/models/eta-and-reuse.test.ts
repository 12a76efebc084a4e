import { describe, expect, it } from "vitest";
import { generateScenario, type ScenarioKind } from "../../../test/fixtures/scenarios/disks.js";
import { generateMemoryScenario, type MemoryScenarioKind } from "../../../test/fixtures/scenarios/memory.js";
import { seededRandom } from "../test-helpers.js";
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
const T0 = 1_700_000_000_000;

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

describe("models with eta under irregular use: late and NaN samples, restarts, slot reuse, time going back", () => {
  const withEta = MODEL_NAMES.filter((n) => createModel(n, 60 * MIN).eta !== undefined);

  it.each(withEta)("%s: reused forecasts equal fresh ones, and eta equals predict's ETA", (name) => {
    const windowMs = SUITES[name]!.windowMs;
    const rand = seededRandom(7);
    const reusing = createModel(name, windowMs);
    const fresh = createModel(name, windowMs);
    const decoy = fresh.allocate();
    // Slot pairs holding the same samples in both models.
    const slots = [0, 1, 2].map(() => [reusing.allocate(), fresh.allocate()] as [number, number]);
    const mismatches: string[] = [];
    let t = T0;
    let level = 50;
    let k = 0;
    for (let step = 0; step < 20_000 && mismatches.length < 3; step++) {
      // Mostly the same slot in a row: a reuse needs forecasts of one slot with its changes between them.
      if (rand() < 0.2) k = Math.floor(rand() * slots.length);
      const [r, f] = slots[k]!;
      const u = rand();
      if (u < 0.5) {
        // A sample: mostly on time, some late, some after a gap longer than the window, some NaN.
        const last = reusing.lastTimeMs(r);
        const late = rand() < 0.1 && !Number.isNaN(last);
        const gap = rand() < 0.002 ? 2 * windowMs : 0;
        t += late ? 0 : 30_000 + gap;
        level += (rand() - 0.4) * 0.5 - (rand() < 0.01 ? 20 : 0);
        const v = rand() < 0.01 ? NaN : late ? level + 5 : level;
        const at = late ? last - 20_000 : t;
        reusing.observe(r, at, v);
        fresh.observe(f, at, v);
        // The decoy needs samples: a forecast of an empty slot returns before it fits anything.
        fresh.observe(decoy, at, v);
      } else if (u < 0.501) {
        // The slot is released and handed out again (to a new series).
        reusing.release(r);
        fresh.release(f);
        slots[k] = [reusing.allocate(), fresh.allocate()];
      } else {
        // A forecast now, a little later or earlier, against assorted thresholds and minimum samples.
        const at = t + Math.floor((rand() - 0.2) * 120_000);
        const threshold = [100, 60, level - 1, Infinity, NaN][Math.floor(rand() * 5)]!;
        const minSamples = [undefined, 3, 20][Math.floor(rand() * 3)];
        const horizonMs = rand() < 0.5 ? 4 * 60 * MIN : 24 * 60 * MIN;
        const eta = (reusing.eta as NonNullable<ForecastModel["eta"]>).call(reusing, r, at, threshold, horizonMs, minSamples);
        const reused = reusing.predict(r, at, threshold, horizonMs, minSamples);
        fresh.predict(decoy, at, threshold, horizonMs, minSamples);
        const made = fresh.predict(f, at, threshold, horizonMs, minSamples);
        if (!same(reused, made)) mismatches.push(`step ${step}: predict differs`);
        if (!Object.is(eta, reused?.etaMs ?? NaN)) mismatches.push(`step ${step}: eta ${eta} vs ${reused?.etaMs}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
