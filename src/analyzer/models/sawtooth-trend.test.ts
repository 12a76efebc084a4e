import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { LinearTrend } from "./linear-trend.js";
import type { ForecastModel } from "./model.js";
import { SawtoothTrend } from "./sawtooth-trend.js";

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

/** Net growth `growthPerDay`, a log growing `rotatedPerDay` rotated away at every day boundary + phase. */
function saw(base: number, growthPerDay: number, rotatedPerDay: number, phaseMs = 0): (tMs: number) => number {
  return (t) => {
    const since = ((t - phaseMs) % D + D) % D;
    return base + (growthPerDay * t) / D + (rotatedPerDay * since) / D;
  };
}

/** First multiple of 1 min at which f reaches 100. */
function truthOf(f: (tMs: number) => number): number {
  let t = 0;
  while (f(t) < 100) t += MIN;
  return t;
}

function feed(models: ForecastModel[], slots: number[], fromMs: number, toMs: number, stepMs: number, f: (tMs: number) => number, sigma = 0, seed = 1): number {
  const rand = seededRandom(seed);
  let last = fromMs;
  for (let t = fromMs; t < toMs; t += stepMs) {
    const v = f(t) + sigma * gaussian(rand);
    models.forEach((m, i) => m.observe(slots[i]!, t, v));
    last = t;
  }
  return last;
}

describe("SawtoothTrend", () => {
  it("fits the ForecastModel interface", () => {
    const m: ForecastModel = new SawtoothTrend(7 * D);
    expect(m.windowMs).toBe(7 * D);
  });

  it.each([
    ["15 s, σ 0.3", 15 * S, 0.3],
    ["60 s, σ 0.5", 60 * S, 0.5],
  ])("finds every rotation and no false reset (%s)", (_name, stepMs, sigma) => {
    const m = new SawtoothTrend(7 * D);
    const s = m.allocate();
    feed([m], [s], 0, 5 * D, stepMs, saw(40, 2, 20, 6 * H), sigma);
    expect(m.resets(s)).toBe(5); // at 6 h on days 0..4
    const flat = m.allocate();
    feed([m], [flat], 0, 5 * D, stepMs, () => 50, sigma, 9);
    expect(m.resets(flat)).toBe(0);
  });

  it("sees net growth through the saw: ETA within 10% where LinearTrend is a day early", () => {
    const saws = new SawtoothTrend(7 * D);
    const linear = new LinearTrend(6 * H);
    const ss = saws.allocate();
    const ls = linear.allocate();
    // Troughs 52 + 5/day, a log of 20 %/day rotated at midnight: full late on day 5.
    const f = saw(52, 5, 20);
    const last = feed([saws, linear], [ss, ls], 0, 4 * D - 2 * H, 15 * S, f, 0.3);
    const truth = truthOf(f);
    expect(truth / D).toBeCloseTo(5.92, 2);
    const p = saws.predict(ss, last, 100, 24 * H, 5)!;
    expect(Math.abs(p.etaMs! - truth) / (truth - last)).toBeLessThan(0.1);
    expect(p.etaLowMs!).toBeLessThanOrEqual(truth);
    expect(p.etaHighMs!).toBeGreaterThanOrEqual(truth);
    expect(p.slopePerMs * D).toBeCloseTo(5, 0);
    expect(p.confidence).toBeGreaterThan(0.99);
    // The linear trend extrapolates today's ramp: full in under a day, two days too early.
    const l = linear.predict(ls, last, 100, 24 * H, 5)!;
    expect(l.etaMs! - last).toBeLessThan(24 * H);
  });

  it("does not read a rotation as a recovery", () => {
    const saws = new SawtoothTrend(7 * D);
    const linear = new LinearTrend(6 * H);
    const ss = saws.allocate();
    const ls = linear.allocate();
    const f = saw(52, 5, 20);
    const last = feed([saws, linear], [ss, ls], 0, 4 * D + 30 * MIN, 15 * S, f, 0.3); // 30 min after a rotation
    const truth = truthOf(f);
    const p = saws.predict(ss, last, 100, 24 * H, 5)!;
    expect(Math.abs(p.etaMs! - truth) / (truth - last)).toBeLessThan(0.1);
    const l = linear.predict(ls, last, 100, 24 * H, 5)!;
    expect(l.slopePerMs).toBeLessThan(0); // the drop dominates the short scales
  });

  it("gives no ETA for a saw without net growth", () => {
    const m = new SawtoothTrend(7 * D);
    const s = m.allocate();
    const f = saw(70, 0, 25);
    for (const hours of [4 * 24 + 3, 4 * 24 + 20, 5 * 24 + 12]) {
      const last = feed([m], [s], m.lastTimeMs(s) + 15 * S || 0, hours * H, 15 * S, f, 0.3, hours);
      const p = m.predict(s, last, 100, 24 * H, 5)!;
      if (p.etaMs !== null) expect(p.etaMs - last).toBeGreaterThan(7 * D);
      expect(p.confidence).toBeLessThan(0.99);
    }
  });

  it("forecasts a fill without resets as a straight line", () => {
    const m = new SawtoothTrend(7 * D);
    const s = m.allocate();
    const last = feed([m], [s], 0, 2 * D, 60 * S, (t) => 20 + (10 * t) / D, 0.3);
    const p = m.predict(s, last, 100, 24 * H, 5)!;
    expect(p.slopePerMs * D).toBeCloseTo(10, 1);
    expect(Math.abs(p.etaMs! - 8 * D) / (8 * D - last)).toBeLessThan(0.02);
    expect(p.etaLowMs!).toBeLessThanOrEqual(8 * D);
    expect(p.etaHighMs!).toBeGreaterThanOrEqual(8 * D);
  });

  it("makes no claim after a first drop until it repeats or a sixth of the window passes", () => {
    const m = new SawtoothTrend(7 * D);
    const s = m.allocate();
    const f = (t: number): number => (t < D ? 40 + (20 * t) / D : 30 + (20 * (t - D)) / D);
    let last = feed([m], [s], 0, D + 12 * H, 60 * S, f, 0.2);
    expect(m.resets(s)).toBe(1);
    // Still learning: watched, but no ETA and no confidence, so nothing alerts.
    expect(m.predict(s, last, 100, 24 * H, 5)).toMatchObject({ etaMs: null, etaLowMs: null, etaHighMs: null, confidence: 0 });
    last = feed([m], [s], last + 60 * S, D + 30 * H, 60 * S, f, 0.2, 2);
    const p = m.predict(s, last, 100, 24 * H, 5)!; // a one-off clean-up: a plain fill again
    expect(p.slopePerMs * D).toBeCloseTo(20, 0);
  });

  it("says now at the threshold; undefined below minSamples and when stale", () => {
    const m = new SawtoothTrend(D);
    const s = m.allocate();
    expect(m.predict(s, 0, 100, H)).toBeUndefined();
    const last = feed([m], [s], 0, 2 * H, 60 * S, (t) => (t < 2 * H - 5 * MIN ? 50 + t / H : 100));
    expect(m.predict(s, last, 100, H, 5)!.etaMs).toBe(last);
    expect(m.predict(s, last, 100, H, 1000)).toBeUndefined();
    expect(m.predict(s, last + D + 1, 100, H, 5)).toBeUndefined();
  });

  it("keeps slots independent, grows past its capacity and reuses released slots", () => {
    const m = new SawtoothTrend(D, { initialCapacity: 2 });
    const slots = Array.from({ length: 10 }, () => m.allocate());
    slots.forEach((s, k) => feed([m], [s], 0, 2 * H, 30 * S, (t) => k + (k * t) / H));
    for (const [k, s] of slots.entries()) expect(m.predict(s, 2 * H - 30 * S, 1e9, H)!.slopePerMs * H).toBeCloseTo(k, 6);
    m.release(slots[3]!);
    expect(m.slotCount).toBe(9);
    expect(m.allocate()).toBe(slots[3]);
    expect(m.samples(slots[3]!)).toBe(0);
    expect(m.resets(slots[3]!)).toBe(0);
  });
});
