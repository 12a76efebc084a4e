import { describe, expect, it } from "vitest";
import type { Prediction } from "../core/contracts.js";
import { AnsaiError } from "../core/errors.js";
import { defaultRules } from "./default-rules.js";
import {
  INACTIVE,
  alertCondition,
  compileRule,
  renderSummary,
  ruleMatches,
  stepAlert,
  type AlertCondition,
  type AlertLifecycle,
  type RuleSpec,
} from "./rules.js";

const MIN = 60_000;
const H = 60 * MIN;
const timing = { forMs: 5 * MIN, keepResolvedMs: 15 * MIN };
const ON: AlertCondition = { active: true, keepFiring: true };
const EDGE: AlertCondition = { active: false, keepFiring: true }; // between 1× and 1.25× horizon
const OFF: AlertCondition = { active: false, keepFiring: false };

const pending = (since: number): AlertLifecycle => ({ phase: "pending", activeSinceMs: since, firedAtMs: null, resolvedAtMs: null });
const firing = (since: number, at: number): AlertLifecycle => ({ phase: "firing", activeSinceMs: since, firedAtMs: at, resolvedAtMs: null });
const resolved = (since: number, at: number, res: number): AlertLifecycle => ({
  phase: "resolved",
  activeSinceMs: since,
  firedAtMs: at,
  resolvedAtMs: res,
});

describe("stepAlert", () => {
  it.each<[string, AlertLifecycle, AlertCondition, number, AlertLifecycle]>([
    ["inactive stays inactive", INACTIVE, OFF, 0, INACTIVE],
    ["inactive → pending", INACTIVE, ON, 1000, pending(1000)],
    ["pending holds before `for`", pending(0), ON, 5 * MIN - 1, pending(0)],
    ["pending → firing after `for`", pending(0), ON, 5 * MIN, firing(0, 5 * MIN)],
    ["pending → inactive without notice", pending(0), OFF, MIN, INACTIVE],
    ["pending holds at the edge (the same hysteresis as firing)", pending(0), EDGE, MIN, pending(0)],
    ["pending fires only when the condition proper holds", pending(0), EDGE, 5 * MIN, pending(0)],
    ["firing holds", firing(0, 5 * MIN), ON, 20 * MIN, firing(0, 5 * MIN)],
    ["firing holds inside 1.25× horizon", firing(0, 5 * MIN), EDGE, 20 * MIN, firing(0, 5 * MIN)],
    ["firing → resolved beyond 1.25× horizon", firing(0, 5 * MIN), OFF, 20 * MIN, resolved(0, 5 * MIN, 20 * MIN)],
    ["resolved stays visible", resolved(0, 5 * MIN, 20 * MIN), OFF, 34 * MIN, resolved(0, 5 * MIN, 20 * MIN)],
    ["resolved expires", resolved(0, 5 * MIN, 20 * MIN), OFF, 35 * MIN, INACTIVE],
    ["resolved → new episode", resolved(0, 5 * MIN, 20 * MIN), ON, 30 * MIN, pending(30 * MIN)],
  ])("%s", (_name, prev, cond, now, want) => {
    expect(stepAlert(prev, cond, now, timing)).toEqual(want);
  });

  it("keeps firing for `keep_firing_for` after the condition stops, then resolves", () => {
    const t = { ...timing, keepFiringForMs: 10 * MIN };
    const f = firing(0, 5 * MIN);
    const quiet = stepAlert(f, OFF, 20 * MIN, t);
    expect(quiet).toEqual({ ...f, quietSinceMs: 20 * MIN });
    expect(stepAlert(quiet, OFF, 29 * MIN, t)).toEqual(quiet);
    // The condition came back in time: the quiet spell is forgotten.
    expect(stepAlert(quiet, ON, 25 * MIN, t)).toEqual(f);
    expect(stepAlert(quiet, OFF, 30 * MIN, t)).toEqual(resolved(0, 5 * MIN, 30 * MIN));
  });

  it("fires at once when `for` is 0", () => {
    expect(stepAlert(INACTIVE, ON, 7, { forMs: 0, keepResolvedMs: 1 })).toEqual(firing(7, 7));
  });

  it("walks a whole episode with a fake clock", () => {
    let state = INACTIVE;
    const phases: string[] = [];
    const etaAt = (now: number): number | null => (now < 30 * MIN ? now + 2 * H : now + 10 * H);
    for (let now = 0; now <= 60 * MIN; now += MIN) {
      const eta = etaAt(now);
      const p = { etaMs: eta } as Prediction;
      state = stepAlert(state, alertCondition(p, now, 4 * H), now, timing);
      if (phases.at(-1) !== state.phase) phases.push(state.phase);
    }
    expect(phases).toEqual(["pending", "firing", "resolved", "inactive"]);
  });
});

describe("alertCondition", () => {
  const p = (etaMs: number | null) => ({ etaMs }) as Prediction;
  it.each([
    [null, false, false],
    [4 * H, true, true],
    [4.5 * H, false, true],
    [5 * H, false, true],
    [5 * H + 1, false, false],
  ])("eta %s", (eta, active, keepFiring) => {
    expect(alertCondition(p(eta), 0, 4 * H)).toEqual({ active, keepFiring });
  });
  it("ignores predictions below the minimum confidence", () => {
    const sure = { ...p(H), confidence: 0.95 };
    expect(alertCondition(sure, 0, 4 * H, 0.9)).toEqual({ active: true, keepFiring: true });
    expect(alertCondition({ ...sure, confidence: 0.6 }, 0, 4 * H, 0.9)).toEqual({ active: false, keepFiring: false });
  });

  it("is false without a prediction", () => expect(alertCondition(undefined, 0, H)).toEqual({ active: false, keepFiring: false }));
});

const baseRule: RuleSpec = {
  name: "r",
  severity: "warning",
  match: { measurement: "disk", field: "used_percent", tags: { path: "/var", device: "/sd[a-z]+/" } },
  threshold: { value: 100 },
  horizonMs: H,
  forMs: 0,
  windowMs: H,
  minSamples: 3,
  summary: "",
};

describe("compileRule and ruleMatches", () => {
  const rule = compileRule(baseRule);
  it.each([
    ["disk", { path: "/var", device: "sda" }, true],
    ["disk", { path: "/var", device: "sdab", host: "x" }, true],
    ["disk", { path: "/var", device: "nvme0n1" }, false],
    ["disk", { path: "/var", device: "xsda" }, false], // regex is anchored
    ["disk", { path: "/var/log", device: "sda" }, false],
    ["disk", { path: "/var" }, false],
    ["mem", { path: "/var", device: "sda" }, false],
  ])("%s %j → %s", (m, tags, want) => expect(ruleMatches(rule, m, tags)).toBe(want));

  it("takes the threshold from a field, with a fallback", () => {
    const c = compileRule({ ...baseRule, threshold: { field: "memory_limit", fallback: 5 } });
    expect(c.thresholdField).toBe("memory_limit");
    expect(c.thresholdValue).toBe(5);
    expect(Number.isNaN(compileRule({ ...baseRule, threshold: { field: "memory_limit" } }).thresholdValue)).toBe(true);
  });

  it.each<[string, Partial<RuleSpec>]>([
    ["bad regex", { match: { measurement: "disk", field: "f", tags: { path: "/[/" } } }],
    ["zero horizon", { horizonMs: 0 }],
    ["negative for", { forMs: -1 }],
    ["too few samples", { minSamples: 2 }],
    ["empty name", { name: "" }],
  ])("rejects %s with ANSAI_CONFIG_INVALID", (_n, patch) => {
    expect(() => compileRule({ ...baseRule, ...patch })).toThrow(AnsaiError);
  });

  it("compiles the default rules", () => {
    for (const r of defaultRules) expect(() => compileRule(r)).not.toThrow();
  });
});

describe("renderSummary", () => {
  const now = 1_000_000;
  const prediction: Prediction = {
    rule: "disk_full_4h",
    model: "linear_trend",
    series: "disk,host=web-01,path=/var used_percent",
    measurement: "disk",
    tags: { host: "web-01", path: "/var", process_name: "worker", pid: "123" },
    field: "used_percent",
    atMs: now,
    value: 87.3456,
    threshold: 100,
    slopePerS: 0.001,
    etaMs: now + 3 * H + 10 * MIN,
    etaLowMs: now + 2 * H + 50 * MIN,
    etaHighMs: now + 3 * H + 40 * MIN,
    forecastValue: 99,
    confidence: 0.99,
    samples: 100,
  };
  it("renders the default disk summary", () => {
    const disk = defaultRules.find((r) => r.name === "disk_full_4h")!;
    expect(renderSummary(disk.summary, prediction, now)).toBe("/var on web-01 full in 3 h 10 m (2 h 50 m – 3 h 40 m)");
  });
  it("renders the default process summary", () => {
    const proc = defaultRules.find((r) => r.name === "process_memory_limit")!;
    const p = { ...prediction, etaMs: now + 5 * H, etaLowMs: now + 4 * H, etaHighMs: now + 6 * H };
    expect(renderSummary(proc.summary, p, now)).toBe("worker (pid 123) on web-01 reaches its memory limit in 5 h (4 h – 6 h)");
  });
  it("renders values, names, nulls and unknowns", () => {
    const p = { ...prediction, etaMs: null, etaLowMs: null, etaHighMs: null };
    expect(renderSummary("{{value}}/{{threshold}} {{rule}} {{series}} {{eta}} {{eta_low}} {{eta_high}} [{{tags.nope}}] [{{nope}}]", p, now)).toBe(
      "87.35/100 disk_full_4h disk,host=web-01,path=/var used_percent never never unbounded [] []",
    );
  });
});
