import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { LinearTrend } from "./linear-trend.js";
import type { ForecastModel } from "./model.js";
import { RobustTrend } from "./robust-trend.js";

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

function feed(model: ForecastModel, slot: number, fromMs: number, toMs: number, stepMs: number, f: (tMs: number) => number): number {
  let last = fromMs;
  for (let t = fromMs; t < toMs; t += stepMs) {
    model.observe(slot, t, f(t));
    last = t;
  }
  return last;
}

describe("RobustTrend", () => {
  it("fits the ForecastModel interface, as LinearTrend does", () => {
    const models: ForecastModel[] = [new RobustTrend(H), new LinearTrend(H)];
    expect(models.map((m) => m.windowMs)).toEqual([H, H]);
  });

  it("recovers slope and ETA on a noiseless line", () => {
    const m = new RobustTrend(6 * H);
    const s = m.allocate();
    const last = feed(m, s, 0, 6 * H, 15 * S, (t) => 10 + t / H); // 1 % per hour
    const p = m.predict(s, last, 100, 24 * H, 5)!;
    expect(p.slopePerMs * H).toBeCloseTo(1, 9);
    expect(p.etaMs! / H).toBeCloseTo(90, 3);
    expect(p.etaLowMs!).toBeLessThanOrEqual(p.etaMs! + 1);
    expect(p.etaHighMs!).toBeGreaterThanOrEqual(p.etaMs! - 1);
    expect(p.confidence).toBeGreaterThan(0.999);
  });

  it("keeps precision with byte values and epoch timestamps", () => {
    const m = new RobustTrend(6 * H);
    const s = m.allocate();
    const t0 = 1_700_000_000_000;
    const last = feed(m, s, t0, t0 + 6 * H, 15 * S, (t) => 4e11 + (t - t0) * 1000); // +1 MB/s
    const p = m.predict(s, last, 8e11, 24 * H)!;
    expect(p.slopePerMs * S).toBeCloseTo(1e6, 0);
    expect(Math.abs(p.etaMs! - (t0 + 4e5 * S)) / H).toBeLessThan(0.01);
  });

  it("ignores a backup burst that is deleted within the persistence time; LinearTrend fires on it", () => {
    const rand = seededRandom(7);
    const robust = new RobustTrend(6 * H);
    const linear = new LinearTrend(6 * H);
    const rs = robust.allocate();
    const ls = linear.allocate();
    // Flat at 60 % with a 20 % backup filled over 30 min from 4 h, held 1 h, then deleted.
    const level = (t: number): number => 60 + (t < 4 * H || t >= 5.5 * H ? 0 : 20 * Math.min(1, (t - 4 * H) / (30 * MIN)));
    let worstRobust = Infinity;
    let worstLinear = Infinity;
    for (let t = 0; t < 8 * H; t += 15 * S) {
      const v = level(t) + 0.3 * gaussian(rand);
      robust.observe(rs, t, v);
      linear.observe(ls, t, v);
      if (t % MIN !== 0) continue;
      const r = robust.predict(rs, t, 100, 24 * H, 5)?.etaMs ?? null;
      const l = linear.predict(ls, t, 100, 24 * H, 5)?.etaMs ?? null;
      if (r !== null) worstRobust = Math.min(worstRobust, r - t);
      if (l !== null) worstLinear = Math.min(worstLinear, l - t);
    }
    expect(worstLinear).toBeLessThan(24 * H);
    expect(worstRobust).toBeGreaterThan(48 * H);
  });

  it("counts a lasting step up 2–3.5 h after it (persistence horizon / 12, then the level's median)", () => {
    const m = new RobustTrend(6 * H);
    const s = m.allocate();
    const rand = seededRandom(3);
    // Flat at 50 %, a permanent step to 70 % at 3 h: a lasting fill, not a burst.
    const step = (t: number): number => (t < 3 * H ? 50 : 70) + 0.2 * gaussian(rand);
    let last = feed(m, s, 0, 3 * H + 30 * MIN, 15 * S, step);
    const early = m.predict(s, last, 100, 24 * H, 5)!;
    expect(early.fittedNow).toBeLessThan(52); // 30 min in: not yet persistent
    last = feed(m, s, last + 15 * S, 6 * H + 30 * MIN, 15 * S, step);
    const late = m.predict(s, last, 100, 24 * H, 5)!;
    expect(late.fittedNow).toBeGreaterThan(69); // 3.5 h in: counted
  });

  it("puts the true crossing inside [eta_low, eta_high] in ≥ 85% of 100 noisy trials, median error < 5%", () => {
    let inside = 0;
    const errors: number[] = [];
    for (let trial = 0; trial < 100; trial++) {
      const rand = seededRandom(100 + trial);
      const m = new RobustTrend(6 * H);
      const s = m.allocate();
      const slope = 1 / H; // 1 % per hour from 40 %, noise σ 0.5 %
      const last = feed(m, s, 0, 6 * H, 15 * S, (t) => 40 + slope * t + 0.5 * gaussian(rand));
      const truth = 60 / slope;
      const p = m.predict(s, last, 100, 24 * H, 5)!;
      errors.push(Math.abs(p.etaMs! - truth) / (truth - last));
      if (p.etaLowMs !== null && p.etaLowMs <= truth && (p.etaHighMs === null || truth <= p.etaHighMs)) inside++;
    }
    errors.sort((a, b) => a - b);
    expect(inside / 100).toBeGreaterThanOrEqual(0.85);
    expect(errors[50]!).toBeLessThan(0.05);
  });

  it("gives no ETA on a flat or falling series", () => {
    const m = new RobustTrend(H);
    const flat = m.allocate();
    const falling = m.allocate();
    const last = feed(m, flat, 0, H, 10 * S, () => 42);
    feed(m, falling, 0, H, 10 * S, (t) => 80 - t / MIN);
    expect(m.predict(flat, last, 100, 4 * H)!.etaMs).toBeNull();
    const p = m.predict(falling, last, 100, 4 * H)!;
    expect(p.etaMs).toBeNull();
    expect(p.etaHighMs).toBeNull();
    expect(p.confidence).toBeLessThan(0.001);
  });

  it("says now when the latest value is at the threshold", () => {
    const m = new RobustTrend(H);
    const s = m.allocate();
    const last = feed(m, s, 0, H, 10 * S, (t) => (t < H - 20 * S ? 50 : 100));
    const p = m.predict(s, last + 5 * S, 100, 4 * H)!;
    expect(p.etaMs).toBe(last + 5 * S);
  });

  it("returns undefined below minSamples, before enough buckets have persisted, and when stale", () => {
    const m = new RobustTrend(6 * H);
    const s = m.allocate();
    expect(m.predict(s, 0, 100, H)).toBeUndefined();
    let last = feed(m, s, 0, 60 * MIN, 15 * S, (t) => t / H);
    expect(m.predict(s, last, 100, 24 * H)).toBeUndefined(); // 2 h persistence not reached yet
    expect(m.predict(s, last, 100, 4 * H)).toBeDefined(); // 20 min suffices for a 4 h horizon
    last = feed(m, s, last + 15 * S, 3 * H, 15 * S, (t) => t / H);
    expect(m.predict(s, last, 100, 24 * H)).toBeDefined();
    expect(m.predict(s, last + 6 * H + 1, 100, 24 * H)).toBeUndefined();
  });

  it("restarts after a gap longer than the window and tolerates shorter gaps", () => {
    const m = new RobustTrend(6 * H);
    const s = m.allocate();
    let last = feed(m, s, 0, 2 * H, 15 * S, (t) => 10 + t / H);
    last = feed(m, s, last + 2 * H, 6 * H, 15 * S, (t) => 10 + t / H); // 2 h gap: kept
    expect(m.predict(s, last, 100, 24 * H)!.slopePerMs * H).toBeCloseTo(1, 6);
    m.observe(s, last + 7 * H, 5);
    expect(m.samples(s)).toBe(1);
  });

  it("accepts late samples into their bucket", () => {
    const m = new RobustTrend(H);
    const s = m.allocate();
    const order = Array.from({ length: 360 }, (_, i) => i);
    [order[100], order[101]] = [order[101]!, order[100]!];
    for (const i of order) m.observe(s, i * 10 * S, i);
    const p = m.predict(s, 3590 * S, 1000, H)!;
    expect(p.slopePerMs * 10 * S).toBeCloseTo(1, 9);
    expect(p.lastValue).toBe(359);
    expect(m.samples(s)).toBe(360);
  });

  it("keeps slots independent, grows past its capacity and reuses released slots", () => {
    const m = new RobustTrend(H, { initialCapacity: 2 });
    const slots = Array.from({ length: 10 }, () => m.allocate());
    slots.forEach((s, k) => feed(m, s, 0, H, 10 * S, (t) => k + (k * t) / H));
    for (const [k, s] of slots.entries()) expect(m.predict(s, H - 10 * S, 1e9, H)!.slopePerMs * H).toBeCloseTo(k, 6);
    m.release(slots[3]!);
    expect(m.slotCount).toBe(9);
    expect(m.allocate()).toBe(slots[3]);
    expect(m.samples(slots[3]!)).toBe(0);
    expect(m.lastTimeMs(slots[3]!)).toBeNaN();
  });
});
