import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXTRA_SCENARIO_KINDS, SCENARIO_KINDS, generateScenario, scenarioCsv, scenarioSuite } from "./scenarios.js";

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const FIXTURES = new URL("../../../test/fixtures/scenarios/", import.meta.url);

describe("generateScenario", () => {
  it.each(SCENARIO_KINDS)("%s is deterministic per seed and differs between seeds", (kind) => {
    const a = generateScenario(kind, { seed: 4, durationMs: D });
    const b = generateScenario(kind, { seed: 4, durationMs: D });
    const c = generateScenario(kind, { seed: 5, durationMs: D });
    expect(b.values).toEqual(a.values);
    expect(b.timesMs).toEqual(a.timesMs);
    expect(c.values).not.toEqual(a.values);
  });

  it.each(SCENARIO_KINDS)("%s matches its recorded example in test/fixtures/scenarios", (kind) => {
    const s = generateScenario(kind, { seed: 1, intervalMs: MIN, durationMs: 2 * D });
    const recorded = readFileSync(new URL(`${kind}-60s-seed1.csv`, FIXTURES), "utf8");
    expect(scenarioCsv(s, 5)).toBe(recorded);
  });

  it.each([
    ["linear", true],
    ["gaps", true],
    ["logrotate", true],
    ["logrotate-flat", false],
    ["backup-bursts", false],
    ["flat", false],
  ] as const)("%s: exhaustion %s, and the clean signal crosses 100 exactly there", (kind, exhausts) => {
    for (const seed of [1, 2, 3]) {
      const s = generateScenario(kind, { seed });
      if (!exhausts) {
        expect(s.exhaustionMs).toBeNull();
        continue;
      }
      const t = s.exhaustionMs!;
      expect(s.clean(t)).toBeGreaterThanOrEqual(100);
      expect(s.clean(t - s.intervalMs)).toBeLessThan(100);
      expect(t - s.startMs).toBeGreaterThan(3 * D); // far enough out for a 24 h rule to be judged
      expect(t - s.startMs).toBeLessThan(kind === "logrotate" ? 9 * D : 7 * D); // a saw may fill just past the week
    }
  });

  it("samples at the interval, with outages and lost samples only in the gaps kind", () => {
    for (const intervalMs of [15_000, 60_000]) {
      const plain = generateScenario("linear", { intervalMs });
      expect(plain.timesMs.length).toBe((7 * D) / intervalMs);
      const gaps = generateScenario("gaps", { intervalMs });
      let longest = 0;
      for (let i = 1; i < gaps.timesMs.length; i++) longest = Math.max(longest, gaps.timesMs[i]! - gaps.timesMs[i - 1]!);
      expect(longest).toBeGreaterThanOrEqual(8 * H); // the outage longer than a 6 h window
      expect(gaps.timesMs.length).toBeLessThan(0.9 * plain.timesMs.length);
    }
  });

  it("backup bursts rise ~20 % for 90 min each night and return", () => {
    const s = generateScenario("backup-bursts", { intervalMs: MIN });
    const base = s.clean(s.startMs + 12 * H);
    for (let day = 0; day < 7; day++) {
      const peak = Math.max(...Array.from({ length: 180 }, (_, m) => s.clean(s.startMs + day * D + 30 * MIN + m * MIN)));
      expect(peak - base).toBeGreaterThan(17);
      expect(s.clean(s.startMs + day * D + 4 * H)).toBe(base);
    }
  });

  it.each(EXTRA_SCENARIO_KINDS)("%s (extra) is deterministic per seed and differs between seeds", (kind) => {
    const a = generateScenario(kind, { seed: 4, durationMs: 2 * D });
    expect(generateScenario(kind, { seed: 4, durationMs: 2 * D }).values).toEqual(a.values);
    expect(generateScenario(kind, { seed: 5, durationMs: 2 * D }).values).not.toEqual(a.values);
  });

  it("runaway: flat, then full within 1.5–2.5 h of the fill starting", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = generateScenario("runaway", { seed, intervalMs: MIN });
      const t = s.exhaustionMs!;
      expect(t - s.startMs).toBeLessThan(7 * D);
      const flatLevel = s.clean(s.startMs + H);
      expect(s.clean(t - 1.5 * H)).toBeLessThan(100);
      expect(Math.abs(s.clean(t - 2.5 * H - MIN) - flatLevel)).toBeLessThan(1.01); // the ±0.5 % daily wave
    }
  });

  it.each(["weekly-backup", "bursts-varied"] as const)("%s never fills the disk but rises ≥ 10 %% at least once", (kind) => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = generateScenario(kind, { seed, intervalMs: MIN });
      expect(s.exhaustionMs).toBeNull();
      const levels = Array.from({ length: (7 * D) / (5 * MIN) }, (_, i) => s.clean(s.startMs + i * 5 * MIN));
      expect(Math.max(...levels) - Math.min(...levels)).toBeGreaterThan(10);
    }
  });

  it("backup-bursts takes the burst's hour, ramp, hold and size as options", () => {
    const burst = { startHour: 8, rampMs: 10 * MIN, holdMs: 3 * H, fillPercent: 12 };
    const s = generateScenario("backup-bursts", { intervalMs: MIN, burst });
    const base = s.clean(s.startMs + 4 * H);
    for (let day = 0; day < 7; day++) {
      const at = (h: number): number => s.clean(s.startMs + day * D + h * H);
      expect(at(8.5) - base).toBeCloseTo(12, 9); // past the ramp whatever the ±15 min jitter
      expect(at(10.9)).toBeCloseTo(base + 12, 9);
      expect(at(11.5)).toBe(base);
      expect(at(7.7)).toBe(base);
    }
  });

  it("scenarioSuite covers every kind × interval × seed", () => {
    const suite = scenarioSuite([1, 2], [15_000, 60_000], { durationMs: H });
    expect(suite.length).toBe(SCENARIO_KINDS.length * 4);
    expect(new Set(suite.map((s) => s.name)).size).toBe(suite.length);
    expect(scenarioSuite([1], [MIN], { durationMs: H }, EXTRA_SCENARIO_KINDS).map((s) => s.kind)).toEqual([...EXTRA_SCENARIO_KINDS]);
  });
});
