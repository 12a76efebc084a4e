import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { LinearTrend } from "./linear-trend.js";
import { studentTCdf, tQuantile975 } from "./stats.js";

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

function feed(model: LinearTrend, slot: number, n: number, stepMs: number, f: (tMs: number, i: number) => number, t0 = 0): number {
  let t = t0;
  for (let i = 0; i < n; i++) {
    t = t0 + i * stepMs;
    model.observe(slot, t, f(t, i));
  }
  return t;
}

describe("LinearTrend", () => {
  it("recovers slope and ETA exactly on a noiseless line", () => {
    const m = new LinearTrend(6 * H);
    const s = m.allocate();
    // 10 % + 1 % per minute, every 10 s.
    const last = feed(m, s, 100, 10 * S, (t) => 10 + t / MIN);
    const p = m.predict(s, last, 100, 4 * H, 10)!;
    expect(p.slopePerMs * MIN).toBeCloseTo(1, 9);
    expect(p.etaMs!).toBeCloseTo(90 * MIN, -1); // within 10 ms
    expect(p.etaLowMs!).toBeLessThanOrEqual(p.etaMs! + 1);
    expect(p.etaHighMs!).toBeGreaterThanOrEqual(p.etaMs! - 1);
    expect(p.confidence).toBe(1);
    expect(p.forecastValue).toBeCloseTo(10 + (last + 4 * H) / MIN, 6);
  });

  it("keeps precision with large values (bytes) and epoch timestamps", () => {
    const m = new LinearTrend(2 * H);
    const s = m.allocate();
    const t0 = 1_700_000_000_000;
    const last = feed(m, s, 200, 15 * S, (t) => 4e9 + (t - t0) * 1000, t0); // +1 MB/s
    const p = m.predict(s, last, 8e9, 4 * H)!;
    expect(p.slopePerMs * S).toBeCloseTo(1e6, 0);
    expect(Math.abs(p.etaMs! - (t0 + 4000 * S))).toBeLessThan(S);
  });

  it("puts the true crossing inside [eta_low, eta_high] in ≥ 90% of 200 noisy trials", () => {
    let inside = 0;
    const errors: number[] = [];
    for (let trial = 0; trial < 200; trial++) {
      const rand = seededRandom(trial + 1);
      const m = new LinearTrend(6 * H);
      const s = m.allocate();
      // 0.1 % per minute from 20 %, noise σ = 1 %, 6 h of 15 s samples.
      const slope = 0.1 / MIN;
      const last = feed(m, s, 1440, 15 * S, (t) => 20 + slope * t + gaussian(rand));
      const truth = 80 / slope;
      const p = m.predict(s, last, 100, 4 * H, 10)!;
      errors.push(Math.abs(p.etaMs! - truth) / (truth - last));
      if (p.etaLowMs !== null && p.etaLowMs <= truth && (p.etaHighMs === null || truth <= p.etaHighMs)) inside++;
    }
    errors.sort((a, b) => a - b);
    expect(inside / 200).toBeGreaterThanOrEqual(0.9);
    expect(errors[100]!).toBeLessThan(0.02); // median ETA error < 2% of the time remaining
  });

  it("gives no ETA and confidence 0.5 on a flat series", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    const last = feed(m, s, 50, 10 * S, () => 42);
    const p = m.predict(s, last, 100, 4 * H)!;
    expect(p.etaMs).toBeNull();
    expect(p.etaHighMs).toBeNull();
    expect(p.confidence).toBe(0.5);
    expect(p.slopePerMs).toBe(0);
  });

  it("gives low confidence and no ETA within the horizon on a noisy flat series", () => {
    let sum = 0;
    for (let trial = 0; trial < 50; trial++) {
      const rand = seededRandom(500 + trial);
      const m = new LinearTrend(H);
      const s = m.allocate();
      const last = feed(m, s, 360, 10 * S, () => 50 + gaussian(rand));
      const p = m.predict(s, last, 100, 4 * H)!;
      sum += p.confidence;
      if (p.etaMs !== null) expect(p.etaMs - last).toBeGreaterThan(4 * H);
    }
    expect(sum / 50).toBeGreaterThan(0.3);
    expect(sum / 50).toBeLessThan(0.7);
  });

  it("gives no ETA on a decreasing series", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    const last = feed(m, s, 50, 10 * S, (t) => 80 - t / MIN);
    const p = m.predict(s, last, 100, 4 * H)!;
    expect(p.etaMs).toBeNull();
    expect(p.etaHighMs).toBeNull();
    expect(p.confidence).toBe(0);
  });

  it("says now when the latest value is already at the threshold", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    const last = feed(m, s, 20, 10 * S, (_t, i) => (i < 19 ? 50 : 100));
    const p = m.predict(s, last + 5 * S, 100, 4 * H)!;
    expect(p.etaMs).toBe(last + 5 * S);
    expect(p.etaLowMs).toBe(last + 5 * S);
  });

  it("returns undefined below minSamples, when stale, and for empty slots", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    expect(m.predict(s, 0, 100, H)).toBeUndefined();
    const last = feed(m, s, 9, 10 * S, (t) => t / MIN);
    expect(m.predict(s, last, 100, H, 10)).toBeUndefined();
    m.observe(s, last + 10 * S, 2);
    expect(m.predict(s, last + 10 * S, 100, H, 10)).toBeDefined();
    expect(m.predict(s, last + 10 * S + H + 1, 100, H, 10)).toBeUndefined();
  });

  it("restarts a series after a gap longer than the window", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    const last = feed(m, s, 20, 10 * S, (t) => t / MIN);
    m.observe(s, last + 2 * H, 5);
    expect(m.samples(s)).toBe(1);
  });

  it("keeps slots independent, grows past its capacity and reuses released slots", () => {
    const m = new LinearTrend(H, { initialCapacity: 2 });
    const slots = Array.from({ length: 10 }, () => m.allocate());
    slots.forEach((s, k) => feed(m, s, 30, 10 * S, (t) => k + (k * t) / MIN));
    for (const [k, s] of slots.entries()) {
      const p = m.predict(s, 290 * S, 1e9, H)!;
      expect(p.slopePerMs * MIN).toBeCloseTo(k, 6);
    }
    m.release(slots[3]!);
    expect(m.slotCount).toBe(9);
    expect(m.allocate()).toBe(slots[3]);
    expect(m.samples(slots[3]!)).toBe(0);
  });

  it("accepts a late sample without moving its origin", () => {
    const m = new LinearTrend(H);
    const s = m.allocate();
    for (const i of [0, 1, 2, 4, 5, 3, 6, 7, 8, 9]) m.observe(s, i * 10 * S, i);
    const p = m.predict(s, 90 * S, 100, H)!;
    expect(p.slopePerMs * 10 * S).toBeCloseTo(1, 9);
    expect(p.lastValue).toBe(9);
  });

  // Flat for 1 h, then 0.1 %/min (6 h window, 15 s samples): the short scales take over.
  it.each([
    // [rising samples, noise σ, max median relative ETA error]
    [40, 0, 0.05],
    [80, 0, 0.01],
    [160, 0.3, 0.1],
    [320, 1, 0.1],
  ])("forecasts a flat-then-rising series after %i rising samples (σ=%d) within %d", (rising, sigma, maxErr) => {
    const errors: number[] = [];
    for (let trial = 0; trial < 50; trial++) {
      const rand = seededRandom(1000 + trial);
      const m = new LinearTrend(6 * H);
      const s = m.allocate();
      feed(m, s, 240, 15 * S, () => 50 + sigma * gaussian(rand));
      const t0 = 240 * 15 * S;
      const rate = 0.1 / MIN;
      const last = feed(m, s, rising, 15 * S, (t) => 50 + rate * (t - t0) + sigma * gaussian(rand), t0 + 15 * S);
      const p = m.predict(s, last, 100, 4 * H, 10)!;
      const truth = t0 + 50 / rate;
      errors.push(p.etaMs === null ? Infinity : Math.abs(p.etaMs - truth) / (truth - last));
    }
    errors.sort((a, b) => a - b);
    expect(errors[25]!).toBeLessThan(maxErr);
  });
});

describe("LinearTrend state layout", () => {
  // Each slot's sums live in one interleaved block, and exp(-dt/τ) is cached for the latest dt:
  // neither may let one slot's samples change another's forecast, nor change any forecast at all.
  const forecast = (m: LinearTrend, slot: number, nowMs: number) => m.predict(slot, nowMs, 100, 4 * H, 3);

  it("forecasts each slot as if it were alone, whatever intervals the other slots are sampled at", () => {
    const shared = new LinearTrend(H);
    const alone = [new LinearTrend(H), new LinearTrend(H), new LinearTrend(H)];
    const slots = alone.map(() => shared.allocate());
    for (const m of alone) m.allocate();
    // Slot 0 every 15 s, slot 1 every 10 s, slot 2 irregularly, with a late sample and a gap that restarts it.
    const steps: Array<[number, number]> = [];
    for (let t = 0; t < 30 * MIN; t += 15 * S) steps.push([0, t]);
    for (let t = 0; t < 30 * MIN; t += 10 * S) steps.push([1, t]);
    let t2 = 0;
    for (let i = 0; t2 < 30 * MIN; i++) steps.push([2, (t2 += [7, 15, 23, 15][i % 4]! * S)]);
    steps.push([2, 10 * MIN + 3 * S]);
    steps.sort((a, b) => a[1] - b[1]);
    steps.push([2, 30 * MIN + 2 * H], [2, 30 * MIN + 2 * H + 15 * S], [2, 30 * MIN + 2 * H + 30 * S], [2, 30 * MIN + 2 * H + 40 * S]);
    for (const [i, t] of steps) {
      const v = 10 + t / MIN + Math.sin(t / 7000) * (i + 1);
      shared.observe(slots[i]!, t, v);
      alone[i]!.observe(0, t, v);
    }
    for (let i = 0; i < 3; i++) {
      const now = i === 2 ? 30 * MIN + 2 * H + 40 * S : 30 * MIN;
      const want = forecast(alone[i]!, 0, now);
      expect(want).toBeDefined();
      expect(forecast(shared, slots[i]!, now)).toEqual(want);
      expect(shared.samples(slots[i]!)).toBe(alone[i]!.samples(0));
    }
  });

  it("keeps every slot's state when the state grows, and starts a released slot afresh", () => {
    const small = new LinearTrend(H, { initialCapacity: 1 });
    const big = new LinearTrend(H, { initialCapacity: 512 });
    const slots: number[] = [];
    // A new slot every step, so the small model regrows (1 → 2 → … → 256) between samples.
    for (let step = 0; step < 200; step++) {
      slots.push(small.allocate());
      expect(big.allocate()).toBe(slots[slots.length - 1]);
      for (const s of slots) {
        const v = 50 + s + step * (s % 5) * 0.01;
        small.observe(s, step * 10 * S, v);
        big.observe(s, step * 10 * S, v);
      }
    }
    const now = 199 * 10 * S;
    for (const s of slots) expect(forecast(small, s, now)).toEqual(forecast(big, s, now));
    expect(small.bytes).toBeLessThan(big.bytes);

    small.release(slots[7]!);
    const again = small.allocate();
    expect(again).toBe(slots[7]);
    expect(small.samples(again)).toBe(0);
    expect(small.lastTimeMs(again)).toBeNaN();
    const fresh = new LinearTrend(H);
    fresh.allocate();
    for (let k = 0; k < 10; k++) {
      small.observe(again, now + k * S, 3 * k);
      fresh.observe(0, now + k * S, 3 * k);
    }
    expect(forecast(small, again, now + 9 * S)).toEqual(forecast(fresh, 0, now + 9 * S));
  });
});

describe("stats", () => {
  it("has the published t quantiles", () => {
    expect(tQuantile975(1)).toBeCloseTo(12.706, 3);
    expect(tQuantile975(10)).toBeCloseTo(2.228, 3);
    expect(tQuantile975(30)).toBeCloseTo(2.042, 3);
    expect(tQuantile975(60)).toBeCloseTo(2.0, 3);
    expect(tQuantile975(1e6)).toBeCloseTo(1.96, 3);
    expect(tQuantile975(10.5)).toBeGreaterThan(tQuantile975(11));
  });

  it("has a Student-t CDF consistent with the quantiles", () => {
    for (const df of [1, 2, 5, 10, 30]) expect(studentTCdf(tQuantile975(df), df)).toBeCloseTo(0.975, 3);
    expect(studentTCdf(0, 4)).toBeCloseTo(0.5, 12);
    expect(studentTCdf(-1.5, 7)).toBeCloseTo(1 - studentTCdf(1.5, 7), 12);
    expect(studentTCdf(1.96, 1e7)).toBeCloseTo(0.975, 4);
  });
});

describe("LinearTrend predict scratch state", () => {
  it("gives the same forecast whether slots are predicted alone, interleaved or again after new samples", () => {
    const rand = seededRandom(9);
    const series = [(t: number) => 20 + t / MIN + gaussian(rand), (t: number) => 50 - t / (2 * MIN) + 0.1 * gaussian(rand), () => 70 + gaussian(rand)];
    const shared = new LinearTrend(6 * H);
    const slots = series.map(() => shared.allocate());
    const alone = series.map(() => new LinearTrend(6 * H));
    const aloneSlots = alone.map((m) => m.allocate());
    for (let i = 0; i < 400; i++) {
      const t = i * 15 * S;
      series.forEach((f, k) => {
        const v = f(t);
        shared.observe(slots[k]!, t, v);
        alone[k]!.observe(aloneSlots[k]!, t, v);
      });
      if (i % 37 !== 36) continue;
      for (const [threshold, horizonMs] of [[100, 4 * H], [60, H]] as const) {
        const interleaved = slots.map((s) => shared.predict(s, t + 5 * S, threshold, horizonMs));
        const again = slots.map((s) => shared.predict(s, t + 5 * S, threshold, horizonMs));
        const fresh = aloneSlots.map((s, k) => alone[k]!.predict(s, t + 5 * S, threshold, horizonMs));
        expect(interleaved).toEqual(fresh);
        expect(again).toEqual(fresh);
      }
    }
  });
});
