import type { Alert } from "./core/contracts.js";
import { parseSeriesKey, type Point } from "./core/point.js";
import type { JournalRecord } from "./remediator/journal.js";

// ANSAI's own state as points in the store, so Grafana draws alerts and ANSAI's health from the
// same InfluxQL source as everything else (measurements `ansai_alert`, `ansai_action` and
// `ansai_internal`).

const STATE_VALUE = { resolved: 0, pending: 1, firing: 2 } as const;

/** An alert as a point: the source tags plus rule/severity, `state` 0 resolved, 1 pending, 2 firing. */
export function alertToPoint(alert: Alert, nowMs: number): Point {
  const fields: Record<string, number> = { state: STATE_VALUE[alert.state] };
  const eta = alert.prediction.etaMs;
  if (eta !== null) fields.eta_s = (eta - nowMs) / 1000;
  return { measurement: "ansai_alert", tags: { ...alert.tags, rule: alert.rule, severity: alert.severity }, fields, timeMs: nowMs };
}

/**
 * A journal record as a point: tags action, rule, host (of the alert), kind, reason, dry_run;
 * `count` 1, and for finished runs `ok` (0/1) and `duration_ms`.
 */
export function journalToPoint(r: JournalRecord, defaultHost: string): Point {
  // Alert ids are "<rule>:<series key>"; the series names the host.
  const series = parseSeriesKey(r.alertId.slice(r.alertId.indexOf(":") + 1));
  const reason = r.kind === "suppressed" || r.kind === "queued" ? (r.reason ?? "none") : "none";
  const fields: Record<string, number> = { count: 1 };
  if (r.kind === "finished") {
    fields.ok = r.ok ? 1 : 0;
    fields.duration_ms = r.durationMs;
  }
  return {
    measurement: "ansai_action",
    tags: { action: r.action, rule: r.rule, host: series?.tags.host ?? defaultHost, kind: r.kind, reason, dry_run: String(r.dryRun) },
    fields,
    timeMs: r.timeMs,
  };
}

export interface SelfReading {
  storePendingPoints: number;
  bufferBytes: number;
  ruleEvalMs: number;
  series: number;
  alertsFiring: number;
}

/** Counts points entering the pipeline and turns a reading into one `ansai_internal` point with a rate. */
export class SelfMonitor {
  private ingested = 0;
  private last: { timeMs: number; ingested: number } | undefined;

  constructor(private readonly host: string) {}

  count(points: number): void {
    this.ingested += points;
  }

  point(nowMs: number, reading: SelfReading): Point {
    const elapsedS = this.last ? (nowMs - this.last.timeMs) / 1000 : 0;
    const perS = this.last && elapsedS > 0 ? (this.ingested - this.last.ingested) / elapsedS : 0;
    this.last = { timeMs: nowMs, ingested: this.ingested };
    return {
      measurement: "ansai_internal",
      tags: { host: this.host },
      fields: {
        points_ingested_total: this.ingested,
        points_per_s: perS,
        store_pending_points: reading.storePendingPoints,
        buffer_bytes: reading.bufferBytes,
        rule_eval_ms: reading.ruleEvalMs,
        series: reading.series,
        alerts_firing: reading.alertsFiring,
      },
      timeMs: nowMs,
    };
  }
}
