import { describe, expect, it } from "vitest";
import { createModel, MODEL_NAMES } from "./index.js";

// Models keep every series' state side by side (interleaved blocks, shared columns) and cache
// per-interval values such as exp(-dt/τ) for the latest dt: none of it may let one slot's samples
// change another slot's forecast. Each slot here must forecast exactly as the same samples alone do.

const S = 1000;
const H = 3600 * S;
const T0 = 1_700_000_000_000;

/**
 * Three series over `spanMs` at different intervals (15, 10 and irregularly 7–23 times `unitMs`,
 * the last one with a late sample), in time order.
 */
function samples(spanMs: number, unitMs: number): Array<[slot: number, tMs: number, value: number]> {
  const out: Array<[number, number, number]> = [];
  for (let t = 0; t < spanMs; t += 15 * unitMs) out.push([0, t, 0]);
  for (let t = 0; t < spanMs; t += 10 * unitMs) out.push([1, t, 0]);
  let t2 = 0;
  for (let i = 0; t2 < spanMs; i++) out.push([2, (t2 += [7, 15, 23, 15][i % 4]! * unitMs), 0]);
  out.push([2, spanMs / 3 + 3 * unitMs, 0]);
  out.sort((a, b) => a[1] - b[1]);
  // Rising with a saw on slot 1 and wiggles, so every model has something to say.
  return out.map(([s, t]) => [s, T0 + t, 10 + (s + 1) * (t / spanMs) * 20 + (s === 1 ? ((t / spanMs) * 5 % 1) * 8 : 0) + Math.sin(t / 7000)]);
}

describe("models keep slots independent", () => {
  // The seasonal model needs days of data in 5 min buckets: it is sampled in minutes over 3 days.
  const cases = MODEL_NAMES.map((name) => (name === "seasonal" ? { name, spanMs: 72 * H, unitMs: 20 * S } : { name, spanMs: 3 * H, unitMs: S }));

  it.each(cases)("$name: each slot forecasts as if it were alone", ({ name, spanMs, unitMs }) => {
    const shared = createModel(name, 2 * H);
    const alone = [0, 1, 2].map(() => createModel(name, 2 * H));
    const slots = alone.map(() => shared.allocate());
    for (const m of alone) m.allocate();
    for (const [i, t, v] of samples(spanMs, unitMs)) {
      shared.observe(slots[i]!, t, v);
      alone[i]!.observe(0, t, v);
    }
    const now = T0 + spanMs;
    let forecasts = 0;
    for (let i = 0; i < 3; i++) {
      const want = alone[i]!.predict(0, now, 1000, 4 * H, 3);
      if (want !== undefined) forecasts++;
      expect(shared.predict(slots[i]!, now, 1000, 4 * H, 3)).toEqual(want);
      expect(shared.samples(slots[i]!)).toBe(alone[i]!.samples(0));
      expect(shared.lastTimeMs(slots[i]!)).toBe(alone[i]!.lastTimeMs(0));
    }
    expect(forecasts).toBeGreaterThan(0);
  });
});
