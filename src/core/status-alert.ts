import type { Alert, Severity } from "./contracts.js";
import { seriesKey } from "./point.js";

/** A condition ANSAI observes about itself (an agent silent, points dropped), not forecast. */
export interface StatusAlertSpec {
  rule: string;
  severity: Severity;
  /** Names the source in place of a forecasting model, e.g. "heartbeat". */
  model: string;
  measurement: string;
  field: string;
  tags: Readonly<Record<string, string>>;
  value: number;
  threshold: number;
  slopePerS: number;
  /** When the condition was (or is) reached (ms). */
  etaMs: number;
  nowMs: number;
  /** Since when the condition holds (ms). */
  sinceMs: number;
  summary: string;
}

/** A firing alert whose "prediction" is the observed reading, so notifiers and the API treat it like any other. */
export function statusAlert(s: StatusAlertSpec): Alert {
  const series = seriesKey(s.measurement, s.tags, s.field);
  return {
    id: `${s.rule}:${series}`,
    rule: s.rule,
    severity: s.severity,
    state: "firing",
    series,
    tags: s.tags,
    activeSinceMs: s.sinceMs,
    firedAtMs: s.nowMs,
    resolvedAtMs: null,
    summary: s.summary,
    prediction: {
      rule: s.rule,
      model: s.model,
      series,
      measurement: s.measurement,
      tags: s.tags,
      field: s.field,
      atMs: s.nowMs,
      value: s.value,
      threshold: s.threshold,
      slopePerS: s.slopePerS,
      etaMs: s.etaMs,
      etaLowMs: s.etaMs,
      etaHighMs: s.etaMs,
      forecastValue: s.value,
      confidence: 1,
      samples: 0,
    },
  };
}
