import { describe, expect, it } from "vitest";
import { generateScenario } from "../../../test/fixtures/scenarios/disks.js";
import { confidenceOf, SawtoothTrend } from "./sawtooth-trend.js";
import { studentTCdf } from "./stats.js";

const H = 3_600_000;
const D = 24 * H;

describe("SawtoothTrend confidence", () => {
  // The shortcut for sure forecasts must give exactly what the Student-t CDF gives.
  // With heavy tails (df ≤ 2.5) the CDF never rounds to 1 on this grid: only equality is checked.
  it.each([
    [1, false],
    [2.5, false],
    [7, true],
    [30, true],
    [121.3, true],
    [1438.7, true],
    [17_280, true],
    [250_000, true],
  ] as const)("equals studentTCdf bit for bit at df %d", (df, reachesOne) => {
    let saturated = 0;
    for (let t = -50; t < 5000; t = t < 0 ? t + 0.37 : t * 1.011 + 0.013) {
      const expected = studentTCdf(t, df);
      expect(confidenceOf(t, 1, df)).toBe(expected);
      if (expected === 1) saturated++;
    }
    // The grid reaches the region where the shortcut applies.
    expect(saturated > 10).toBe(reachesOne);
  });

  it("keeps the degenerate cases", () => {
    expect(confidenceOf(1, 0, 10)).toBe(1);
    expect(confidenceOf(-1, 0, 10)).toBe(0);
    expect(confidenceOf(0, Infinity, 10)).toBe(0.5);
    expect(confidenceOf(Infinity, 1, 10)).toBe(studentTCdf(Infinity, 10));
  });
});

describe("SawtoothTrend.predict", () => {
  // predict keeps remembered quantiles and skips work it can prove useless: a model asked after
  // every sample must forecast exactly as one built afresh and asked once, through resets and
  // while the window's cut passes finished segments.
  it.each([
    ["logrotate", 3 * D],
    ["logrotate", 6 * H],
    ["backup-bursts", 3 * D],
    ["linear", 6 * H],
  ] as const)("forecasts %s (window %d ms) as a fresh model fed the same samples", (kind, windowMs) => {
    const s = generateScenario(kind, { seed: 4, intervalMs: 60_000, durationMs: 6 * D });
    const model = new SawtoothTrend(windowMs);
    const slot = model.allocate();
    let checked = 0;
    let envelopes = 0;
    for (let i = 0; i < s.timesMs.length; i++) {
      const t = s.timesMs[i]!;
      model.observe(slot, t, s.values[i]!);
      const fc = model.predict(slot, t + 5_000, s.threshold, 4 * H, 5);
      if (i % 397 !== 0) continue;
      const fresh = new SawtoothTrend(windowMs);
      const freshSlot = fresh.allocate();
      for (let k = 0; k <= i; k++) fresh.observe(freshSlot, s.timesMs[k]!, s.values[k]!);
      expect(fresh.predict(freshSlot, t + 5_000, s.threshold, 4 * H, 5)).toEqual(fc);
      checked++;
      // The envelope's forecasts carry the cycle length as their scale.
      if (fc !== undefined && fc.scaleMs > 12 * H && model.resets(slot) >= 2) envelopes++;
    }
    expect(checked).toBeGreaterThan(15);
    if (kind === "logrotate" && windowMs === 3 * D) expect(envelopes).toBeGreaterThan(3);
  });
});
