import pino from "pino";
import { describe, expect, it } from "vitest";
import { createAnalyzer } from "./engine.js";
import type { RuleSpec } from "./rules.js";

const S = 1000;
const MIN = 60 * S;
const T0 = 1_700_000_000_000;
const log = pino({ level: "silent" });

const rule: RuleSpec = {
  name: "data_full",
  severity: "critical",
  match: { measurement: "disk", field: "used_percent" },
  threshold: { value: 100 },
  horizonMs: 60 * MIN,
  forMs: 2 * MIN,
  windowMs: 30 * MIN,
  minSamples: 5,
  summary: "{{tags.path}} full in {{eta}}, at {{value}}",
};

describe("createAnalyzer alerts", () => {
  // Alerts are built from the latest evaluation when read: they must show that evaluation, stay
  // the same object until the next one, and be the very objects the transitions carried.
  it("shows the latest evaluation, one object per evaluation, the same as the transition's", () => {
    const a = createAnalyzer({ rules: [rule], log, timeRules: false });
    const tags = { host: "h1", path: "/data" };
    const seen: string[] = [];
    let fired = false;
    for (let i = 0; i < 40; i++) {
      const t = T0 + i * 30 * S;
      a.write([{ measurement: "disk", tags, fields: { used_percent: 60 + i }, timeMs: t }]);
      const { transitions, predictions } = a.evaluate(t);
      const alerts = a.alerts();
      for (const tr of transitions) expect(alerts).toContain(tr);
      if (alerts.length === 0) continue;
      const [alert] = alerts;
      expect(a.alerts()[0]).toBe(alert);
      expect(alert!.prediction).toBe(predictions[0]);
      expect(alert!.summary).toMatch(new RegExp(`^/data full in .+, at ${60 + i}$`));
      seen.push(alert!.summary);
      fired ||= alert!.state === "firing";
    }
    expect(fired).toBe(true);
    expect(new Set(seen).size).toBe(seen.length);
    const health = a.ruleHealth()[0]!;
    expect(health.lastEvaluationMs).toBe(T0 + 39 * 30 * S);
    // Not timed when asked not to be.
    expect(health.lastDurationMs).toBeNull();
  });

  it("times rules by default", () => {
    const a = createAnalyzer({ rules: [rule], log });
    a.evaluate(T0);
    expect(a.ruleHealth()[0]!.lastDurationMs).toBeGreaterThanOrEqual(0);
  });
});

describe("alert lifecycles across a restart", () => {
  const tags = { host: "h1", path: "/data" };
  const point = (i: number, v: number) => ({ measurement: "disk", tags, fields: { used_percent: v }, timeMs: T0 + i * 30 * S });
  /** Samples 0..n-1 of a disk filling 1 %/30 s from 60 %, written and evaluated. */
  const fill = (a: ReturnType<typeof createAnalyzer>, from: number, to: number) => {
    const transitions: string[] = [];
    for (let i = from; i < to; i++) {
      a.write([point(i, 60 + i)]);
      for (const t of a.evaluate(T0 + i * 30 * S).transitions) transitions.push(`${i} ${t.state}`);
    }
    return transitions;
  };

  it("a restored pending alert keeps its for; a restored firing one stays firing without a transition, then resolves", () => {
    const before = createAnalyzer({ rules: [rule], log });
    // Pending from the 5th sample (min_samples), 2 min `for`: firing at the 9th.
    expect(fill(before, 0, 7)).toEqual(["4 pending"]);
    const pending = before.savedAlerts();
    expect(pending).toEqual([expect.objectContaining({ rule: "data_full", series: "disk,host=h1,path=/data used_percent", phase: "pending", activeSinceMs: T0 + 4 * 30 * S, firedAtMs: null })]);

    // Restart: warmed up from the store (the same samples), then restored.
    const after = createAnalyzer({ rules: [rule], log });
    for (let i = 0; i < 7; i++) after.write([point(i, 60 + i)]);
    expect(after.restoreAlerts(JSON.parse(JSON.stringify(pending)))).toBe(1);
    // Shown at once, as it was, before any evaluation.
    expect(after.alerts().map((x) => [x.state, x.activeSinceMs])).toEqual([["pending", T0 + 4 * 30 * S]]);
    // Fires when its `for` counted from before the restart is over, not 2 min after the restart.
    expect(fill(after, 7, 12)).toEqual(["8 firing"]);

    const firing = after.savedAlerts();
    const again = createAnalyzer({ rules: [rule], log });
    for (let i = 0; i < 12; i++) again.write([point(i, 60 + i)]);
    expect(again.restoreAlerts(firing)).toBe(1);
    expect(fill(again, 12, 14)).toEqual([]);
    expect(again.alerts().map((x) => [x.state, x.firedAtMs])).toEqual([["firing", T0 + 8 * 30 * S]]);
    // The disk stops filling: the alert resolves, with a transition.
    const resolved: string[] = [];
    for (let i = 14; i < 60 && resolved.length === 0; i++) {
      again.write([point(i, 73)]);
      for (const t of again.evaluate(T0 + i * 30 * S).transitions) resolved.push(t.state);
    }
    expect(resolved).toEqual(["resolved"]);
  });

  it("restores nothing for a rule no longer configured or a series not seen since the restart", () => {
    const a = createAnalyzer({ rules: [rule], log });
    const saved = { rule: "data_full", series: "disk,host=h1,path=/data used_percent", phase: "firing", activeSinceMs: T0, firedAtMs: T0, shownAtMs: T0 } as const;
    const prediction = { rule: "data_full", series: saved.series, tags, field: "used_percent", value: 1, threshold: 100, etaMs: null, etaLowMs: null, etaHighMs: null } as never;
    expect(a.restoreAlerts([{ ...saved, prediction }])).toBe(0);
    a.write([point(0, 60)]);
    expect(a.restoreAlerts([{ ...saved, rule: "gone", prediction }])).toBe(0);
    expect(a.restoreAlerts([{ ...saved, prediction }])).toBe(1);
    expect(a.alerts().map((x) => x.state)).toEqual(["firing"]);
  });
});
