import { describe, expect, it } from "vitest";
import { seededRandom } from "../test-helpers.js";
import { bandRoot } from "./robust-stats.js";

/** A random band: line d0 + slope·x, half-width k·sqrt(p0 + 2·p1·x + p2·x²) with p0 ≥ 1 and p1² ≤ (p0 − 1)·p2 (a variance ≥ 1). */
function randomBand(rand: () => number): { d0: number; slope: number; k: number; p0: number; p1: number; p2: number } {
  const p2 = 10 ** (-4 * rand()) * rand();
  const extra = 5 * rand();
  const p1 = (2 * rand() - 1) * Math.sqrt(extra * p2);
  return { d0: -20 * rand(), slope: (rand() - 0.2) * 0.5, k: 3 * rand(), p0: 1 + extra, p1, p2 };
}

type Band = ReturnType<typeof randomBand>;

const edge = (b: Band, x: number, side: 1 | -1): number => b.d0 + b.slope * x + side * b.k * Math.sqrt(b.p0 + 2 * b.p1 * x + b.p2 * x * x);

/** First grid point in (0, xMax] where the edge is ≥ 0 after being < 0 at 0, or null: the brute-force answer. */
function scan(b: Band, side: 1 | -1, xMax: number, steps: number): number | null {
  if (edge(b, 0, side) >= 0) return null;
  for (let i = 1; i <= steps; i++) {
    const x = (i * xMax) / steps;
    if (edge(b, x, side) >= 0) return x;
  }
  return null;
}

describe("bandRoot", () => {
  const X_MAX = 400;
  const STEPS = 40_000; // grid step 0.01
  const STEP = X_MAX / STEPS;

  it.each([
    ["upper edge (convex, falling root)", 1 as const],
    ["lower edge (concave, rising root)", -1 as const],
  ])("finds the first crossing of the %s that a brute-force scan finds, on 400 random bands", (_name, side) => {
    const rand = seededRandom(side === 1 ? 11 : 12);
    let crossings = 0;
    for (let trial = 0; trial < 400; trial++) {
      const b = randomBand(rand);
      const expected = scan(b, side, X_MAX, STEPS);
      const r = bandRoot(b.d0, b.slope, b.k * b.k, b.p0, b.p1, b.p2, side < 0);
      // The root is where the edge is exactly at the threshold: beyond it (the scan's point) the edge is ≥ 0, one step before it < 0.
      const found = Number.isFinite(r) && r > 0 && r <= X_MAX && (side > 0 || b.d0 + b.slope * r > 0) ? r : null;
      if (expected === null) {
        // No crossing on the grid: at most one within the last grid step (or a touch between grid points).
        if (found !== null) expect(Math.abs(edge(b, found, side))).toBeLessThan(1e-6);
        continue;
      }
      crossings++;
      expect(found).not.toBeNull();
      expect(found!).toBeGreaterThan(expected - STEP - 1e-9);
      expect(found!).toBeLessThanOrEqual(expected + 1e-9);
      expect(Math.abs(edge(b, found!, side))).toBeLessThan(1e-9 * (1 + Math.abs(b.d0)));
    }
    // Enough bands cross for the comparison to mean something.
    expect(crossings).toBeGreaterThan(100);
  });

  it("on a band of zero width is the line's own crossing", () => {
    // d = -6 + 2x: zero at 3; with k = 0 both edges are the line (a double root).
    expect(bandRoot(-6, 2, 0, 1, 0, 0.1, false)).toBeCloseTo(3, 12);
    expect(bandRoot(-6, 2, 0, 1, 0, 0.1, true)).toBeCloseTo(3, 12);
  });

  it("is NaN when the band never meets the threshold", () => {
    // A flat line 1 below the threshold in a band 10 wide: the upper edge is always above, the lower always below.
    expect(bandRoot(-1, 0, 100, 1, 0, 0.01, false)).toBeNaN();
    expect(bandRoot(-1, 0, 100, 1, 0, 0.01, true)).toBeNaN();
    // Q linear (slope² = k²·p2) and falling: no rising root.
    expect(bandRoot(-10, 1, 1, 1, 0.5, 1, true)).toBeNaN();
  });

  it("keeps the finite root exact when the quadratic term nearly cancels", () => {
    // slope² − k²·p2 = 1e-20: the far root runs off, the near one stays where the upper edge crosses.
    const k = 1;
    const slope = 1;
    const p2 = 1 - 1e-20;
    const r = bandRoot(-10, slope, k * k, 1, 0, p2, false);
    expect(Math.abs(-10 + slope * r + k * Math.sqrt(1 + p2 * r * r))).toBeLessThan(1e-9);
  });
});
