import { describe, expect, it } from "vitest";
import { seededRandom } from "../test-helpers.js";
import { studentTCdf, studentTCdfSeries, tQuantile975 } from "./stats.js";

describe("tQuantile975", () => {
  it.each([
    [1, 12.706],
    [10, 2.228],
    [30, 2.042],
    [40, 2.021],
    [60, 2.0],
    [120, 1.98],
  ])("df %d: the published t(0.975) %d", (df, q) => {
    expect(tQuantile975(df)).toBeCloseTo(q, 10);
  });

  it("interpolates between anchors and tends to the normal 1.96", () => {
    expect(tQuantile975(10.5)).toBeCloseTo((2.228 + 2.201) / 2, 10);
    const q90 = tQuantile975(90);
    expect(q90).toBeLessThan(2.0);
    expect(q90).toBeGreaterThan(1.98);
    expect(tQuantile975(1e9)).toBeCloseTo(1.96, 6);
    expect(tQuantile975(0.3)).toBe(12.706);
  });
});

describe("studentTCdf", () => {
  it("matches t tables at their 97.5 % points and is symmetric", () => {
    for (const [df, q] of [
      [1, 12.706],
      [10, 2.228],
      [30, 2.042],
    ] as const) {
      expect(studentTCdf(q, df)).toBeCloseTo(0.975, 4);
      expect(studentTCdf(-q, df)).toBeCloseTo(0.025, 4);
    }
    expect(studentTCdf(0, 7)).toBeCloseTo(0.5, 12);
    expect(studentTCdf(1.959964, 1e7)).toBeCloseTo(0.975, 6);
    expect([studentTCdf(Infinity, 3), studentTCdf(-Infinity, 3), studentTCdf(NaN, 3)]).toEqual([1, 0, 0.5]);
  });
});

describe("studentTCdf far tails", () => {
  it("returns bit for bit what the incomplete beta gives, on 200 000 random (t, df) and at the shortcut's edges", () => {
    const rand = seededRandom(5);
    const cases: Array<[number, number]> = [];
    for (let i = 0; i < 200_000; i++) {
      const df = Math.exp(rand() * 10) * (rand() < 0.5 ? 1 : 0.3);
      const t = (rand() < 0.5 ? -1 : 1) * Math.exp(rand() * 8 - 2);
      cases.push([t, df]);
    }
    // Around the switch points: x = df/(df+t²) = ½ (t = √df), (df/2)·ln x = −46 and −800.
    for (const df of [2, 3, 10, 50, 200, 1438, 5000]) {
      const a = df / 2;
      for (const lnTail of [-46, -800]) {
        const t = Math.sqrt(df / Math.exp(lnTail / a) - df);
        for (const f of [0.999, 1, 1.001]) cases.push([t * f, df], [-t * f, df]);
      }
      cases.push([Math.sqrt(df), df], [-Math.sqrt(df), df]);
    }
    let shortcut = 0;
    for (const [t, df] of cases) {
      const fast = studentTCdf(t, df);
      const full = studentTCdfSeries(t, df);
      if (!Object.is(fast, full)) expect({ t, df, fast }).toEqual({ t, df, fast: full });
      if (fast === 0 || fast === 1) shortcut++;
    }
    expect(shortcut).toBeGreaterThan(10_000);
  });
});
