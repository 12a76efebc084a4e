import { defaultRules } from "../analyzer/default-rules.js";
import type { RuleSpec } from "../analyzer/rules.js";
import type { Config } from "./schema.js";
import { durationMs } from "./zod-types.js";

/** Turns config rules into analyzer rules; a configured rule replaces a default of the same name. */
export function effectiveRules(config: Config): RuleSpec[] {
  const configured: RuleSpec[] = config.analyzer.rules.map((r) => ({
    name: r.name,
    model: r.model,
    severity: r.severity,
    match: { measurement: r.measurement, field: r.field, tags: { ...r.tags } },
    threshold: typeof r.threshold === "number" ? { value: r.threshold } : { ...r.threshold },
    horizonMs: durationMs(r.horizon),
    forMs: durationMs(r.for),
    keepFiringForMs: durationMs(r.keep_firing_for),
    minConfidence: r.min_confidence,
    minHistoryMs: durationMs(r.min_history),
    windowMs: durationMs(r.window),
    minSamples: r.min_samples,
    summary: r.summary,
    labels: { ...r.labels },
  }));
  const names = new Set(configured.map((r) => r.name));
  const defaults = config.analyzer.default_rules ? defaultRules.filter((r) => !names.has(r.name)) : [];
  return [...defaults, ...configured];
}
