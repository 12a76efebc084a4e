import pino from "pino";
import type { Alert, AlertState, Clock } from "../core/contracts.js";
import { seriesKey } from "../core/point.js";

/** A silent logger for tests. */
export const quietLog = pino({ level: "silent" });

/** A clock tests move by hand. */
export interface ManualClock extends Clock {
  set(ms: number): void;
}

export function manualClock(startMs = 0): ManualClock {
  let now = startMs;
  return { nowMs: () => now, set: (ms) => (now = ms) };
}

export interface AlertSpec {
  /** Rule name; the id is `<rule>:<series>`. */
  rule?: string;
  state: AlertState;
  host?: string | null;
  mount?: string;
  summary?: string;
  atMs?: number;
  severity?: Alert["severity"];
}

/** A disk alert as the analyzer makes them, for notifier tests. */
export function testAlert(spec: AlertSpec): Alert {
  const rule = spec.rule ?? "disk_full_24h";
  const atMs = spec.atMs ?? 1_700_000_000_000;
  const mount = spec.mount ?? "/var";
  const tags: Record<string, string> = spec.host === null ? { path: mount } : { host: spec.host ?? "web-01", path: mount };
  const series = seriesKey("disk", tags, "used_percent");
  return {
    id: `${rule}:${series}`,
    rule,
    severity: spec.severity ?? "warning",
    state: spec.state,
    series,
    tags,
    activeSinceMs: atMs - 600_000,
    firedAtMs: spec.state === "pending" ? null : atMs - 300_000,
    resolvedAtMs: spec.state === "resolved" ? atMs : null,
    summary: spec.summary ?? `${mount} on ${tags.host ?? "?"} full in 3 h 10 m (2 h 50 m – 3 h 40 m)`,
    prediction: {
      rule,
      model: "linear_trend",
      series,
      measurement: "disk",
      tags,
      field: "used_percent",
      atMs,
      value: 91.5,
      threshold: 100,
      slopePerS: 0.0007,
      etaMs: atMs + 11_400_000,
      etaLowMs: atMs + 10_200_000,
      etaHighMs: atMs + 13_200_000,
      forecastValue: 120,
      confidence: 0.93,
      samples: 240,
    },
  };
}
