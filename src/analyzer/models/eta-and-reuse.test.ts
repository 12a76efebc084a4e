import { describe, expect, it } from "vitest";
import { generateScenario, type ScenarioKind } from "../../../test/fixtures/scenarios/disks.js";
import { createModel, MODEL_NAMES, type ModelName } from "./index.js";
import type { ForecastModel, TrendForecast } from "./model.js";

/**
 * Two promises of the models that offer `eta`, checked on seeded disk scenarios sampled every
 * minute and evaluated every 10 s (five evaluations of six see no new sample):
 * - `eta` is exactly `predict`'s `etaMs` (NaN for none);
 * - a forecast repeated without a new sample (which reuses the slot's fits and envelope) equals
 *   one made from scratch, as a model gives after forecasting another slot in between.
 */

const MIN = 60_000;
const EVERY_MS = 10_000;
const WINDOWS: Partial<Record<ModelName, number>> = { linear_trend: 6 * 60 * MIN, sawtooth_trend: 3 * 24 * 60 * MIN };
const KINDS: ScenarioKind[] = ["linear", "logrotate", "backup-bursts", "gaps"];

interface Mismatch {
  atMs: number;
  threshold: number;
  reused: TrendForecast | undefined;
  fresh: TrendForecast | undefined;
  eta: number;
}

/** Replays a scenario into `reusing` (slot a) and `fresh` (slots a and a decoy), comparing every evaluation's forecasts. */
function compare(name: ModelName, kind: ScenarioKind): { evaluations: number; forecasts: number; etas: number; mismatches: Mismatch[] } {
  const windowMs = WINDOWS[name] as number;
  const s = generateScenario(kind, { seed: 3, intervalMs: MIN, durationMs: 4 * 24 * 60 * MIN });
  const reusing = createModel(name, windowMs);
  const fresh = createModel(name, windowMs);
  const a = reusing.allocate();
  const f = fresh.allocate();
  const decoy = fresh.allocate();
  const mismatches: Mismatch[] = [];
  let evaluations = 0;
  let forecasts = 0;
  let etas = 0;
  let next = Math.ceil((s.timesMs[0] as number) / EVERY_MS) * EVERY_MS;
  for (let i = 0; i < s.timesMs.length; i++) {
    const t = s.timesMs[i] as number;
    for (; next < t; next += EVERY_MS) {
      evaluations++;
      // A threshold below the level too, where the ETA is "now".
      for (const threshold of [100, 60]) {
        const reused = reusing.predict(a, next, threshold, 24 * 60 * MIN, 10);
        const eta = (reusing.eta as NonNullable<ForecastModel["eta"]>).call(reusing, a, next, threshold, 24 * 60 * MIN, 10);
        fresh.predict(decoy, next, threshold, 24 * 60 * MIN, 10);
        const made = fresh.predict(f, next, threshold, 24 * 60 * MIN, 10);
        if (reused) forecasts++;
        if (!Number.isNaN(eta)) etas++;
        if (!same(reused, made) || !Object.is(eta, reused?.etaMs ?? NaN)) mismatches.push({ atMs: next, threshold, reused, fresh: made, eta });
      }
    }
    const v = s.values[i] as number;
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

  it("covers the disk rules' models", () => {
    expect(withEta).toEqual(expect.arrayContaining(["linear_trend", "sawtooth_trend"]));
    for (const n of withEta) expect(WINDOWS[n], `add a window for ${n}`).toBeGreaterThan(0);
  });

  for (const name of withEta) {
    it.each(KINDS)(`${name} on %s`, (kind) => {
      const r = compare(name, kind);
      expect(r.mismatches).toEqual([]);
      // The comparison saw forecasts and ETAs, not only empty slots.
      expect(r.forecasts).toBeGreaterThan(r.evaluations);
      expect(r.etas).toBeGreaterThan(0);
    });
  }
});
