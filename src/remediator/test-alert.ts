import type { Alert } from "../core/contracts.js";

/** A firing process-memory alert for tests; `pid` makes the series (the default target) distinct. */
export function testAlert(tags: Record<string, string>, overrides: Partial<Alert> = {}): Alert {
  const series = `procstat,pid=${tags.pid ?? "1"} memory_rss`;
  return {
    id: `process_memory_limit/${series}`,
    rule: "process_memory_limit",
    severity: "warning",
    state: "firing",
    series,
    tags,
    activeSinceMs: 0,
    firedAtMs: 0,
    resolvedAtMs: null,
    summary: "worker reaches its memory limit in 5 m",
    prediction: {
      rule: "process_memory_limit", model: "linear_trend", series, measurement: "procstat", tags, field: "memory_rss",
      atMs: 0, value: 100, threshold: 200, slopePerS: 1, etaMs: 100_000, etaLowMs: 90_000, etaHighMs: 110_000,
      forecastValue: 300, confidence: 0.99, samples: 20,
    },
    ...overrides,
  };
}
