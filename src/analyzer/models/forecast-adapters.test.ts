import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { CertExpiryModel } from "./cert-expiry.js";
import { LeakDetector } from "./leak-detector.js";
import type { ForecastModel } from "./model.js";
import { SeasonalForecaster } from "./seasonal.js";

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

describe("leak, seasonal and cert-expiry models through the ForecastModel contract", () => {
  it.each([
    { name: "leak", make: (): ForecastModel => new LeakDetector({ bucketMs: MIN, troughs: 16 }) },
    { name: "seasonal", make: (): ForecastModel => new SeasonalForecaster({ bucketMs: H }) },
    { name: "cert-expiry", make: (): ForecastModel => new CertExpiryModel() },
  ])("$name: slots, samples and lastTimeMs behave as the contract says", ({ make }) => {
    const m = make();
    const a = m.allocate();
    const b = m.allocate();
    expect(m.slotCount).toBe(2);
    expect(m.lastTimeMs(a)).toBeNaN();
    m.observe(a, 5 * S, 1e6);
    m.observe(a, 6 * S, Number.NaN);
    expect(m.samples(a)).toBe(1);
    expect(m.samples(b)).toBe(0);
    expect(m.lastTimeMs(a)).toBe(5 * S);
    expect(m.windowMs).toBeGreaterThan(0);
    m.release(a);
    expect(m.slotCount).toBe(1);
    expect(m.samples(m.allocate())).toBe(0);
  });

  it("leak: ETA only for a leak, toward the limit, with the peak line as fitted value", () => {
    const m = new LeakDetector({ bucketMs: MIN, troughs: 16 });
    const leaking = m.allocate();
    const flat = m.allocate();
    const rand = seededRandom(5);
    let t = 0;
    for (; t < 20 * MIN; t += 5 * S) {
      const saw = 50e6 * ((t % (30 * S)) / (30 * S));
      m.observe(leaking, t, 4e8 + t * 50 + saw + 1e5 * gaussian(rand)); // 50 kB/s
      m.observe(flat, t, 4e8 + saw + 1e5 * gaussian(rand));
    }
    const now = t - 5 * S;
    expect(m.predict(leaking, now, 1e9, H, 10_000)).toBeUndefined();
    const p = m.predict(leaking, now, 1e9, H)!;
    expect(p.slopePerMs * 1000).toBeCloseTo(50_000, -3);
    expect(p.fittedNow).toBeGreaterThan(4e8 + now * 50 + 40e6);
    expect(p.etaMs! - now).toBeGreaterThan(0);
    expect(p.confidence).toBeGreaterThan(0.99);
    const q = m.predict(flat, now, 1e9, H)!;
    expect(q.etaMs).toBeNull();
    expect(q.confidence).toBe(0);
  });

  it("seasonal: undefined before two seasons, then the forecast's ETA", () => {
    const m = new SeasonalForecaster({ bucketMs: H });
    const s = m.allocate();
    const rand = seededRandom(6);
    const value = (t: number): number => 50 + 10 * Math.sin((2 * Math.PI * t) / D) + (5 * t) / D + 0.5 * gaussian(rand);
    let t = 0;
    for (; t < D; t += 10 * MIN) m.observe(s, t, value(t));
    expect(m.predict(s, t, 100, D)).toBeUndefined();
    for (; t < 8 * D; t += 10 * MIN) m.observe(s, t, value(t));
    const now = t - 10 * MIN;
    const p = m.predict(s, now, 110, 7 * D)!;
    expect(p.etaMs).toBe(m.forecast(s, now, 110, 7 * D)!.etaMs);
    expect(p.etaMs! - now).toBeGreaterThan(D);
    expect(m.predict(s, now + 2 * D, 110, D)).toBeUndefined(); // stale
  });

  it("cert-expiry: ETA to N seconds left, exact; none when stale", () => {
    const m = new CertExpiryModel({ windowMs: D });
    const s = m.allocate();
    const notAfter = 30 * D;
    m.observe(s, 0, notAfter / 1000);
    const p = m.predict(s, H, 14 * 86_400, 20 * D)!;
    expect(p.etaMs).toBe(16 * D);
    expect([p.etaLowMs, p.etaHighMs]).toEqual([16 * D, 16 * D]);
    expect(p.forecastValue).toBe((notAfter - H - 20 * D) / 1000);
    expect(m.predict(s, 2 * D, 14 * 86_400, D)).toBeUndefined();
  });
});
