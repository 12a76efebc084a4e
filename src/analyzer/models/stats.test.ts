import { describe, expect, it } from "vitest";
import { studentTCdf, tQuantile975 } from "./stats.js";

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
