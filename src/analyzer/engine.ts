import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ColumnHead, ColumnSink, PointColumns } from "../core/columns.js";
import type { Alert, PointSink, Prediction } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { seriesKey, type FieldValue, type Point } from "../core/point.js";
import type { TrendForecast } from "./models/linear-trend.js";
import { createModel } from "./models/index.js";
import type { ForecastModel } from "./models/model.js";
import {
  INACTIVE,
  alertCondition,
  compileRule,
  joinKey,
  renderSummary,
  ruleMatches,
  stepAlert,
  type AlertLifecycle,
  type CompiledRule,
  type RuleHealth,
  type RuleSpec,
} from "./rules.js";

export interface AnalyzerOptions {
  rules: RuleSpec[];
  log: Logger;
  /** prom-client registry for the analyzer's own metrics; never the global one. */
  registry?: Registry;
  /** How long resolved alerts stay visible (ms). Default 15 minutes. */
  resolvedRetentionMs?: number;
}

export interface EvaluationResult {
  /** Every prediction made in this evaluation. */
  predictions: Prediction[];
  /** Alerts whose state changed in this evaluation (entered pending, firing or resolved). */
  transitions: Alert[];
}

export interface Analyzer extends PointSink, ColumnSink {
  /** Observes points: updates the model of every (rule, series) whose match fits. */
  write(points: readonly Point[]): void;
  /** Observes points given as columns, exactly as `write` would observe them. */
  writeColumns(columns: PointColumns): void;
  /** Predicts every watched series at `nowMs` and advances alert lifecycles. */
  evaluate(nowMs: number): EvaluationResult;
  /** Latest prediction per (rule, series), by ETA ascending, nulls last. */
  predictions(): Prediction[];
  /** Pending, firing and recently resolved alerts. */
  alerts(): Alert[];
  ruleHealth(): RuleHealth[];
}


const DEFAULT_RESOLVED_RETENTION_MS = 15 * 60_000;
/** Stale series are swept at most this often (ms of evaluation time). */
const SWEEP_INTERVAL_MS = 60_000;
/** A series unseen for this many windows is forgotten (model slot freed). */
const EVICT_AFTER_WINDOWS = 2;
/** The raw point-key cache is cleared when it grows past this. */
const ROUTE_CACHE_LIMIT = 1_000_000;

interface RuleRuntime {
  compiled: CompiledRule;
  model: ForecastModel;
  bindings: Binding[];
  health: RuleHealth;
  /** Latest value of the threshold series by join key (rules with `thresholdSeries` only). */
  joined: Map<string, number>;
}

/** One rule watching one series. Objects per series, never per sample. */
interface Binding {
  rule: RuleRuntime;
  entry: SeriesEntry;
  slot: number;
  /** Latest value of the rule's threshold field; NaN until seen. */
  threshold: number;
  /** Key into the rule's `joined` thresholds, or null when the threshold is not another series. */
  joinKey: string | null;
  prediction: Prediction | null;
  lifecycle: AlertLifecycle;
  alert: Alert | null;
  dead: boolean;
}

interface SeriesEntry {
  key: string;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  field: string;
  bindings: Binding[];
  /** Model slot per model (window) watching this series. */
  slots: Map<ForecastModel, number>;
  /** Time of the point that created the entry (ms). */
  createdMs: number;
}

/** What one field of a point feeds: model slots to update and bindings whose threshold it is. */
interface FieldRoute {
  field: string;
  /** The field list columns last named for this series (by identity), and this field's position in it (-1: absent). */
  lastNames: readonly string[] | undefined;
  lastIndex: number;
  models: ForecastModel[];
  slots: number[];
  thresholdTargets: Binding[];
  /** Threshold series this field is: where to record its latest value. */
  joins: Array<{ values: Map<string, number>; key: string }>;
}

type PointRoute = readonly FieldRoute[];
const NO_ROUTE: PointRoute = Object.freeze([]);
/** The condition of a series younger than its rule's min_history: never active. */
const NOT_YET = Object.freeze({ active: false, keepFiring: false });

interface Metrics {
  samples: Counter;
  evalDuration: Histogram<"rule">;
  alerts: Gauge<"state">;
}

export function createAnalyzer(opts: AnalyzerOptions): Analyzer {
  const log = opts.log;
  const keepResolvedMs = opts.resolvedRetentionMs ?? DEFAULT_RESOLVED_RETENTION_MS;
  // Rules with the same model and window share one model state per series.
  const models = new Map<string, ForecastModel>();
  const rules: RuleRuntime[] = [];
  const names = new Set<string>();
  for (const spec of opts.rules) {
    const compiled = compileRule(spec);
    if (names.has(spec.name)) {
      throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `rule "${spec.name}" is defined twice`, "Give every rule a unique name.");
    }
    names.add(spec.name);
    const modelKey = `${spec.model ?? "linear_trend"}:${spec.windowMs}`;
    let model = models.get(modelKey);
    if (!model) {
      model = createModel(spec.model ?? "linear_trend", spec.windowMs);
      models.set(modelKey, model);
    }
    const health: RuleHealth = { rule: spec.name, lastEvaluationMs: null, lastDurationMs: null, lastError: null, series: 0 };
    rules.push({ compiled, model, bindings: [], health, joined: new Map() });
  }

  const entries = new Map<string, SeriesEntry>();
  const routes = new Map<string, PointRoute>();
  const byTagsObject = new WeakMap<object, { generation: number; measurement: string; route: PointRoute }>();
  let generation = 0;
  // Per table of column heads: routes by head id (an array index instead of a WeakMap lookup per point), for one generation.
  const routesByHeadTable = new WeakMap<object, { generation: number; routes: Array<PointRoute | undefined> }>();
  const active = new Set<Binding>();
  let lastSweepMs = -Infinity;
  const metrics = opts.registry ? createMetrics(opts.registry, () => entries.size) : undefined;

  /** The route of a series; `timeMs` (of the point being routed) dates series it creates. */
  function routeFor(p: ColumnHead, timeMs: number): PointRoute {
    // Fast path: producers that keep one (read-only) tags object per series skip key building.
    const tags = p.tags;
    const known = byTagsObject.get(tags);
    if (known !== undefined && known.generation === generation && known.measurement === p.measurement) return known.route;
    // Raw key in the point's own tag order: no sort, no escaping; maps to the canonical key on a miss.
    let raw = p.measurement;
    for (const k in tags) raw += `\u0001${k}\u0002${tags[k]}`;
    let route = routes.get(raw);
    if (route === undefined) {
      route = buildRoute(p, timeMs);
      if (routes.size >= ROUTE_CACHE_LIMIT) clearRoutes();
      routes.set(raw, route);
    }
    byTagsObject.set(tags, { generation, measurement: p.measurement, route });
    return route;
  }

  function clearRoutes(): void {
    routes.clear();
    generation++;
  }

  function buildRoute(p: ColumnHead, timeMs: number): PointRoute {
    const byField = new Map<string, FieldRoute>();
    const routeOf = (field: string): FieldRoute => {
      let r = byField.get(field);
      if (!r) {
        r = { field, lastNames: undefined, lastIndex: -1, models: [], slots: [], thresholdTargets: [], joins: [] };
        byField.set(field, r);
      }
      return r;
    };
    for (const rule of rules) {
      const ts = rule.compiled.thresholdSeries;
      if (ts !== null && ts.measurement === p.measurement) routeOf(ts.field).joins.push({ values: rule.joined, key: joinKey(p.tags, ts.on) });
      if (!ruleMatches(rule.compiled, p.measurement, p.tags)) continue;
      const binding = bindingFor(rule, p, timeMs);
      const fr = routeOf(rule.compiled.spec.match.field);
      // Rules sharing a window share the slot: update it once per sample.
      if (!fr.slots.some((s, i) => s === binding.slot && fr.models[i] === rule.model)) {
        fr.models.push(rule.model);
        fr.slots.push(binding.slot);
      }
      if (rule.compiled.thresholdField !== null) routeOf(rule.compiled.thresholdField).thresholdTargets.push(binding);
    }
    return byField.size === 0 ? NO_ROUTE : [...byField.values()];
  }

  function bindingFor(rule: RuleRuntime, p: ColumnHead, timeMs: number): Binding {
    const field = rule.compiled.spec.match.field;
    const key = seriesKey(p.measurement, p.tags, field);
    let entry = entries.get(key);
    if (!entry) {
      entry = {
        key,
        measurement: p.measurement,
        tags: Object.freeze({ ...p.tags }),
        field,
        bindings: [],
        slots: new Map(),
        createdMs: timeMs,
      };
      entries.set(key, entry);
    }
    const existing = entry.bindings.find((b) => b.rule === rule);
    if (existing) return existing;
    let slot = entry.slots.get(rule.model);
    if (slot === undefined) {
      slot = rule.model.allocate();
      entry.slots.set(rule.model, slot);
    }
    const binding: Binding = {
      rule,
      entry,
      slot,
      threshold: NaN,
      joinKey: rule.compiled.thresholdSeries === null ? null : joinKey(p.tags, rule.compiled.thresholdSeries.on),
      prediction: null,
      lifecycle: INACTIVE,
      alert: null,
      dead: false,
    };
    entry.bindings.push(binding);
    rule.bindings.push(binding);
    return binding;
  }

  function write(points: readonly Point[]): void {
    let samples = 0;
    for (const p of points) {
      const route = routeFor(p, p.timeMs);
      if (route.length === 0) continue;
      const fields = p.fields;
      for (const fr of route) {
        const v: FieldValue | undefined = fields[fr.field];
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        for (let i = 0; i < fr.models.length; i++) fr.models[i]!.observe(fr.slots[i]!, p.timeMs, v);
        for (const b of fr.thresholdTargets) b.threshold = v;
        for (const j of fr.joins) j.values.set(j.key, v);
        samples += fr.models.length;
      }
    }
    if (metrics && samples > 0) metrics.samples.inc(samples);
  }

  function headRoutes(heads: object): Array<PointRoute | undefined> {
    const known = routesByHeadTable.get(heads);
    if (known !== undefined && known.generation === generation) return known.routes;
    const fresh = { generation, routes: new Array<PointRoute | undefined>() };
    routesByHeadTable.set(heads, fresh);
    return fresh.routes;
  }

  function writeColumns(c: PointColumns): void {
    let samples = 0;
    let v = 0;
    let byHead = headRoutes(c.heads);
    let seen = generation;
    for (let i = 0; i < c.count; i++) {
      const names = c.fieldNames[c.shapeIds[i] as number] as readonly string[];
      const first = v;
      v += names.length;
      const timeMs = c.timesMs[i] as number;
      const headId = c.headIds[i] as number;
      // Building a route may clear the route caches (a new generation).
      if (seen !== generation) {
        byHead = headRoutes(c.heads);
        seen = generation;
      }
      const route = byHead[headId] ?? (byHead[headId] = routeFor(c.heads[headId] as ColumnHead, timeMs));
      if (route.length === 0) continue;
      // Index loops: this runs per point, and iterators would allocate.
      for (let r = 0; r < route.length; r++) {
        const fr = route[r] as FieldRoute;
        if (fr.lastNames !== names) {
          fr.lastNames = names;
          fr.lastIndex = names.indexOf(fr.field);
        }
        if (fr.lastIndex < 0) continue;
        // Strings and booleans are NaN here: skipped, as `write` skips non-numbers.
        const value = c.values[first + fr.lastIndex] as number;
        if (!Number.isFinite(value)) continue;
        for (let k = 0; k < fr.models.length; k++) fr.models[k]!.observe(fr.slots[k]!, timeMs, value);
        for (let k = 0; k < fr.thresholdTargets.length; k++) fr.thresholdTargets[k]!.threshold = value;
        for (let k = 0; k < fr.joins.length; k++) fr.joins[k]!.values.set(fr.joins[k]!.key, value);
        samples += fr.models.length;
      }
    }
    if (metrics && samples > 0) metrics.samples.inc(samples);
  }

  function evaluate(nowMs: number): EvaluationResult {
    const predictions: Prediction[] = [];
    const transitions: Alert[] = [];
    for (const rule of rules) {
      const started = performance.now();
      try {
        evaluateRule(rule, nowMs, predictions, transitions);
        rule.health.lastError = null;
      } catch (err) {
        rule.health.lastError = err instanceof Error ? err.message : String(err);
        log.error({ err, rule: rule.health.rule }, "rule evaluation failed");
      }
      const durationMs = performance.now() - started;
      rule.health.lastEvaluationMs = nowMs;
      rule.health.lastDurationMs = durationMs;
      metrics?.evalDuration.observe({ rule: rule.health.rule }, durationMs / 1000);
    }
    if (nowMs - lastSweepMs >= SWEEP_INTERVAL_MS) {
      lastSweepMs = nowMs;
      sweep(nowMs);
    }
    if (metrics) {
      const counts = { pending: 0, firing: 0, resolved: 0 };
      for (const b of active) if (b.alert) counts[b.alert.state]++;
      for (const [state, n] of Object.entries(counts)) metrics.alerts.set({ state }, n);
    }
    return { predictions, transitions };
  }

  function evaluateRule(rule: RuleRuntime, nowMs: number, predictions: Prediction[], transitions: Alert[]): void {
    const { spec, thresholdField, thresholdValue } = rule.compiled;
    const timing = { forMs: spec.forMs, keepFiringForMs: spec.keepFiringForMs, keepResolvedMs };
    for (const b of rule.bindings) {
      const threshold =
        thresholdField !== null && !Number.isNaN(b.threshold)
          ? b.threshold
          : b.joinKey !== null
            ? (rule.joined.get(b.joinKey) ?? thresholdValue)
            : thresholdValue;
      let prediction: Prediction | undefined;
      if (Number.isFinite(threshold)) {
        const fc = rule.model.predict(b.slot, nowMs, threshold, spec.horizonMs, spec.minSamples);
        if (fc) prediction = toPrediction(rule, b.entry, fc, threshold, nowMs);
      }
      b.prediction = prediction ?? null;
      if (prediction) predictions.push(prediction);
      const prev = b.lifecycle;
      const young = spec.minHistoryMs !== undefined && nowMs - b.entry.createdMs < spec.minHistoryMs;
      const condition = young ? NOT_YET : alertCondition(prediction, nowMs, spec.horizonMs, spec.minConfidence);
      const next = stepAlert(prev, condition, nowMs, timing);
      b.lifecycle = next;
      if (next.phase === "inactive") {
        if (b.alert) {
          b.alert = null;
          active.delete(b);
        }
        continue;
      }
      // Resolved alerts keep the summary they had when they resolved.
      if (next === prev && next.phase === "resolved") continue;
      const shown = prediction ?? b.alert?.prediction;
      if (!shown) continue;
      const alert = toAlert(rule, b, next, shown, nowMs);
      b.alert = alert;
      active.add(b);
      if (next.phase !== prev.phase) {
        transitions.push(alert);
        log.info(
          { rule: spec.name, series: b.entry.key, state: alert.state, etaMs: shown.etaMs, severity: spec.severity },
          `alert ${alert.state}: ${alert.summary}`,
        );
      }
    }
    rule.health.series = rule.bindings.length;
  }

  /** Forgets series unseen for EVICT_AFTER_WINDOWS windows whose alerts are all inactive. */
  function sweep(nowMs: number): void {
    let evicted = 0;
    for (const [key, entry] of entries) {
      const stale = entry.bindings.every((b) => {
        if (b.lifecycle.phase !== "inactive") return false;
        const last = b.rule.model.lastTimeMs(b.slot);
        const seen = Number.isNaN(last) ? entry.createdMs : last;
        return nowMs - seen > EVICT_AFTER_WINDOWS * b.rule.model.windowMs;
      });
      if (!stale) continue;
      for (const b of entry.bindings) b.dead = true;
      for (const [model, slot] of entry.slots) model.release(slot);
      entries.delete(key);
      evicted++;
    }
    if (evicted === 0) return;
    for (const rule of rules) {
      rule.bindings = rule.bindings.filter((b) => !b.dead);
      rule.health.series = rule.bindings.length;
    }
    clearRoutes();
    log.debug({ evicted }, "forgot stale series");
  }

  function predictions(): Prediction[] {
    const out: Prediction[] = [];
    for (const rule of rules) for (const b of rule.bindings) if (b.prediction) out.push(b.prediction);
    return out.sort(byEta);
  }

  function alerts(): Alert[] {
    const out: Alert[] = [];
    for (const b of active) if (b.alert) out.push(b.alert);
    return out.sort((a, b) => a.activeSinceMs - b.activeSinceMs || a.id.localeCompare(b.id));
  }

  function ruleHealth(): RuleHealth[] {
    return rules.map((r) => ({ ...r.health, series: r.bindings.length }));
  }

  return { write, writeColumns, evaluate, predictions, alerts, ruleHealth };
}

function byEta(a: Prediction, b: Prediction): number {
  if (a.etaMs === null) return b.etaMs === null ? 0 : 1;
  if (b.etaMs === null) return -1;
  return a.etaMs - b.etaMs;
}

function toPrediction(
  rule: RuleRuntime,
  entry: SeriesEntry,
  fc: TrendForecast,
  threshold: number,
  nowMs: number,
): Prediction {
  return {
    rule: rule.compiled.spec.name,
    model: rule.compiled.spec.model ?? "linear_trend",
    series: entry.key,
    measurement: entry.measurement,
    tags: entry.tags,
    field: entry.field,
    atMs: nowMs,
    value: fc.lastValue,
    threshold,
    slopePerS: fc.slopePerMs * 1000,
    etaMs: fc.etaMs,
    etaLowMs: fc.etaLowMs,
    etaHighMs: fc.etaHighMs,
    forecastValue: fc.forecastValue,
    ...forecastBand(fc, threshold, nowMs, rule.compiled.spec.horizonMs),
    confidence: fc.confidence,
    samples: fc.samples,
    ...(fc.score === undefined ? {} : { score: fc.score }),
  };
}

function toAlert(rule: RuleRuntime, b: Binding, lc: AlertLifecycle, p: Prediction, nowMs: number): Alert {
  const spec = rule.compiled.spec;
  return {
    id: `${spec.name}:${b.entry.key}`,
    rule: spec.name,
    severity: spec.severity,
    state: lc.phase === "inactive" ? "resolved" : lc.phase,
    series: b.entry.key,
    // Rule labels add routing context; the series' own tags win so targets stay exact.
    tags: spec.labels ? { ...spec.labels, ...b.entry.tags } : b.entry.tags,
    activeSinceMs: lc.activeSinceMs ?? nowMs,
    firedAtMs: lc.firedAtMs,
    resolvedAtMs: lc.resolvedAtMs,
    summary: renderSummary(spec.summary, p, nowMs),
    prediction: p,
  };
}

function createMetrics(registry: Registry, seriesCount: () => number): Metrics {
  new Gauge({
    name: "ansai_analyzer_series",
    help: "Series the analyzer watches.",
    registers: [registry],
    collect() {
      this.set(seriesCount());
    },
  });
  return {
    samples: new Counter({
      name: "ansai_analyzer_samples_total",
      help: "Samples fed to analyzer models.",
      registers: [registry],
    }),
    evalDuration: new Histogram({
      name: "ansai_rule_evaluation_duration_seconds",
      help: "Time to evaluate one rule over all its series.",
      labelNames: ["rule"],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    alerts: new Gauge({
      name: "ansai_alerts",
      help: "Alerts by state after the latest evaluation.",
      labelNames: ["state"],
      registers: [registry],
    }),
  };
}

/**
 * The forecast's band at the horizon, for charts: through the ETA bounds (the steepest and the
 * flattest plausible line to the threshold), else ± 2 residual σ. Always contains the forecast.
 */
function forecastBand(fc: TrendForecast, threshold: number, nowMs: number, horizonMs: number): { forecastLow: number; forecastHigh: number } {
  const at = (etaMs: number | null): number | undefined =>
    etaMs !== null && etaMs > nowMs ? fc.fittedNow + ((threshold - fc.fittedNow) * horizonMs) / (etaMs - nowMs) : undefined;
  const spread = 2 * (Number.isFinite(fc.residualStd) ? fc.residualStd : 0);
  const fast = at(fc.etaLowMs) ?? fc.forecastValue + spread * Math.sign(threshold - fc.fittedNow || 1);
  const slow = at(fc.etaHighMs) ?? fc.forecastValue - spread * Math.sign(threshold - fc.fittedNow || 1);
  return { forecastLow: Math.min(fast, slow, fc.forecastValue), forecastHigh: Math.max(fast, slow, fc.forecastValue) };
}

/**
 * A prediction as a point for the store: measurement `ansai_prediction`, the source tags plus
 * rule/model/source_measurement/source_field, ETAs as seconds from `atMs` (omitted when null).
 */
export function predictionToPoint(p: Prediction): Point {
  const fields: Record<string, number> = {};
  if (p.etaMs !== null) fields.eta_s = (p.etaMs - p.atMs) / 1000;
  if (p.etaLowMs !== null) fields.eta_low_s = (p.etaLowMs - p.atMs) / 1000;
  if (p.etaHighMs !== null) fields.eta_high_s = (p.etaHighMs - p.atMs) / 1000;
  fields.slope_per_s = p.slopePerS;
  fields.forecast_value = p.forecastValue;
  if (p.forecastLow !== undefined) fields.forecast_low = p.forecastLow;
  if (p.forecastHigh !== undefined) fields.forecast_high = p.forecastHigh;
  fields.confidence = p.confidence;
  fields.threshold = p.threshold;
  fields.value = p.value;
  if (p.score !== undefined) fields.anomaly_score = p.score;
  return {
    measurement: "ansai_prediction",
    tags: { ...p.tags, rule: p.rule, model: p.model, source_measurement: p.measurement, source_field: p.field },
    fields,
    timeMs: p.atMs,
  };
}
