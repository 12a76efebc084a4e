import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ColumnHead, ColumnSink, PointColumns } from "../core/columns.js";
import type { Alert, PointSink, Prediction } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { seriesKey, type FieldValue, type Point } from "../core/point.js";
import type { TrendForecast } from "./models/linear-trend.js";
import { createModel } from "./models/index.js";
import type { ForecastModel } from "./models/model.js";
import { BatchRoutes, EMPTY_ROUTE, FIELD_HEADER, HeadRoutes, RouteTable, ShapeTable, type FieldOps } from "./route-table.js";
import {
  INACTIVE,
  NO_CONDITION,
  alertCondition,
  compileRule,
  etaCondition,
  joinKey,
  renderSummary,
  ruleMatches,
  stepAlert,
  type AlertLifecycle,
  type CompiledRule,
  type LifecycleTiming,
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
  /**
   * Time every rule's evaluation for its health (`lastDurationMs`) and the duration histogram.
   * Default true; a backtest, which reads neither, turns it off (two clock reads per rule per
   * evaluation are a large share of a replay), and `lastDurationMs` then stays null.
   */
  timeRules?: boolean;
  /**
   * Return every evaluation's predictions from `evaluate` (default true: the live loop stores
   * them). A backtest, which reads only transitions, turns it off: a prediction is then built
   * only when read, from the same forecast; and a rule whose model offers `eta` (and that asks no
   * minimum confidence) forecasts in full only the series whose alert is active, so
   * `predictions()` lists only those for such rules.
   */
  collectPredictions?: boolean;
}

export interface EvaluationResult {
  /** Every prediction made in this evaluation. */
  readonly predictions: readonly Prediction[];
  /** Alerts whose state changed in this evaluation (entered pending, firing or resolved). */
  readonly transitions: readonly Alert[];
}

const NONE: readonly never[] = Object.freeze([]);
/** An evaluation that changed nothing and collected nothing (most of a backtest's): one shared result. */
const QUIET: EvaluationResult = Object.freeze({ predictions: NONE, transitions: NONE });

export interface Analyzer extends PointSink, ColumnSink {
  /** Observes points: updates the model of every (rule, series) whose match fits. */
  write(points: readonly Point[]): void;
  /**
   * Observes points given as columns, exactly as `write` would observe them: all of them, or
   * points [from, to) whose values start at `firstValue` (a replay writing up to each evaluation).
   */
  writeColumns(columns: PointColumns, from?: number, to?: number, firstValue?: number): void;
  /** Predicts every watched series at `nowMs` and advances alert lifecycles. */
  evaluate(nowMs: number): EvaluationResult;
  /** Latest prediction per (rule, series), by ETA ascending, nulls last. */
  predictions(): Prediction[];
  /** Pending, firing and recently resolved alerts. */
  alerts(): Alert[];
  ruleHealth(): RuleHealth[];
  /** Lifecycles of the pending and firing alerts, to carry across a restart. */
  savedAlerts(): SavedAlert[];
  /**
   * Restores saved lifecycles after a restart, once the models are warmed up from the store: a
   * pending alert keeps counting its `for` from when it began, a firing one stays firing without
   * a new transition. Alerts of series the analyzer has not seen (none recently in the store) and
   * of rules no longer configured are dropped. Returns how many were restored.
   */
  restoreAlerts(saved: readonly SavedAlert[]): number;
}

/** A pending or firing alert's lifecycle as saved across a restart (times in ms). */
export interface SavedAlert {
  rule: string;
  /** The series key the rule watches. */
  series: string;
  phase: "pending" | "firing";
  activeSinceMs: number;
  firedAtMs: number | null;
  /** While firing: since when its condition has not held (`keep_firing_for`). */
  quietSinceMs?: number;
  /** The prediction the alert showed, and when it was made: shown again until the next evaluation. */
  prediction: Prediction;
  shownAtMs: number;
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
  /**
   * What evaluation reads per series, copied out of the spec: specs come in many shapes (optional
   * keys, literals from different places), and reading them per prediction made every access a
   * megamorphic lookup. These fields are one shape for all rules.
   */
  hot: HotRule;
  /** The rule's lifecycle timing, built once. */
  timing: LifecycleTiming;
  model: ForecastModel;
  bindings: Binding[];
  health: RuleHealth;
  /** Latest value of the threshold series by join key (rules with `thresholdSeries` only). */
  joined: Map<string, number>;
}

/** A rule's spec fields read per prediction (see `RuleRuntime.hot`). */
interface HotRule {
  name: string;
  /** The spec's model, or the default. */
  modelName: string;
  horizonMs: number;
  minSamples: number;
  /** NaN when the rule has none (every comparison with NaN is false: never young). */
  minHistoryMs: number;
  /** 0 when the rule has none, as `alertCondition` defaults it. */
  minConfidence: number;
  /** Conditions from the model's `eta` alone, full forecasts only for active alerts (see `collectPredictions`). */
  etaOnly: boolean;
  thresholdField: string | null;
  thresholdValue: number;
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
  /** The latest forecast (null when the model had none), with the threshold and time it was made for. */
  forecast: TrendForecast | null;
  forecastThreshold: number;
  forecastAtMs: number;
  /** The latest forecast as a prediction, once built (see `predictionOf`); null until then. */
  prediction: Prediction | null;
  lifecycle: AlertLifecycle;
  /**
   * While the alert is active: the prediction it shows and the evaluation that set it. The Alert
   * itself (its summary rendered) is built from these when read, so a firing alert costs no
   * rendering per evaluation; `alert` caches it until the next evaluation changes them.
   */
  shown: Prediction | null;
  shownAtMs: number;
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

/** What one field of a point feeds besides models (rare): bindings whose threshold it is, threshold series it is. */
interface FieldSide {
  thresholdTargets: Binding[];
  /** Threshold series this field is: where to record its latest value. */
  joins: Array<{ values: Map<string, number>; key: string }>;
}

/** One field of a route while it is built (packed into the route table afterwards). */
interface FieldDraft extends FieldSide {
  fieldId: number;
  modelIds: number[];
  slots: number[];
}

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
    const timing: LifecycleTiming = { forMs: compiled.spec.forMs, keepFiringForMs: compiled.spec.keepFiringForMs, keepResolvedMs };
    const hot: HotRule = {
      name: spec.name,
      modelName: spec.model ?? "linear_trend",
      horizonMs: spec.horizonMs,
      minSamples: spec.minSamples,
      minHistoryMs: spec.minHistoryMs ?? NaN,
      minConfidence: spec.minConfidence ?? 0,
      etaOnly: opts.collectPredictions === false && model.eta !== undefined && !((spec.minConfidence ?? 0) > 0),
      thresholdField: compiled.thresholdField,
      thresholdValue: compiled.thresholdValue,
    };
    rules.push({ compiled, hot, timing, model, bindings: [], health, joined: new Map() });
  }

  const entries = new Map<string, SeriesEntry>();
  // The write path (see route-table.ts): routes are offsets into one packed table, valid for one generation.
  const table = new RouteTable();
  const sides: FieldSide[] = [];
  const modelList = [...new Set(rules.map((r) => r.model))];
  const watchedFields = [...new Set(rules.flatMap(watchedFieldsOf))];
  const routes = new Map<string, number>();
  const byTagsObject = new WeakMap<object, { generation: number; measurement: string; route: number }>();
  let generation = 0;
  // Per table of column heads: route offsets by head id (an array index instead of a WeakMap lookup per point).
  const routesByHeadTable = new WeakMap<object, HeadRoutes>();
  // Per table of field-name lists: where each watched field sits in each list.
  const shapesByTable = new WeakMap<object, ShapeTable>();
  // Per producer (known by the tags object of its batches' first point): routes by position in the batch.
  const batchesByFirstTags = new WeakMap<object, BatchRoutes>();
  const active = new Set<Binding>();
  // The rules watching at least one series, in rule order: most built-in rules watch nothing on a
  // given host, and an untimed evaluation (a backtest's) skips them without a look.
  let watching: RuleRuntime[] = [];
  // Times of the latest evaluation (every rule's `lastEvaluationMs`, NaN before the first) and
  // sweep, as fields of one object: a closure variable holding a time boxes it on every store.
  const clock = { lastEvaluationMs: NaN, lastSweepMs: -Infinity };
  const metrics = opts.registry ? createMetrics(opts.registry, () => entries.size) : undefined;
  const timeRules = opts.timeRules ?? true;
  const collectPredictions = opts.collectPredictions ?? true;

  /**
   * The route (offset in `table`) of a series; `timeMs` (of the point being routed) dates series
   * it creates. May start a new generation (every older offset invalid) before building the route.
   */
  function routeFor(p: ColumnHead, timeMs: number): number {
    // Fast path: producers that keep one (read-only) tags object per series skip key building.
    const tags = p.tags;
    const known = byTagsObject.get(tags);
    if (known !== undefined && known.generation === generation && known.measurement === p.measurement) return known.route;
    // Raw key in the point's own tag order: no sort, no escaping; maps to the canonical key on a miss.
    let raw = p.measurement;
    for (const k in tags) raw += `\u0001${k}\u0002${tags[k]}`;
    let route = routes.get(raw);
    if (route !== undefined) {
      // A known series under another tags object: the producer builds tags per point, and
      // remembering each one would only fill the WeakMap with dead keys (its GC cost grew to
      // tens of µs per point). Frozen tags are kept by their producer (ingest heads): remember those.
      if (Object.isFrozen(tags)) byTagsObject.set(tags, { generation, measurement: p.measurement, route });
      return route;
    }
    // Cleared before building: clearing forgets the packed routes, the new one included.
    if (routes.size >= ROUTE_CACHE_LIMIT) clearRoutes();
    route = buildRoute(p, timeMs);
    routes.set(raw, route);
    byTagsObject.set(tags, { generation, measurement: p.measurement, route });
    return route;
  }

  function clearRoutes(): void {
    routes.clear();
    table.reset();
    sides.length = 0;
    generation++;
  }

  function buildRoute(p: ColumnHead, timeMs: number): number {
    const byField = new Map<string, FieldDraft>();
    const routeOf = (field: string): FieldDraft => {
      let r = byField.get(field);
      if (!r) {
        r = { fieldId: watchedFields.indexOf(field), modelIds: [], slots: [], thresholdTargets: [], joins: [] };
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
      const modelId = modelList.indexOf(rule.model);
      // Rules sharing a window share the slot: update it once per sample.
      if (!fr.slots.some((s, i) => s === binding.slot && fr.modelIds[i] === modelId)) {
        fr.modelIds.push(modelId);
        fr.slots.push(binding.slot);
      }
      if (rule.compiled.thresholdField !== null) routeOf(rule.compiled.thresholdField).thresholdTargets.push(binding);
    }
    const fields: FieldOps[] = [];
    for (const d of byField.values()) {
      let sideId = -1;
      if (d.thresholdTargets.length > 0 || d.joins.length > 0) {
        sideId = sides.length;
        sides.push({ thresholdTargets: d.thresholdTargets, joins: d.joins });
      }
      fields.push({ fieldId: d.fieldId, modelIds: d.modelIds, slots: d.slots, sideId });
    }
    return table.add(fields);
  }

  /** Feeds a field's value to what else it routes to: thresholds and joined threshold series. */
  function feedSide(sideId: number, value: number): void {
    const side = sides[sideId] as FieldSide;
    for (let k = 0; k < side.thresholdTargets.length; k++) (side.thresholdTargets[k] as Binding).threshold = value;
    for (let k = 0; k < side.joins.length; k++) {
      const j = side.joins[k] as { values: Map<string, number>; key: string };
      j.values.set(j.key, value);
    }
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
      forecast: null,
      forecastThreshold: NaN,
      forecastAtMs: NaN,
      prediction: null,
      lifecycle: INACTIVE,
      shown: null,
      shownAtMs: NaN,
      alert: null,
      dead: false,
    };
    entry.bindings.push(binding);
    rule.bindings.push(binding);
    if (rule.bindings.length === 1) watching = rules.filter((r) => r.bindings.length > 0);
    return binding;
  }

  function write(points: readonly Point[]): void {
    let samples = 0;
    // Index loops over packed routes: this runs per point (see route-table.ts for the layout).
    const batch = batchRoutesOf(points);
    for (let i = 0; i < points.length; i++) {
      const p = points[i] as Point;
      const timeMs = p.timeMs;
      let route = batch === undefined ? -1 : batch.get(i, p.tags, p.measurement, generation);
      if (route < 0) {
        route = routeFor(p, timeMs);
        batch?.set(i, p.tags, p.measurement, route, generation);
      }
      if (route === EMPTY_ROUTE) continue;
      const ops = table.ops;
      const fields = p.fields;
      const fieldCount = ops[route] as number;
      let o = route + 1;
      for (let f = 0; f < fieldCount; f++) {
        const modelCount = ops[o + 1] as number;
        const sideId = ops[o + 2] as number;
        const pairs = o + FIELD_HEADER;
        const v: FieldValue | undefined = fields[watchedFields[ops[o] as number] as string];
        o = pairs + 2 * modelCount;
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        for (let k = pairs; k < o; k += 2) (modelList[ops[k] as number] as ForecastModel).observe(ops[k + 1] as number, timeMs, v);
        if (sideId >= 0) feedSide(sideId, v);
        samples += modelCount;
      }
    }
    if (metrics && samples > 0) metrics.samples.inc(samples);
  }

  /** The positional route cache of a batch's producer, once its first point's tags object is known from an earlier batch. */
  function batchRoutesOf(points: readonly Point[]): BatchRoutes | undefined {
    if (points.length < 2) return undefined;
    const first = (points[0] as Point).tags;
    let batch = batchesByFirstTags.get(first);
    // Only producers that keep tags objects benefit: fresh tags every batch would allocate a cache per batch.
    if (batch === undefined && byTagsObject.has(first)) {
      batch = new BatchRoutes(generation);
      batchesByFirstTags.set(first, batch);
    }
    return batch;
  }

  // The last tables asked for: a producer that sends small column batches (the backtest, one
  // sample per evaluation) reuses the same tables, and skips the WeakMap lookups.
  let lastHeads: object | undefined;
  let lastHeadRoutes: HeadRoutes | undefined;
  let lastFieldNames: object | undefined;
  let lastShapes: ShapeTable | undefined;

  function headRoutes(heads: object): HeadRoutes {
    if (heads === lastHeads && lastHeadRoutes!.generation === generation) return lastHeadRoutes!;
    lastHeads = heads;
    lastHeadRoutes = cachedHeadRoutes(heads);
    return lastHeadRoutes;
  }

  function cachedHeadRoutes(heads: object): HeadRoutes {
    const known = routesByHeadTable.get(heads);
    if (known !== undefined && known.generation === generation) return known;
    const fresh = new HeadRoutes(generation);
    routesByHeadTable.set(heads, fresh);
    return fresh;
  }

  function shapesOf(fieldNames: object): ShapeTable {
    if (fieldNames === lastFieldNames) return lastShapes!;
    lastFieldNames = fieldNames;
    lastShapes = cachedShapes(fieldNames);
    return lastShapes;
  }

  function cachedShapes(fieldNames: object): ShapeTable {
    let shapes = shapesByTable.get(fieldNames);
    if (shapes === undefined) {
      shapes = new ShapeTable(watchedFields);
      shapesByTable.set(fieldNames, shapes);
    }
    return shapes;
  }

  function writeColumns(c: PointColumns, from = 0, to = c.count, firstValue = 0): void {
    let samples = 0;
    let v = firstValue;
    let byHead = headRoutes(c.heads);
    const shapes = shapesOf(c.fieldNames);
    for (let i = from; i < to; i++) {
      const shape = shapes.base(c.shapeIds[i] as number, c.fieldNames);
      const positions = shapes.table;
      const first = v;
      v += positions[shape] as number;
      const timeMs = c.timesMs[i] as number;
      const headId = c.headIds[i] as number;
      let route = (byHead.offsets[headId] ?? 0) - 1;
      if (route < 0) {
        route = routeFor(c.heads[headId] as ColumnHead, timeMs);
        // Building a route may have cleared the route caches (a new generation).
        if (byHead.generation !== generation) byHead = headRoutes(c.heads);
        byHead.set(headId, route);
      }
      if (route === EMPTY_ROUTE) continue;
      const ops = table.ops;
      const fieldCount = ops[route] as number;
      let o = route + 1;
      for (let f = 0; f < fieldCount; f++) {
        const modelCount = ops[o + 1] as number;
        const sideId = ops[o + 2] as number;
        const at = positions[shape + 1 + (ops[o] as number)] as number;
        const pairs = o + FIELD_HEADER;
        o = pairs + 2 * modelCount;
        if (at < 0) continue;
        // Strings and booleans are NaN here: skipped, as `write` skips non-numbers.
        const value = c.values[first + at] as number;
        if (!Number.isFinite(value)) continue;
        for (let k = pairs; k < o; k += 2) (modelList[ops[k] as number] as ForecastModel).observe(ops[k + 1] as number, timeMs, value);
        if (sideId >= 0) feedSide(sideId, value);
        samples += modelCount;
      }
    }
    if (metrics && samples > 0) metrics.samples.inc(samples);
  }

  function evaluate(nowMs: number): EvaluationResult {
    const predictions: Prediction[] | null = collectPredictions ? [] : null;
    const transitions: Alert[] = [];
    // Timed rules all report a duration, watching a series or not; untimed ones skip the idle rules.
    const evaluated = timeRules ? rules : watching;
    for (let r = 0; r < evaluated.length; r++) {
      const rule = evaluated[r] as RuleRuntime;
      const started = timeRules ? performance.now() : 0;
      // A rule watching no series has nothing to do (most of the built-in rules on most hosts).
      if (rule.bindings.length > 0) {
        try {
          evaluateRule(rule, nowMs, predictions, transitions);
          if (rule.health.lastError !== null) rule.health.lastError = null;
        } catch (err) {
          rule.health.lastError = err instanceof Error ? err.message : String(err);
          log.error({ err, rule: rule.health.rule }, "rule evaluation failed");
        }
      } else if (rule.health.lastError !== null) rule.health.lastError = null;
      if (!timeRules) continue;
      const durationMs = performance.now() - started;
      rule.health.lastDurationMs = durationMs;
      metrics?.evalDuration.observe({ rule: rule.health.rule }, durationMs / 1000);
    }
    // Every rule is evaluated every time: one time for all (per-rule stores of a non-integer number allocated per rule).
    clock.lastEvaluationMs = nowMs;
    if (nowMs - clock.lastSweepMs >= SWEEP_INTERVAL_MS) {
      clock.lastSweepMs = nowMs;
      sweep(nowMs);
    }
    if (metrics) {
      const counts = { pending: 0, firing: 0, resolved: 0 };
      for (const b of active) counts[alertState(b.lifecycle)]++;
      for (const [state, n] of Object.entries(counts)) metrics.alerts.set({ state }, n);
    }
    if (predictions === null && transitions.length === 0) return QUIET;
    return { predictions: predictions ?? NONE, transitions };
  }

  /** Evaluates a rule for every series it watches; adds the predictions made (when collected) and the transitions. */
  function evaluateRule(rule: RuleRuntime, nowMs: number, predictions: Prediction[] | null, transitions: Alert[]): void {
    const hot = rule.hot;
    const { thresholdField, thresholdValue } = hot;
    const timing = rule.timing;
    // Index loop: this runs per series per evaluation, and an iterator would allocate.
    const bindings = rule.bindings;
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i] as Binding;
      const threshold =
        thresholdField !== null && !Number.isNaN(b.threshold)
          ? b.threshold
          : b.joinKey !== null
            ? (rule.joined.get(b.joinKey) ?? thresholdValue)
            : thresholdValue;
      const known = Number.isFinite(threshold);
      const prev = b.lifecycle;
      // A series younger than its rule's min_history never meets the condition.
      const young = nowMs - b.entry.createdMs < hot.minHistoryMs;
      let fc: TrendForecast | undefined;
      let next: AlertLifecycle;
      if (hot.etaOnly) {
        const eta = known ? rule.model.eta!(b.slot, nowMs, threshold, hot.horizonMs, hot.minSamples) : NaN;
        next = stepAlert(prev, young ? NO_CONDITION : etaCondition(eta, nowMs, hot.horizonMs), nowMs, timing);
        // The same state gives the same ETA: the full forecast only where an alert shows it.
        if (known && next.phase !== "inactive" && !(next === prev && next.phase === "resolved")) fc = rule.model.predict(b.slot, nowMs, threshold, hot.horizonMs, hot.minSamples);
      } else {
        fc = known ? rule.model.predict(b.slot, nowMs, threshold, hot.horizonMs, hot.minSamples) : undefined;
        // A prediction copies the ETA and confidence from its forecast unchanged: no prediction is built for the condition.
        next = stepAlert(prev, young ? NO_CONDITION : alertCondition(fc, nowMs, hot.horizonMs, hot.minConfidence), nowMs, timing);
      }
      b.forecast = fc ?? null;
      b.forecastThreshold = threshold;
      b.forecastAtMs = nowMs;
      b.prediction = null;
      if (fc && predictions !== null) predictions.push(predictionOf(b) as Prediction);
      b.lifecycle = next;
      if (next.phase === "inactive") {
        if (b.shown) {
          b.shown = null;
          b.alert = null;
          active.delete(b);
        }
        continue;
      }
      // Resolved alerts keep the summary they had when they resolved.
      if (next === prev && next.phase === "resolved") continue;
      const shown = predictionOf(b) ?? b.shown;
      if (!shown) continue;
      b.shown = shown;
      b.shownAtMs = nowMs;
      b.alert = null;
      active.add(b);
      if (next.phase !== prev.phase) {
        const alert = alertOf(b);
        transitions.push(alert);
        const spec = rule.compiled.spec;
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
    for (const entry of entries.values()) {
      if (!isStale(entry, nowMs)) continue;
      for (const b of entry.bindings) b.dead = true;
      for (const [model, slot] of entry.slots) model.release(slot);
      entries.delete(entry.key);
      evicted++;
    }
    if (evicted === 0) return;
    for (const rule of rules) {
      rule.bindings = rule.bindings.filter((b) => !b.dead);
      rule.health.series = rule.bindings.length;
      // A rule left watching nothing has no evaluation to fail (evaluate may skip it from now on).
      if (rule.bindings.length === 0) rule.health.lastError = null;
    }
    watching = rules.filter((r) => r.bindings.length > 0);
    clearRoutes();
    log.debug({ evicted }, "forgot stale series");
  }

  function predictions(): Prediction[] {
    const out: Prediction[] = [];
    for (const rule of rules) {
      for (const b of rule.bindings) {
        const p = predictionOf(b);
        if (p) out.push(p);
      }
    }
    return out.sort(byEta);
  }

  function alerts(): Alert[] {
    const out: Alert[] = [];
    for (const b of active) out.push(alertOf(b));
    return out.sort((a, b) => a.activeSinceMs - b.activeSinceMs || a.id.localeCompare(b.id));
  }

  function ruleHealth(): RuleHealth[] {
    const lastEvaluationMs = Number.isNaN(clock.lastEvaluationMs) ? null : clock.lastEvaluationMs;
    return rules.map((r) => ({ ...r.health, lastEvaluationMs, series: r.bindings.length }));
  }

  function savedAlerts(): SavedAlert[] {
    const out: SavedAlert[] = [];
    // Pending and firing alerts are all active (shown).
    for (const b of active) {
      const lc = b.lifecycle;
      if ((lc.phase !== "pending" && lc.phase !== "firing") || b.shown === null) continue;
      const saved: SavedAlert = {
        rule: b.rule.hot.name,
        series: b.entry.key,
        phase: lc.phase,
        activeSinceMs: lc.activeSinceMs ?? b.shownAtMs,
        firedAtMs: lc.firedAtMs,
        prediction: b.shown,
        shownAtMs: b.shownAtMs,
      };
      if (lc.quietSinceMs !== undefined) saved.quietSinceMs = lc.quietSinceMs;
      out.push(saved);
    }
    return out;
  }

  function restoreAlerts(saved: readonly SavedAlert[]): number {
    let n = 0;
    for (const a of saved) {
      const b = rules.find((r) => r.hot.name === a.rule)?.bindings.find((x) => x.entry.key === a.series);
      if (b === undefined || b.lifecycle.phase !== "inactive") continue;
      const lc: AlertLifecycle = { phase: a.phase, activeSinceMs: a.activeSinceMs, firedAtMs: a.firedAtMs, resolvedAtMs: null };
      if (a.quietSinceMs !== undefined) lc.quietSinceMs = a.quietSinceMs;
      b.lifecycle = lc;
      b.shown = a.prediction;
      b.shownAtMs = a.shownAtMs;
      b.alert = null;
      active.add(b);
      n++;
    }
    return n;
  }

  return { write, writeColumns, evaluate, predictions, alerts, ruleHealth, savedAlerts, restoreAlerts };
}

/** An alert's id: its rule and series. */
function alertId(rule: RuleRuntime, entry: SeriesEntry): string {
  return savedAlertId({ rule: rule.hot.name, series: entry.key });
}

/** The id of a saved alert's alert: its rule and series. */
export function savedAlertId(a: Pick<SavedAlert, "rule" | "series">): string {
  return `${a.rule}:${a.series}`;
}

/** Whether every alert of a series is inactive and it has been unseen for EVICT_AFTER_WINDOWS windows of each of its rules. */
function isStale(entry: SeriesEntry, nowMs: number): boolean {
  for (let i = 0; i < entry.bindings.length; i++) {
    const b = entry.bindings[i] as Binding;
    if (b.lifecycle.phase !== "inactive") return false;
    const last = b.rule.model.lastTimeMs(b.slot);
    const seen = Number.isNaN(last) ? entry.createdMs : last;
    if (!(nowMs - seen > EVICT_AFTER_WINDOWS * b.rule.model.windowMs)) return false;
  }
  return true;
}

/** Fields a rule reads: the one it forecasts and where its threshold comes from. */
function watchedFieldsOf(rule: RuleRuntime): string[] {
  const c = rule.compiled;
  const out = [c.spec.match.field];
  if (c.thresholdField !== null) out.push(c.thresholdField);
  if (c.thresholdSeries !== null) out.push(c.thresholdSeries.field);
  return out;
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
  const hot = rule.hot;
  const horizonMs = hot.horizonMs;
  const fast = bandEdge(fc, threshold, nowMs, horizonMs, fc.etaLowMs, 1);
  const slow = bandEdge(fc, threshold, nowMs, horizonMs, fc.etaHighMs, -1);
  // One literal per shape (no spreads): this runs per series per evaluation.
  const p: Prediction = {
    rule: hot.name,
    model: hot.modelName,
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
    forecastLow: Math.min(fast, slow, fc.forecastValue),
    forecastHigh: Math.max(fast, slow, fc.forecastValue),
    confidence: fc.confidence,
    samples: fc.samples,
  };
  if (fc.score !== undefined) p.score = fc.score;
  return p;
}

/** The binding's latest prediction, built from its forecast the first time it is read after an evaluation. */
function predictionOf(b: Binding): Prediction | null {
  if (b.prediction === null && b.forecast !== null) b.prediction = toPrediction(b.rule, b.entry, b.forecast, b.forecastThreshold, b.forecastAtMs);
  return b.prediction;
}

/** The alert of an active binding, as it stood after the evaluation that last changed it. */
function alertOf(b: Binding): Alert {
  b.alert ??= toAlert(b.rule, b, b.lifecycle, b.shown as Prediction, b.shownAtMs);
  return b.alert;
}

function alertState(lc: AlertLifecycle): Alert["state"] {
  return lc.phase === "inactive" ? "resolved" : lc.phase;
}

function toAlert(rule: RuleRuntime, b: Binding, lc: AlertLifecycle, p: Prediction, nowMs: number): Alert {
  const spec = rule.compiled.spec;
  return {
    id: alertId(rule, b.entry),
    rule: spec.name,
    severity: spec.severity,
    state: alertState(lc),
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
 * One edge of the forecast's band at the horizon, for charts: on the line through the ETA bound
 * (the steepest or the flattest plausible line to the threshold), else the forecast ± 2 residual
 * σ (`side` +1 towards the threshold, −1 away). With both edges and the forecast, the band
 * always contains the forecast.
 */
function bandEdge(fc: TrendForecast, threshold: number, nowMs: number, horizonMs: number, etaMs: number | null, side: 1 | -1): number {
  if (etaMs !== null && etaMs > nowMs) return fc.fittedNow + ((threshold - fc.fittedNow) * horizonMs) / (etaMs - nowMs);
  const spread = 2 * (Number.isFinite(fc.residualStd) ? fc.residualStd : 0);
  return fc.forecastValue + side * spread * Math.sign(threshold - fc.fittedNow || 1);
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
