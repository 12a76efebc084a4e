import { describe, expect, it } from "vitest";
import type { Alert } from "./core/contracts.js";
import type { JournalRecord } from "./remediator/journal.js";
import { alertToPoint, journalToPoint, SelfMonitor } from "./self-points.js";

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

describe("journalToPoint", () => {
  const base = { id: "1-a1", timeMs: 5000, runId: "r1", action: "clean-logs", rule: "disk_full_4h", alertId: "disk_full_4h:disk,host=web-01,path=/var used_percent", target: "path:/var/log", dryRun: false };

  it("tags the alert's host, the kind and the reason; finished runs carry ok and duration", () => {
    const finished = { ...base, kind: "finished", attempt: 1, ok: true, exitCode: 0, durationMs: 120, outputTail: "" } as JournalRecord;
    expect(journalToPoint(finished, "srv")).toEqual({
      measurement: "ansai_action",
      tags: { action: "clean-logs", rule: "disk_full_4h", host: "web-01", kind: "finished", reason: "none", dry_run: "false" },
      fields: { count: 1, ok: 1, duration_ms: 120 },
      timeMs: 5000,
    });
    const suppressed = { ...base, dryRun: true, kind: "suppressed", reason: "dry_run", detail: "" } as JournalRecord;
    expect(journalToPoint(suppressed, "srv")).toMatchObject({ tags: { kind: "suppressed", reason: "dry_run", dry_run: "true" }, fields: { count: 1 } });
  });

  it("falls back to the server's host for alerts without one", () => {
    const raised = { ...base, alertId: "remediation_storm:", kind: "raised", alertRule: "remediation_storm", summary: "" } as JournalRecord;
    expect(journalToPoint(raised, "srv").tags.host).toBe("srv");
  });
});
