import { describe, expect, it } from "vitest";
import { seededRandom } from "../test-helpers.js";
import { CertExpiryModel } from "./cert-expiry.js";

const S = 1000;
const MIN = 60 * S;
const D = 86_400 * S;
const T0 = Date.UTC(2025, 0, 1);

/** Telegraf's expiry: whole seconds until notAfter, computed when the certificate was read. */
const expiryAt = (notAfterMs: number, readMs: number): number => Math.trunc((notAfterMs - readMs) / 1000);

describe("CertExpiryModel", () => {
  const cases = [
    { name: "14 days left (warning)", thresholdDays: 14 },
    { name: "3 days left (critical)", thresholdDays: 3 },
    { name: "0 days left (expiry itself)", thresholdDays: 0 },
  ];
  it.each(cases)("gives the exact time of $name, bounds equal, confidence 1, despite clock jitter", ({ thresholdDays }) => {
    const rand = seededRandom(thresholdDays + 1);
    const m = new CertExpiryModel();
    const s = m.allocate();
    const notAfter = T0 + 40 * D + 12_345;
    let t = T0;
    for (; t < T0 + 2 * D; t += 10 * MIN) {
      // The sample is stamped up to ±3 s away from when the certificate was actually read,
      // and one in 50 is stamped 5 min off.
      const skew = rand() < 0.02 ? 5 * MIN : (rand() - 0.5) * 6 * S;
      m.observe(s, t, expiryAt(notAfter, t + skew));
    }
    const now = t;
    const p = m.forecast(s, now, thresholdDays * 86_400, D)!;
    const truth = notAfter - thresholdDays * D;
    expect(Math.abs(p.etaMs - truth)).toBeLessThanOrEqual(4 * S);
    expect(p.etaLowMs).toBe(p.etaMs);
    expect(p.etaHighMs).toBe(p.etaMs);
    expect(p.confidence).toBe(1);
    expect(Math.abs(p.notAfterMs - notAfter)).toBeLessThanOrEqual(4 * S);
    expect(p.expirySecondsNow).toBeCloseTo((notAfter - now) / 1000, -1);
    expect(p.forecastExpirySeconds).toBeCloseTo(p.expirySecondsNow - 86_400, 6);
    expect(p.renewals).toBe(0);
    expect(p.changedAtMs).toBeNull();
  });

  it("follows a renewal (expiry jumps up) and a replacement by an earlier-expiring certificate", () => {
    const m = new CertExpiryModel();
    const s = m.allocate();
    const first = T0 + 10 * D;
    const renewed = T0 + 100 * D;
    let t = T0;
    for (; t < T0 + 5 * D; t += 30 * MIN) m.observe(s, t, expiryAt(first, t));
    expect(m.forecast(s, t, 14 * 86_400)!.etaMs).toBe(t); // already under 14 days left
    const renewedAt = t;
    for (; t < T0 + 6 * D; t += 30 * MIN) m.observe(s, t, expiryAt(renewed, t));
    const p = m.forecast(s, t, 14 * 86_400)!;
    expect(p.notAfterMs).toBe(renewed);
    expect(p.etaMs).toBe(renewed - 14 * D);
    expect(p.renewals).toBe(1);
    expect(p.changedAtMs).toBe(renewedAt);
    expect(p.samples).toBe(48);
    // Rolled back to a certificate that expires sooner: a change, not a renewal.
    m.observe(s, t, expiryAt(T0 + 50 * D, t));
    const back = m.forecast(s, t, 0)!;
    expect(back.notAfterMs).toBe(T0 + 50 * D);
    expect(back.renewals).toBe(1);
    expect(back.samples).toBe(1);
  });

  it("takes notAfter directly (the enddate field) and says nothing before a sample", () => {
    const m = new CertExpiryModel({ initialCapacity: 1 });
    const a = m.allocate();
    const b = m.allocate();
    expect(m.forecast(a, T0, 0)).toBeUndefined();
    m.observeNotAfter(a, T0, T0 + 5 * D);
    m.observe(b, T0, 86_400);
    expect(m.forecast(a, T0, 86_400)!.etaMs).toBe(T0 + 4 * D);
    expect(m.forecast(b, T0, 0)!.etaMs).toBe(T0 + D);
    expect(m.lastTimeMs(b)).toBe(T0);
    m.release(a);
    expect(m.forecast(m.allocate(), T0, 0)).toBeUndefined();
  });
});
