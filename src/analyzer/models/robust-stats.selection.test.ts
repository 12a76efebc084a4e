import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { median3, medianInPlace, normalCdf, selectKth } from "./robust-stats.js";

const values = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 });

describe("order statistics", () => {
  it("selectKth returns the k-th smallest, also when narrowed around an earlier selection", () => {
    fc.assert(
      fc.property(values, fc.nat(), fc.nat(), (xs, k1, k2) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const a = Float64Array.from(xs);
        const n = a.length;
        const mid = k1 % n;
        // + 0: -0 and 0 are the same order statistic, in whichever order the sort left them.
        expect(selectKth(a, mid, 0, n) + 0).toBe(sorted[mid]! + 0);
        const k = k2 % n;
        const narrowed = k < mid ? selectKth(a, k, 0, mid) : k > mid ? selectKth(a, k, mid + 1, n) : a[mid];
        expect(narrowed! + 0).toBe(sorted[k]! + 0);
      }),
    );
  });

  it("medianInPlace and median3 agree with a sort", () => {
    fc.assert(
      fc.property(values, (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const n = xs.length;
        const want = n % 2 === 1 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
        expect(medianInPlace(Float64Array.from(xs), n)).toBeCloseTo(want, 9);
        if (n >= 3) expect(median3(xs[0]!, xs[1]!, xs[2]!)).toBe([xs[0]!, xs[1]!, xs[2]!].sort((a, b) => a - b)[1]);
      }),
    );
    expect(medianInPlace(new Float64Array(0), 0)).toBeNaN();
  });

  it.each([
    [0, 0.5],
    [1.959963984540054, 0.975],
    [-1.959963984540054, 0.025],
    [1, 0.8413447460685429],
    [-3, 0.0013498980316301],
    [5, 0.9999997133484281],
  ])("normalCdf(%d) ≈ %d", (z, p) => {
    expect(Math.abs(normalCdf(z) - p)).toBeLessThan(2e-7);
  });
});
