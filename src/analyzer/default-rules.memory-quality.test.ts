import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import { backtest } from "./backtest.js";
import { defaultRules } from "./default-rules.js";
import { MEMORY_SCENARIO_KINDS, memoryScenarioSuite, type MemoryScenario, type MemoryScenarioKind } from "../../test/fixtures/scenarios/memory.js";

/**
 * The default process-memory rules (process_memory_limit, process_memory_leak) replayed through
 * the live analyzer (`backtest`) on seeded processes from their start, 60 s samples, 3 seeds per
 * kind, the limit in the memory_limit field as procstat sends it. A firing more than 48 h before
 * the OOM (or with none) is a false alarm; an OOM is caught by a firing at least 30 min before it.
 * bench/prometheus-quality.ts runs the same on more seeds beside Prometheus.
 */

const MIN = 60_000;
const H = 60 * MIN;
const FALSE_MARGIN_MS = 48 * H;
const rules = defaultRules.filter((r) => r.match.measurement === "procstat" && r.match.field === "memory_rss");
const suite = memoryScenarioSuite([1, 2, 3], [MIN]);
const firings = new Map<string, number[]>();

async function* points(scenarios: MemoryScenario[]): AsyncGenerator<Point[]> {
  const idx = scenarios.map(() => 0);
  for (;;) {
    let t = Infinity;
    for (let i = 0; i < scenarios.length; i++) t = Math.min(t, scenarios[i]!.timesMs[idx[i]!] ?? Infinity);
    if (t === Infinity) return;
    const batch: Point[] = [];
    scenarios.forEach((s, i) => {
      if (s.timesMs[idx[i]!] !== t) return;
      batch.push({ measurement: "procstat", tags: { host: "h", process_name: s.name, pid: "1" }, fields: { memory_rss: s.values[idx[i]!]!, memory_limit: s.threshold }, timeMs: t });
      idx[i]!++;
    });
    yield batch;
  }
}

beforeAll(async () => {
  for await (const t of backtest(points(suite), { rules, evaluationIntervalMs: MIN, log: pino({ level: "silent" }) })) {
    if (t.state !== "firing") continue;
    const name = /process_name=([^ ,]+)/.exec(t.series)![1]!;
    firings.set(name, [...(firings.get(name) ?? []), t.timeMs]);
  }
});

const of = (kind: MemoryScenarioKind): MemoryScenario[] => suite.filter((s) => s.kind === kind);
const falseAlarms = (s: MemoryScenario): number[] => (firings.get(s.name) ?? []).filter((t) => s.exhaustionMs === null || s.exhaustionMs - t > FALSE_MARGIN_MS);

describe("default memory rules from the process's start", () => {
  it.each(MEMORY_SCENARIO_KINDS)("%s: no false alarm (warm-ups, deploy steps and a GC saw are not leaks)", (kind) => {
    for (const s of of(kind)) expect(falseAlarms(s), s.name).toEqual([]);
  });

  it.each(["leak", "leak-gaps", "leak-after-deploy"] as const)("%s: every OOM caught at least 30 min ahead", (kind) => {
    for (const s of of(kind)) {
      const first = (firings.get(s.name) ?? []).find((t) => s.exhaustionMs! - t <= FALSE_MARGIN_MS);
      expect(first, s.name).toBeDefined();
      expect(s.exhaustionMs! - first!, s.name).toBeGreaterThanOrEqual(30 * MIN);
    }
  });
});
