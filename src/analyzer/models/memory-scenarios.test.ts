import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MEMORY_SCENARIO_KINDS, generateMemoryScenario, memoryScenarioSuite } from "./memory-scenarios.js";
import { scenarioCsv } from "./scenarios.js";

const MB = 1e6;
const MIN = 60_000;
const H = 60 * MIN;
const FIXTURES = new URL("../../../test/fixtures/scenarios/", import.meta.url);
const LEAKS = new Set(["leak", "leak-gaps", "leak-after-deploy"]);

describe("generateMemoryScenario", () => {
  it.each(MEMORY_SCENARIO_KINDS)("%s is deterministic per seed and differs between seeds", (kind) => {
    const a = generateMemoryScenario(kind, { seed: 4, durationMs: 6 * H });
    const b = generateMemoryScenario(kind, { seed: 4, durationMs: 6 * H });
    const c = generateMemoryScenario(kind, { seed: 5, durationMs: 6 * H });
    expect(b.values).toEqual(a.values);
    expect(b.timesMs).toEqual(a.timesMs);
    expect(c.values).not.toEqual(a.values);
  });

  it.each(MEMORY_SCENARIO_KINDS)("%s matches its recorded example in test/fixtures/scenarios", (kind) => {
    const s = generateMemoryScenario(kind, { seed: 1, intervalMs: MIN });
    const recorded = readFileSync(new URL(`memory-${kind}-60s-seed1.csv`, FIXTURES), "utf8");
    expect(scenarioCsv(s, 5, 0)).toBe(recorded);
  });

  it.each(MEMORY_SCENARIO_KINDS)("%s: leaks reach the limit at the truth and the series ends there; the others never do", (kind) => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const s = generateMemoryScenario(kind, { seed, intervalMs: MIN });
      const peak = Math.max(...s.values);
      if (!LEAKS.has(kind)) {
        expect(s.exhaustionMs).toBeNull();
        expect(s.leakBytesPerHour).toBe(0);
        expect(peak).toBeLessThan(s.threshold);
        continue;
      }
      const t = s.exhaustionMs!;
      expect(s.clean(t)).toBeGreaterThanOrEqual(s.threshold);
      expect(s.clean(t - MIN)).toBeLessThan(s.threshold);
      expect(s.timesMs[s.timesMs.length - 1]!).toBeLessThan(t); // the OOM killer ends the series
      expect(t - s.startMs).toBeGreaterThan(8 * H); // far enough out for a 4 h rule to be judged
      expect(s.leakBytesPerHour).toBeGreaterThanOrEqual(2 * MB);
      expect(s.leakBytesPerHour).toBeLessThanOrEqual(200 * MB);
    }
  });

  it("warm-ups level off and deploy steps stay flat after the step", () => {
    for (const seed of [1, 2, 3]) {
      const w = generateMemoryScenario("warmup", { seed });
      const grewLastDay = w.clean(w.startMs + 72 * H - 1) - w.clean(w.startMs + 48 * H);
      expect(Math.abs(grewLastDay)).toBeLessThan(60 * MB); // within one GC saw
      const d = generateMemoryScenario("deploy-step", { seed });
      const troughs = (fromH: number): number => Math.min(...Array.from({ length: 60 }, (_, m) => d.clean(d.startMs + fromH * H + m * MIN)));
      expect(troughs(40) - troughs(1)).toBeGreaterThan(90 * MB);
      expect(Math.abs(troughs(70) - troughs(40))).toBeLessThan(1 * MB);
    }
  });

  it("the suite covers every kind × interval × seed with unique names", () => {
    const suite = memoryScenarioSuite([1, 2], [15_000, 60_000], { durationMs: H });
    expect(suite.length).toBe(MEMORY_SCENARIO_KINDS.length * 4);
    expect(new Set(suite.map((s) => s.name)).size).toBe(suite.length);
  });
});
