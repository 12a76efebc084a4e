import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createAnalyzer } from "./engine.js";
import type { RuleSpec } from "./rules.js";

const S = 1000;
const T0 = 1_700_000_000_000;
const log = pino({ level: "silent" });

const rule = (name: string, measurement: string, extra: Partial<RuleSpec> = {}): RuleSpec => ({
  name,
  severity: "warning",
  match: { measurement, field: "used_percent" },
  threshold: { value: 100 },
  horizonMs: 3600 * S,
  forMs: 0,
  windowMs: 3600 * S,
  minSamples: 3,
  summary: "{{eta}}",
  ...extra,
});

describe("analyzer evaluation", () => {
  it.each([true, false])("reports every rule evaluated at the latest time, watching a series or not (timeRules %s)", (timeRules) => {
    const a = createAnalyzer({ rules: [rule("watched", "disk"), rule("idle", "swap")], log, timeRules });
    expect(a.ruleHealth().map((h) => h.lastEvaluationMs)).toEqual([null, null]);
    for (let i = 0; i < 10; i++) a.write([{ measurement: "disk", tags: { path: "/" }, fields: { used_percent: 10 + i }, timeMs: T0 + i * 10 * S }]);
    a.evaluate(T0 + 90 * S);
    a.evaluate(T0 + 100 * S);
    const health = a.ruleHealth();
    expect(health.map((h) => [h.rule, h.lastEvaluationMs, h.series, h.lastError])).toEqual([
      ["watched", T0 + 100 * S, 1, null],
      ["idle", T0 + 100 * S, 0, null],
    ]);
    for (const h of health) {
      if (timeRules) expect(h.lastDurationMs).toBeGreaterThanOrEqual(0);
      else expect(h.lastDurationMs).toBeNull();
    }
  });

  it("applies min_history, min_confidence and the model per rule, with rules of different shapes side by side", () => {
    const rules = [
      rule("plain", "disk"),
      rule("young", "disk", { minHistoryMs: 3600 * S }),
      rule("unsure", "disk", { minConfidence: 1.01 }),
      rule("sawtooth", "disk", { model: "sawtooth_trend", labels: { team: "ops" } }),
    ];
    const a = createAnalyzer({ rules, log });
    for (let i = 0; i < 30; i++) a.write([{ measurement: "disk", tags: { path: "/" }, fields: { used_percent: 50 + i }, timeMs: T0 + i * 10 * S }]);
    const { predictions, transitions } = a.evaluate(T0 + 290 * S);
    expect(predictions.map((p) => [p.rule, p.model])).toEqual([
      ["plain", "linear_trend"],
      ["young", "linear_trend"],
      ["unsure", "linear_trend"],
      ["sawtooth", "sawtooth_trend"],
    ]);
    // 1 %/10 s from 79 %: full at +500 s, well within the hour; the young and the unsure rule hold back.
    expect(predictions.map((p) => p.etaMs)).toEqual([T0 + 500 * S, T0 + 500 * S, T0 + 500 * S, T0 + 500 * S]);
    expect(transitions.map((t) => [t.rule, t.state, t.tags])).toEqual([
      ["plain", "firing", { path: "/" }],
      ["sawtooth", "firing", { team: "ops", path: "/" }],
    ]);
  });

  it("without collected predictions, makes the same transitions and builds the same predictions for active alerts", () => {
    const rules = [rule("plain", "disk"), rule("sawtooth", "disk", { model: "sawtooth_trend" }), rule("idle", "swap")];
    const live = createAnalyzer({ rules, log });
    const replay = createAnalyzer({ rules, log, collectPredictions: false });
    for (let i = 0; i < 120; i++) {
      const t = T0 + i * 10 * S;
      // A fill that stops: firing, then resolved once the trend flattens.
      const points = [{ measurement: "disk", tags: { path: "/" }, fields: { used_percent: 40 + Math.min(i, 40) * 0.5 }, timeMs: t }];
      live.write(points);
      replay.write(points);
      const a = live.evaluate(t);
      const b = replay.evaluate(t);
      expect(b.predictions).toEqual([]);
      expect(b.transitions).toEqual(a.transitions);
      expect(replay.alerts()).toEqual(live.alerts());
      // Both models offer `eta`: full forecasts only where an alert shows one (pending, firing, or resolved just now).
      const shown = new Set(replay.alerts().filter((x) => x.state !== "resolved" || x.resolvedAtMs === t).map((x) => x.id));
      expect(replay.predictions()).toEqual(live.predictions().filter((p) => shown.has(`${p.rule}:${p.series}`)));
    }
    expect(live.alerts().map((a) => [a.rule, a.state])).toContainEqual(["plain", "resolved"]);
    expect(live.alerts().map((a) => [a.rule, a.state])).toContainEqual(["sawtooth", "firing"]);
  });
});
