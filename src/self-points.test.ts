import { describe, expect, it } from "vitest";
import type { Alert } from "./core/contracts.js";
import { alertToPoint, SelfMonitor } from "./self-points.js";

const alert = (state: Alert["state"], etaMs: number | null): Alert => ({
  id: "disk_full_24h disk,host=h1,path=/var used_percent",
  rule: "disk_full_24h",
  severity: "warning",
  state,
  series: "disk,host=h1,path=/var used_percent",
  tags: { host: "h1", path: "/var" },
  activeSinceMs: 0,
  firedAtMs: null,
  resolvedAtMs: null,
  summary: "",
  prediction: {
    rule: "disk_full_24h", model: "linear_trend", series: "s", measurement: "disk", tags: {}, field: "used_percent",
    atMs: 0, value: 50, threshold: 100, slopePerS: 1, etaMs, etaLowMs: null, etaHighMs: null, forecastValue: 0, confidence: 1, samples: 10,
  },
});

describe("alertToPoint", () => {
  it.each([
    ["resolved", 0],
    ["pending", 1],
    ["firing", 2],
  ] as const)("%s alert has state %d and keeps the source tags", (state, value) => {
    const p = alertToPoint(alert(state, 70_000), 10_000);
    expect(p).toEqual({
      measurement: "ansai_alert",
      tags: { host: "h1", path: "/var", rule: "disk_full_24h", severity: "warning" },
      fields: { state: value, eta_s: 60 },
      timeMs: 10_000,
    });
  });

  it("omits eta_s when the prediction has no ETA", () => {
    expect(alertToPoint(alert("firing", null), 0).fields).toEqual({ state: 2 });
  });
});

describe("SelfMonitor", () => {
  it("reports the ingest rate between two readings", () => {
    const m = new SelfMonitor("srv");
    const reading = { storePendingPoints: 3, bufferBytes: 0, ruleEvalMs: 1.5, series: 7, alertsFiring: 1 };
    expect(m.point(0, reading).fields.points_per_s).toBe(0);
    m.count(500);
    m.count(500);
    const p = m.point(10_000, reading);
    expect(p.tags).toEqual({ host: "srv" });
    expect(p.fields).toMatchObject({ points_ingested_total: 1000, points_per_s: 100, store_pending_points: 3, rule_eval_ms: 1.5, series: 7, alerts_firing: 1 });
  });
});
