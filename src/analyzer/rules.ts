import type { Prediction, Severity } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { formatValue } from "../core/format.js";
import type { ModelName } from "./models/index.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { compileTagMatchers, type CompiledTagMatcher } from "../core/tag-match.js";

/** A predictive rule: alert when a series is forecast to reach a threshold within a horizon. */
export interface RuleSpec {
  /** Unique rule name, e.g. "disk_full_4h". */
  name: string;
  /** Forecasting model; default linear_trend. */
  model?: ModelName;
  severity: Severity;
  /**
   * Which series the rule watches. Tag values match exactly, or as an anchored regular
   * expression when written "/regex/" (like Prometheus' `=~`).
   */
  match: { measurement: string; field: string; tags?: Record<string, string> };
  /**
   * A fixed threshold; the latest value of another field of the same series (`{field}`); or the
   * latest value of another series (`{measurement, field, on}`) whose tags named in `on` equal the
   * watched series' (PromQL's `on(host)`), e.g. the host's total memory for a process.
   */
  threshold: { value: number } | { field: string; fallback?: number } | ThresholdSeries;
  /** Alert when the forecast ETA is within now + horizonMs. */
  horizonMs: number;
  /** The condition must hold this long before the alert fires (Prometheus `for`). */
  forMs: number;
  /** A firing alert stays firing this long after its condition stops holding (Prometheus `keep_firing_for`). Default 0. */
  keepFiringForMs?: number;
  /** Predictions less sure than this (0..1) that the series trends to the threshold do not alert. Default 0. */
  minConfidence?: number;
  /**
   * A series alerts only once it has this much history (ms; default 0). Forecasts are still made
   * and shown. A 24 h warning on a host installed an hour ago mostly sees part of a daily cycle.
   */
  minHistoryMs?: number;
  /** The model's window (ms). */
  windowMs: number;
  /** No prediction before this many samples. */
  minSamples: number;
  /**
   * One line for people. Placeholders: {{tags.X}}, {{value}}, {{threshold}}, {{eta}},
   * {{eta_low}}, {{eta_high}} (durations from now), {{rate}} (growth per hour), {{score}} (anomaly score), {{rule}}, {{series}}.
   */
  summary: string;
  labels?: Record<string, string>;
}

/** Rule health as the API shows it (Prometheus rules manager style). */
export interface RuleHealth {
  rule: string;
  /** `nowMs` of the latest evaluation. */
  lastEvaluationMs: number | null;
  /** Wall time the latest evaluation took (ms). */
  lastDurationMs: number | null;
  lastError: string | null;
  /** Series the rule currently watches. */
  series: number;
}

/** A threshold read from another series, joined on the tags named in `on`. */
export interface ThresholdSeries {
  measurement: string;
  field: string;
  on: readonly string[];
  fallback?: number;
}

/** The join key of a series' tags for a threshold series: the values of the `on` tags. */
export function joinKey(tags: Readonly<Record<string, string>>, on: readonly string[]): string {
  return on.map((t) => tags[t] ?? "").join("\u0000");
}

/** A rule with its matchers compiled once. */
export interface CompiledRule {
  spec: RuleSpec;
  /** Tag matchers; a point lacking a matched tag does not match. */
  matchTags: CompiledTagMatcher;
  /** Field of the same series whose latest value is the threshold, or null. */
  thresholdField: string | null;
  /** Another series whose latest value is the threshold, or null. */
  thresholdSeries: ThresholdSeries | null;
  /** The fixed threshold, or the fallback when the field has not been seen (NaN when none). */
  thresholdValue: number;
}

const invalid = (rule: string, what: string, hint: string): AnsaiError =>
  new AnsaiError(ErrorCodes.CONFIG_INVALID, `rule "${rule}": ${what}`, hint);

/** Validates a rule and compiles its matchers; throws ANSAI_CONFIG_INVALID with a fix. */
export function compileRule(spec: RuleSpec): CompiledRule {
  const name = spec.name;
  if (!name) throw invalid("(unnamed)", "name is empty", "Give every rule a unique name, e.g. disk_full_4h.");
  for (const key of ["horizonMs", "windowMs"] as const) {
    if (!(spec[key] > 0)) throw invalid(name, `${key} must be > 0, got ${spec[key]}`, "Use a duration such as 4h.");
  }
  if (!(spec.forMs >= 0)) throw invalid(name, `forMs must be ≥ 0, got ${spec.forMs}`, "Use 0 to fire at once.");
  if (!(spec.minSamples >= 3)) {
    throw invalid(name, `minSamples must be ≥ 3, got ${spec.minSamples}`, "A trend with an interval needs 3 samples.");
  }
  let matchTags: CompiledTagMatcher;
  try {
    matchTags = compileTagMatchers(spec.match.tags ?? {});
  } catch (err) {
    throw invalid(
      name,
      `a tag pattern is not a valid regular expression (${(err as Error).message})`,
      "Fix the expression between the slashes, or drop the slashes to match the value exactly.",
    );
  }
  if ("measurement" in spec.threshold) {
    if (spec.threshold.on.length === 0) {
      throw invalid(name, "threshold.on is empty", "Name the tags that pair a series with its threshold series, e.g. on: [host].");
    }
    return { spec, matchTags, thresholdField: null, thresholdSeries: spec.threshold, thresholdValue: spec.threshold.fallback ?? NaN };
  }
  if ("field" in spec.threshold) {
    const fallback = spec.threshold.fallback;
    return { spec, matchTags, thresholdField: spec.threshold.field, thresholdSeries: null, thresholdValue: fallback ?? NaN };
  }
  if (!Number.isFinite(spec.threshold.value)) {
    throw invalid(name, `threshold.value must be a number`, "Set threshold: {value: 100} or {field: memory_limit}.");
  }
  return { spec, matchTags, thresholdField: null, thresholdSeries: null, thresholdValue: spec.threshold.value };
}

/** Whether a point's measurement and tags fit the rule (the field is checked separately). */
export function ruleMatches(rule: CompiledRule, measurement: string, tags: Readonly<Record<string, string>>): boolean {
  return measurement === rule.spec.match.measurement && rule.matchTags(tags);
}

// ---------------------------------------------------------------------------------------------
// Alert lifecycle: a pure state machine.

export type AlertPhase = "inactive" | "pending" | "firing" | "resolved";

export interface AlertLifecycle {
  phase: AlertPhase;
  /** When the condition first held in this episode (ms); null when inactive. */
  activeSinceMs: number | null;
  firedAtMs: number | null;
  resolvedAtMs: number | null;
  /** While firing: since when the condition has not held (for `keep_firing_for`). */
  quietSinceMs?: number;
}

export const INACTIVE: AlertLifecycle = Object.freeze({
  phase: "inactive",
  activeSinceMs: null,
  firedAtMs: null,
  resolvedAtMs: null,
});

/** What the rule saw this evaluation. */
export interface AlertCondition {
  /** The condition proper: a prediction exists and its ETA ≤ now + horizon. */
  active: boolean;
  /** The looser condition that keeps a firing alert firing (ETA ≤ now + 1.25 × horizon). */
  keepFiring: boolean;
}

export interface LifecycleTiming {
  forMs: number;
  /** How long a firing alert outlives its condition. */
  keepFiringForMs?: number;
  /** How long a resolved alert stays visible before it is dropped. */
  keepResolvedMs: number;
}

/** Firing alerts resolve only once the ETA moves beyond this many horizons (hysteresis). */
export const RESOLVE_HORIZON_FACTOR = 1.25;

// The three conditions there are (active implies keepFiring), shared: evaluation builds none per series.
/** Neither condition holds (no prediction, no ETA, or too unsure). */
export const NO_CONDITION: AlertCondition = Object.freeze({ active: false, keepFiring: false });
const HOLDING: AlertCondition = Object.freeze({ active: false, keepFiring: true });
const ACTIVE: AlertCondition = Object.freeze({ active: true, keepFiring: true });

/** Evaluates the condition for a prediction (or its absence) at `nowMs`. */
export function alertCondition(prediction: Pick<Prediction, "etaMs" | "confidence"> | undefined, nowMs: number, horizonMs: number, minConfidence = 0): AlertCondition {
  if (prediction === undefined || prediction.confidence < minConfidence) return NO_CONDITION;
  return etaCondition(prediction.etaMs ?? NaN, nowMs, horizonMs);
}

/** The condition for an ETA alone (ms; NaN when there is none), for rules that ask no minimum confidence. */
export function etaCondition(etaMs: number, nowMs: number, horizonMs: number): AlertCondition {
  if (etaMs <= nowMs + horizonMs) return ACTIVE;
  return etaMs <= nowMs + RESOLVE_HORIZON_FACTOR * horizonMs ? HOLDING : NO_CONDITION;
}

/**
 * Next lifecycle state: inactive → pending → firing (after `forMs`) → resolved → inactive
 * (after `keepResolvedMs`). An episode starts when the condition holds; a pending alert goes
 * straight back to inactive (without notice) once even the looser `keepFiring` fails; a resolved
 * alert whose condition holds again starts a new episode.
 */
export function stepAlert(
  prev: AlertLifecycle,
  cond: AlertCondition,
  nowMs: number,
  timing: LifecycleTiming,
): AlertLifecycle {
  switch (prev.phase) {
    case "inactive":
    case "resolved": {
      if (cond.active) return startEpisode(nowMs, timing);
      if (prev.phase === "resolved" && nowMs - (prev.resolvedAtMs ?? nowMs) >= timing.keepResolvedMs) return INACTIVE;
      return prev;
    }
    case "pending": {
      // The looser condition keeps it pending too: a forecast wobbling around the horizon (a
      // multi-scale trend switching scale moves the ETA by a quarter) does not restart `for`.
      if (!cond.keepFiring) return INACTIVE;
      const since = prev.activeSinceMs ?? nowMs;
      if (cond.active && nowMs - since >= timing.forMs) return { ...prev, phase: "firing", firedAtMs: nowMs };
      return prev;
    }
    case "firing": {
      if (cond.keepFiring) {
        if (prev.quietSinceMs === undefined) return prev;
        const { quietSinceMs: _, ...loud } = prev;
        return loud;
      }
      const quietSinceMs = prev.quietSinceMs ?? nowMs;
      if (nowMs - quietSinceMs < (timing.keepFiringForMs ?? 0)) return { ...prev, quietSinceMs };
      const { quietSinceMs: _, ...rest } = prev;
      return { ...rest, phase: "resolved", resolvedAtMs: nowMs };
    }
  }
}

function startEpisode(nowMs: number, timing: LifecycleTiming): AlertLifecycle {
  if (timing.forMs <= 0) return { phase: "firing", activeSinceMs: nowMs, firedAtMs: nowMs, resolvedAtMs: null };
  return { phase: "pending", activeSinceMs: nowMs, firedAtMs: null, resolvedAtMs: null };
}

// ---------------------------------------------------------------------------------------------
// Summaries.

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][\w.-]*)\s*\}\}/g;

/**
 * Fills a summary template. Durations are from `nowMs`: a null ETA renders "never", a null
 * eta_high "unbounded"; unknown placeholders and missing tags render as "".
 */
export function renderSummary(template: string, p: Prediction, nowMs: number): string {
  const dur = (ms: number | null, none: string): string => (ms === null ? none : formatDuration(Math.max(0, ms - nowMs)));
  return template.replace(PLACEHOLDER, (_, name: string) => {
    if (name.startsWith("tags.")) return p.tags[name.slice(5)] ?? "";
    switch (name) {
      case "value":
        return formatValue(p.value);
      case "threshold":
        return formatValue(p.threshold);
      case "eta":
        return dur(p.etaMs, "never");
      case "eta_low":
        return dur(p.etaLowMs, "never");
      case "eta_high":
        return dur(p.etaHighMs, "unbounded");
      case "score":
        return p.score === undefined ? "" : p.score.toFixed(1);
      case "rate":
        return `${formatValue(p.slopePerS * 3600, p.field)}/h`;
      case "rule":
        return p.rule;
      case "series":
        return p.series;
      default:
        return "";
    }
  });
}
