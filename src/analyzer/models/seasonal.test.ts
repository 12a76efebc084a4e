import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { SeasonalForecaster } from "./seasonal.js";

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const BUCKET_MS = 5 * MIN;

/** Daily load: two harmonics plus 5 units/day of growth. */
const daily = (tMs: number): number =>
  50 + 10 * Math.sin((2 * Math.PI * tMs) / D) + 4 * Math.sin((4 * Math.PI * tMs) / D + 1) + (5 * tMs) / D;

/** Weekdays busy, weekends quiet, plus a daily cycle and slow growth. */
const weekly = (tMs: number): number => {
  const day = Math.floor(tMs / D) % 7;
  const weekend = day >= 5 ? -15 : 0;
  return 40 + weekend + 8 * Math.sin((2 * Math.PI * tMs) / D) + (0.5 * tMs) / D;
};

function feed(f: SeasonalForecaster, slot: number, fromMs: number, toMs: number, stepMs: number, value: (t: number) => number): number {
  let last = fromMs;
  for (let t = fromMs; t < toMs; t += stepMs) {
    f.observe(slot, t, value(t));
    last = t;
  }
  return last;
}

/** Mean absolute error of bucket forecasts against the noise-free bucket centre over [from, to). */
function meanAbsError(f: SeasonalForecaster, slot: number, fromMs: number, toMs: number, truth: (t: number) => number, bucketMs: number): number {
  let sum = 0;
  let n = 0;
  for (let t = fromMs; t < toMs; t += bucketMs) {
    const centre = (Math.floor(t / bucketMs) + 0.5) * bucketMs;
    sum += Math.abs(f.forecastAt(slot, t)!.value - truth(centre));
    n++;
  }
  return sum / n;
}

/** First time (1 min resolution) the noise-free series reaches `threshold`. */
function trueCrossing(fromMs: number, threshold: number, truth: (t: number) => number): number {
  let t = fromMs;
  while (truth(t) < threshold) t += MIN;
  return t;
}

describe("SeasonalForecaster", () => {
  const seeds = Array.from({ length: 10 }, (_, i) => i + 1);

  it.each(seeds.map((seed) => ({ seed })))("forecasts trending daily load 3 days ahead, threshold crossing within 10% (seed $seed)", ({ seed }) => {
    const rand = seededRandom(seed);
    const f = new SeasonalForecaster({ bucketMs: BUCKET_MS });
    const s = f.allocate();
    const now = feed(f, s, 0, 14 * D, MIN, (t) => daily(t) + 1.5 * gaussian(rand));
    // Noise σ is 1.5 per sample (0.67 per 5 min bucket mean); the daily swing is ±13.
    expect(meanAbsError(f, s, now + BUCKET_MS, now + 3 * D, daily, BUCKET_MS)).toBeLessThan(1.5);
    // Peaks grow 5 a day: a threshold 7.5 above the last day's peak is missed by today's peak
    // by 2.5 and crossed on tomorrow's rising flank, so the crossing day is well defined.
    let peak = -Infinity;
    for (let t = now - D; t <= now; t += MIN) peak = Math.max(peak, daily(t));
    const threshold = peak + 7.5;
    const truthMs = trueCrossing(now, threshold, daily);
    const fc = f.forecast(s, now, threshold, 7 * D)!;
    expect(fc.etaMs).not.toBeNull();
    expect(Math.abs(fc.etaMs! - truthMs) / (truthMs - now)).toBeLessThan(0.1);
    expect(fc.etaLowMs!).toBeLessThanOrEqual(fc.etaMs!);
    if (fc.etaHighMs !== null) expect(fc.etaHighMs).toBeGreaterThanOrEqual(fc.etaMs!);
    expect(fc.slopePerMs * D).toBeGreaterThan(4);
    expect(fc.slopePerMs * D).toBeLessThan(6);
    expect(fc.confidence).toBeGreaterThan(0.9);
  });

  it("covers about 95% of next-day bucket means with its 95% band", () => {
    let inside = 0;
    let total = 0;
    for (const seed of seeds) {
      const rand = seededRandom(seed);
      const f = new SeasonalForecaster({ bucketMs: BUCKET_MS });
      const s = f.allocate();
      const now = feed(f, s, 0, 14 * D, MIN, (t) => daily(t) + 1.5 * gaussian(rand));
      for (let t = now + BUCKET_MS; t < now + D; t += BUCKET_MS) {
        const centre = (Math.floor(t / BUCKET_MS) + 0.5) * BUCKET_MS;
        const actual = daily(centre) + (1.5 * gaussian(rand)) / Math.sqrt(5);
        const p = f.forecastAt(s, t)!;
        if (actual >= p.low && actual <= p.high) inside++;
        total++;
      }
    }
    expect(inside / total).toBeGreaterThan(0.9);
    expect(inside / total).toBeLessThan(1);
  });

  it("says nothing before two seasons, and bridges short gaps", () => {
    const rand = seededRandom(7);
    const f = new SeasonalForecaster({ bucketMs: BUCKET_MS });
    const s = f.allocate();
    const early = feed(f, s, 0, 2 * D - H, MIN, (t) => daily(t) + gaussian(rand));
    expect(f.forecast(s, early, 1e9, D)).toBeUndefined();
    // Two 3-hour gaps, one during start-up and one after.
    feed(f, s, 2 * D + 2 * H, 6 * D, MIN, (t) => daily(t) + gaussian(rand));
    const now = feed(f, s, 6 * D + 3 * H, 12 * D, MIN, (t) => daily(t) + gaussian(rand));
    expect(f.ready(s)).toBe(true);
    expect(meanAbsError(f, s, now + BUCKET_MS, now + 2 * D, daily, BUCKET_MS)).toBeLessThan(1.5);
  });

  it("restarts after a gap longer than maxGapMs", () => {
    const f = new SeasonalForecaster({ bucketMs: H, seasonMs: D, maxGapMs: 12 * H });
    const s = f.allocate();
    feed(f, s, 0, 3 * D, 10 * MIN, daily);
    expect(f.ready(s)).toBe(true);
    feed(f, s, 4 * D, 5 * D, 10 * MIN, daily);
    expect(f.ready(s)).toBe(false);
  });

  it("returns null ETAs when the forecast stays under the threshold", () => {
    const f = new SeasonalForecaster({ bucketMs: BUCKET_MS });
    const s = f.allocate();
    const rand = seededRandom(3);
    const now = feed(f, s, 0, 10 * D, MIN, (t) => daily(t) + gaussian(rand));
    const fc = f.forecast(s, now, 1000, 2 * D)!;
    expect([fc.etaMs, fc.etaLowMs, fc.etaHighMs]).toEqual([null, null, null]);
    expect(fc.confidence).toBeLessThan(0.01);
    expect(fc.forecastLow).toBeLessThan(fc.forecastValue);
    expect(fc.forecastHigh).toBeGreaterThan(fc.forecastValue);
    // Already above: the ETA is now.
    const above = f.forecast(s, now, 0, D)!;
    expect(above.etaMs).toBe(now);
  });

  it("learns a weekly season with hourly buckets", () => {
    const rand = seededRandom(11);
    const f = new SeasonalForecaster({ bucketMs: H, seasonMs: 7 * D });
    expect(f.period).toBe(168);
    const s = f.allocate();
    const now = feed(f, s, 0, 28 * D, 5 * MIN, (t) => weekly(t) + gaussian(rand));
    // The next week includes a weekend drop of 15 that a daily season could not foresee.
    expect(meanAbsError(f, s, now + H, now + 7 * D, weekly, H)).toBeLessThan(1.5);
  });

  it("keeps slots independent across growth", () => {
    const f = new SeasonalForecaster({ bucketMs: H, initialCapacity: 1 });
    const slots = [f.allocate(), f.allocate(), f.allocate()];
    for (let t = 0; t < 5 * D; t += 10 * MIN) slots.forEach((s, i) => f.observe(s, t, 10 * i + daily(t)));
    const levels = slots.map((s) => f.forecastAt(s, 5 * D + H)!.value);
    expect(levels[1]! - levels[0]!).toBeCloseTo(10, 0);
    expect(levels[2]! - levels[1]!).toBeCloseTo(10, 0);
    f.release(slots[1]!);
    expect(f.allocate()).toBe(slots[1]);
    expect(f.ready(slots[1]!)).toBe(false);
  });
});
