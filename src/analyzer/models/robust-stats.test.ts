import { describe, expect, it } from "vitest";
import { seededRandom } from "../test-helpers.js";
import { crossing, lineEtas, madSigmaInPlace, medianInPlace, normalCdf, selectKth } from "./robust-stats.js";

describe("selectKth and medianInPlace", () => {
  it.each([1, 2, 3, 10, 101, 1000])("agree with a sort on %i random values with ties", (n) => {
    const rand = seededRandom(n);
    const values = Array.from({ length: n }, () => Math.floor(rand() * 20) - 10);
    const sorted = [...values].sort((a, b) => a - b);
    for (const k of [0, n >>> 1, n - 1]) expect(selectKth(Float64Array.from(values), k)).toBe(sorted[k]);
    const expected = n % 2 === 1 ? sorted[n >>> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
    expect(medianInPlace(Float64Array.from(values), n)).toBe(expected);
  });

  it("selects within a sub-range only", () => {
    const a = Float64Array.from([9, 8, 7, 3, 1, 2, 0]);
    expect(selectKth(a, 4, 3, 6)).toBe(2); // k is absolute: the 2nd smallest of {3, 1, 2}
    expect([...a.subarray(0, 3)]).toEqual([9, 8, 7]);
    expect(a[6]).toBe(0);
  });

  it("gives NaN for an empty median and a normal σ from the MAD", () => {
    expect(medianInPlace(new Float64Array(0), 0)).toBeNaN();
    expect(madSigmaInPlace(Float64Array.from([-1, 1, -1, 1]), 4, 0)).toBeCloseTo(1.4826, 6);
  });
});

describe("normalCdf", () => {
  it.each([
    [0, 0.5],
    [1.959964, 0.975],
    [-1.644854, 0.05],
    [3, 0.99865],
  ])("Φ(%f) = %f", (z, p) => {
    expect(normalCdf(z)).toBeCloseTo(p, 5);
  });
});

describe("crossing and lineEtas", () => {
  it("solves the line, clamps to now and caps at uMax", () => {
    expect(crossing(0, 10, 1, 20, 0, 100)).toBe(10);
    expect(crossing(0, 10, 1, 20, 15, 100)).toBe(15); // already past: now
    expect(crossing(0, 10, 1, 20, 0, 5)).toBeNull();
    expect(crossing(0, 10, 0, 20, 0, 100)).toBeNull();
  });

  it("orders low ≤ eta ≤ high and leaves high unbounded when the slope may be ≤ 0", () => {
    const e = lineEtas(0, 10, 1, 1, 0.5, 2, 20, 0, 1000);
    expect(e.low!).toBeLessThanOrEqual(e.eta!);
    expect(e.eta!).toBeLessThanOrEqual(e.high!);
    expect(e).toEqual({ eta: 10, low: 4.5, high: 22 });
    expect(lineEtas(0, 10, 1, 1, -0.1, 2, 20, 0, 1000).high).toBeNull();
  });
});
