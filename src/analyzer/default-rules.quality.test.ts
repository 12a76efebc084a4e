import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import { backtest } from "./backtest.js";
import { defaultRules } from "./default-rules.js";
import { EXTRA_SCENARIO_KINDS, SCENARIO_KINDS, scenarioSuite, type Scenario, type ScenarioKind } from "../../test/fixtures/scenarios/disks.js";

/**
 * The default disk rules replayed through the live analyzer (`backtest`) on seeded scenarios from
 * the very first sample (a fresh install: no history at all), 60 s samples, 3 seeds per kind. A
 * firing more than 48 h before the true exhaustion (or with none) is a false alarm; an exhaustion
 * is caught by a firing at least 30 min before it. bench/prometheus-quality.ts runs the same on
 * more seeds beside Prometheus.
 */

const MIN = 60_000;
const H = 60 * MIN;
const FALSE_MARGIN_MS = 48 * H;
const rules = defaultRules.filter((r) => r.match.measurement === "disk" && r.match.field === "used_percent");
const suite = scenarioSuite([1, 2, 3], [MIN], {}, [...SCENARIO_KINDS, ...EXTRA_SCENARIO_KINDS]);
const firings = new Map<string, number[]>();

async function* points(scenarios: Scenario[]): AsyncGenerator<Point[]> {
  const n = scenarios[0]!.timesMs.length;
  // Every kind but `gaps` samples every minute from the same start: walk the longest series' clock.
  const idx = scenarios.map(() => 0);
  for (let k = 0; k < n; k++) {
    const t = scenarios[0]!.timesMs[k]!;
    const batch: Point[] = [];
    scenarios.forEach((s, i) => {
      while (idx[i]! < s.timesMs.length && s.timesMs[idx[i]!]! <= t) {
        batch.push({ measurement: "disk", tags: { host: "h", path: `/${s.name}` }, fields: { used_percent: s.values[idx[i]!]! }, timeMs: s.timesMs[idx[i]!]! });
        idx[i]!++;
      }
    });
    yield batch;
  }
}

beforeAll(async () => {
  const byPath = new Map(suite.map((s) => [`/${s.name}`, s.name]));
  for await (const t of backtest(points(suite), { rules, evaluationIntervalMs: MIN, log: pino({ level: "silent" }) })) {
    if (t.state !== "firing") continue;
    const name = byPath.get(/path=([^ ,]+)/.exec(t.series)![1]!)!;
    firings.set(name, [...(firings.get(name) ?? []), t.timeMs]);
  }
});

const of = (kind: ScenarioKind): Scenario[] => suite.filter((s) => s.kind === kind);
const falseAlarms = (s: Scenario): number[] => (firings.get(s.name) ?? []).filter((t) => s.exhaustionMs === null || (t < s.exhaustionMs && s.exhaustionMs - t > FALSE_MARGIN_MS));
const leadMs = (s: Scenario): number | null => {
  const first = (firings.get(s.name) ?? []).find((t) => s.exhaustionMs !== null && t < s.exhaustionMs && s.exhaustionMs - t <= FALSE_MARGIN_MS);
  return first === undefined ? null : s.exhaustionMs! - first;
};

describe("default disk rules from the first sample", () => {
  it.each(["logrotate", "logrotate-flat", "backup-bursts", "bursts-varied", "weekly-backup", "flat", "linear", "gaps", "runaway"] as const)(
    "%s: no false alarm",
    (kind) => {
      for (const s of of(kind)) expect(falseAlarms(s), s.name).toEqual([]);
    },
  );

  it.each([
    ["linear", 12 * H],
    ["gaps", 12 * H],
    ["runaway", 30 * MIN],
  ] as const)("%s: every exhaustion caught at least %s ms ahead", (kind, minLeadMs) => {
    for (const s of of(kind)) expect(leadMs(s), s.name).toBeGreaterThanOrEqual(minLeadMs);
  });

  it("logrotate: exhaustions within the week are caught a day ahead", () => {
    const within = of("logrotate").filter((s) => s.exhaustionMs! < s.startMs + s.durationMs);
    for (const s of within) expect(leadMs(s), s.name).toBeGreaterThanOrEqual(20 * H);
  });
});
