import { describe, expect, it } from "vitest";
import { SawtoothTrend } from "./sawtooth-trend.js";

/**
 * After a first drop the sawtooth model cannot tell a saw from a one-off clean-up. It stays
 * silent (no ETA) for 1.5 cycles as the drop implies (drop / ramp rate), at least a sixth of its
 * window and at most half of it, unless a second drop shows the saw.
 */

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const T0 = 1_700_000_000_000;

/** Ramps `ratePerH` from 50 %, drops `drop` once at `dropAtH`, and ramps on; predicts at each `atH`. */
function etasAfterOneDrop(ratePerH: number, drop: number, dropAtH: number, atH: number[]): Array<number | null> {
  const m = new SawtoothTrend(3 * D);
  const slot = m.allocate();
  const out: Array<number | null> = [];
  let next = 0;
  for (let t = T0; next < atH.length; t += MIN) {
    const h = (t - T0) / H;
    m.observe(slot, t, 50 + ratePerH * h - (h >= dropAtH ? drop : 0) + 0.05 * Math.sin(t / 7e5));
    if (h < atH[next]!) continue;
    const eta = m.predict(slot, t, 100, D, 5)?.etaMs ?? null;
    out.push(eta === null ? null : (eta - t) / H);
    next++;
  }
  return out;
}

describe("sawtooth_trend after a first drop", () => {
  it.each([
    // A log growing 1 %/h, rotated (−20 %) at 6 h: a cycle of about 20 h, so silent until 6 + 30 h.
    ["a daily rotation", 1, 20, [6 + 20, 6 + 29], [6 + 31, 6 + 34]],
    // A clean-up of 4 % under a 2 %/h fill: 1.5 × 2 h is less than the floor, a sixth of 3 days.
    ["a small clean-up under a fast fill", 2, 4, [6 + 11], [6 + 13]],
    // A big clean-up under a slow fill: capped at half the window (36 h).
    ["a big clean-up under a slow fill", 0.5, 30, [6 + 35], [6 + 37]],
  ])("%s: silent while learning, forecasts after", (_name, rate, drop, silentAtH, forecastAtH) => {
    const etas = etasAfterOneDrop(rate, drop, 6, [...silentAtH, ...forecastAtH]);
    expect(etas.slice(0, silentAtH.length)).toEqual(silentAtH.map(() => null));
    for (const eta of etas.slice(silentAtH.length)) expect(eta).not.toBeNull();
  });
});
