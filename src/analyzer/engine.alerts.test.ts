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
