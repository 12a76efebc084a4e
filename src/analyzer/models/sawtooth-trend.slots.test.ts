import { describe, expect, it } from "vitest";
import type { TrendForecast } from "./linear-trend.js";
import { SawtoothTrend } from "./sawtooth-trend.js";
import { generateScenario, SCENARIO_KINDS, type Scenario } from "../../../test/fixtures/scenarios/disks.js";

// SawtoothTrend keeps each slot's state in one block of a shared array and its finished segments
// in a shared ring, both copied when the pool grows. Growing from one slot while series are in
// flight (their rings already holding resets), and releasing slots for reuse, must leave every
// series forecasting exactly as the same samples fed to a model of its own.

const H = 3_600_000;
const D = 24 * H;
const WINDOW_MS = 3 * D;
const SERIES = 24;
/** Samples between checks of every live series. */
const CHECK_EVERY = 240;
/** Sample index at which some series lose their slot and start over in a fresh one. */
const RESTART_AT = 4000;

interface Series {
  scenario: Scenario;
  /** Sample index of the first sample. */
  start: number;
  /** The model it must match: restarted with the series. */
  alone: SawtoothTrend;
  slot: number;
}

/** Series k: kind k mod 6, seed k; the first 12 start early, the rest after the early ones have seen resets. */
function makeSeries(k: number): Omit<Series, "alone" | "slot"> {
  const kind = SCENARIO_KINDS[k % SCENARIO_KINDS.length]!;
  return { scenario: generateScenario(kind, { seed: k + 1, intervalMs: 60_000, durationMs: 4 * D }), start: k < 12 ? k * 10 : 3000 + k * 10 };
}

function check(shared: SawtoothTrend, s: Series, nowMs: number): TrendForecast | undefined {
  const want = s.alone.predict(0, nowMs, 100, 24 * H);
  expect(shared.predict(s.slot, nowMs, 100, 24 * H)).toEqual(want);
  expect(shared.samples(s.slot)).toBe(s.alone.samples(0));
  expect(shared.lastTimeMs(s.slot)).toBe(s.alone.lastTimeMs(0));
  expect(shared.resets(s.slot)).toBe(s.alone.resets(0));
  return want;
}

describe("SawtoothTrend slots", () => {
  it("forecasts as a lone model through growth from one slot and release/reuse", () => {
    const shared = new SawtoothTrend(WINDOW_MS, { initialCapacity: 1 });
    const pending = Array.from({ length: SERIES }, (_, k) => makeSeries(k));
    const live: Series[] = [];
    const length = Math.max(...pending.map((p) => p.scenario.timesMs.length));
    let forecasts = 0;
    let withEta = 0;
    let maxResets = 0;
    let restarts = 0;
    for (let i = 0; i < length; i++) {
      for (const p of pending) {
        if (p.start !== i) continue;
        const alone = new SawtoothTrend(WINDOW_MS);
        alone.allocate();
        live.push({ ...p, alone, slot: shared.allocate() });
      }
      for (const [k, s] of live.entries()) {
        // Every fifth series (two daily saws among them, with resets in their rings) starts over in a
        // fresh slot, handed out from those just released in reverse order: most get another's old slot.
        if (i === RESTART_AT && k % 5 === 2) {
          shared.release(s.slot);
          s.alone = new SawtoothTrend(WINDOW_MS);
          s.alone.allocate();
          restarts++;
        }
      }
      if (i === RESTART_AT) for (const [k, s] of live.entries()) if (k % 5 === 2) s.slot = shared.allocate();
      for (const s of live) {
        const t = s.scenario.timesMs[i - s.start];
        if (t === undefined) continue;
        const v = s.scenario.values[i - s.start]!;
        shared.observe(s.slot, t, v);
        s.alone.observe(0, t, v);
        if (i % CHECK_EVERY !== 0) continue;
        const f = check(shared, s, t);
        if (f !== undefined) forecasts++;
        if (f?.etaMs != null) withEta++;
        maxResets = Math.max(maxResets, shared.resets(s.slot));
      }
    }
    // The pool grew 1 → 32 and the comparisons saw forecasts, ETAs, slots with rings in use, and restarts.
    expect(shared.slotCount).toBe(SERIES);
    expect(restarts).toBe(5);
    expect(forecasts).toBeGreaterThan(200);
    expect(withEta).toBeGreaterThan(20);
    expect(maxResets).toBeGreaterThanOrEqual(3);
  });
});
