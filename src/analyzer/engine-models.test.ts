import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import { createAnalyzer } from "./engine.js";
import type { RuleSpec } from "./rules.js";

const H = 3_600_000;
const rule = (name: string, model: RuleSpec["model"]): RuleSpec => ({
  name,
  model,
  severity: "warning",
  match: { measurement: "disk", field: "used_percent" },
  threshold: { value: 100 },
  horizonMs: 24 * H,
  forMs: 0,
  windowMs: 6 * H,
  minSamples: 5,
  summary: "{{tags.path}} full in {{eta}}",
});

describe("a model per rule", () => {
  it("forecasts one series with each rule's own model and names it in the prediction", () => {
    const analyzer = createAnalyzer({ rules: [rule("linear", undefined), rule("robust", "robust_trend")], log: pino({ level: "silent" }) });
    const tags = { host: "h", path: "/data" };
    const t0 = 1_700_000_000_000;
    // 1 %/h from 50 %: full in 50 h from the start, sampled every minute for 6 h.
    const points: Point[] = [];
    for (let i = 0; i <= 360; i++) points.push({ measurement: "disk", tags, fields: { used_percent: 50 + i / 60 }, timeMs: t0 + i * 60_000 });
    analyzer.write(points);
    const nowMs = t0 + 360 * 60_000;
    const { predictions } = analyzer.evaluate(nowMs);
    expect(predictions.map((p) => [p.rule, p.model]).sort()).toEqual([
      ["linear", "linear_trend"],
      ["robust", "robust_trend"],
    ]);
    for (const p of predictions) expect(Math.abs((p.etaMs! - nowMs) / H - 44)).toBeLessThan(1);
  });
});
