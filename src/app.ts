import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { createAnalyzer, predictionToPoint, savedAlertId, type Analyzer } from "./analyzer/engine.js";
import type { RuleSpec } from "./analyzer/rules.js";
import { resolveApiSecurity } from "./api/config.js";
import { buildApi } from "./api/server.js";
import { createCollectors } from "./collector/index.js";
import { AgentRegistry } from "./collector/ingest/agents.js";
import { effectiveRules } from "./config/rules.js";
import type { Config } from "./config/schema.js";
import { durationMs } from "./config/zod-types.js";
import { systemClock, type Alert, type Clock, type Store } from "./core/contracts.js";
import type { Point } from "./core/point.js";
import { columnsToPoints, takesColumns, type PointColumns } from "./core/columns.js";
import { AnsaiError, ErrorCodes } from "./core/errors.js";
import { Journal } from "./remediator/journal.js";
import { Silences } from "./remediator/silences.js";
import { createNotifierDispatcher, createNotifiers, type NotifierDispatcher } from "./notifier/index.js";
import { collectLoop, every } from "./pipeline.js";
import { createRemediator, type Remediator } from "./remediator/remediator.js";
import { createReports } from "./report/index.js";
import { alertToPoint, journalToPoint, SelfMonitor } from "./self-points.js";
import { openEmbeddedStore } from "./store/embedded.js";
import { openInfluxdbStore } from "./store/influxdb.js";
import { agentDirectory, createFleetExecutor } from "./remediator/fleet.js";
import { JobQueue } from "./remediator/jobs.js";
import { StoreDropWatch } from "./store/drop-alert.js";
import { AlertHistory } from "./analyzer/alert-history.js";
import { AlertStateFile, type AlertState } from "./alert-state.js";
import type { SelectReads } from "./store/select.js";

/** How often ANSAI writes its own health (`ansai_internal`) to the store. */
const SELF_POINT_INTERVAL_MS = 10_000;

/** Queued values above which pushed writes wait for the store (its own drop limit is 1M). */
const INGEST_HIGH_WATER_VALUES = 250_000;

export interface AppOptions {
  config: Config;
  /** Directory `data_dir` is resolved against. */
  cwd: string;
  log: Logger;
  version: string;
  clock?: Clock;
  /** Environment handed to actions (PATH, HOME, ...); the CLI passes process.env. */
  env: Readonly<Record<string, string | undefined>>;
}

export interface RunningApp {
  /** Base URL of the API, e.g. http://127.0.0.1:9847. */
  url: string;
  host: string;
  dataDir: string;
  watching: WatchSummary;
  analyzer: Analyzer;
  store: Store;
  /** Stops the loops, waits for running actions, flushes the store and closes everything. */
  stop(): Promise<void>;
}

export interface WatchSummary {
  collectors: string[];
  mounts: string[] | "all real mounts";
  processes: string;
  rules: string[];
  remediation: string;
}

/** Composes collectors → pipeline → store + analyzer → remediator, and serves the API. */
export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const host = config.host ?? os.hostname();
  const dataDir = path.resolve(opts.cwd, config.data_dir);
  // Unreadable token files or TLS keys fail here, before anything starts.
  const security = resolveApiSecurity(config.api, { writeTokens: config.server.write_tokens, cwd: opts.cwd });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ansai_" });

  const { store, bufferBytes, droppedPoints, reads } = await openStore({ config, dataDir, log: log.child({ component: "store" }), clock, registry, env: opts.env });
  const rules = effectiveRules(config);
  const analyzer = createAnalyzer({ rules, log: log.child({ component: "analyzer" }), registry });
  const collectIntervalMs = durationMs(config.interval);
  await warmUp({ store, analyzer, rules, nowMs: clock.nowMs(), stepMs: collectIntervalMs, log });
  const journal = Journal.open(dataDir, log.child({ component: "journal" }), (record) => store.write([journalToPoint(record, host)]));
  const silences = Silences.open(dataDir, log.child({ component: "silences" }));

  const agents = new AgentRegistry(config.server.agents, durationMs(config.server.silent_after), clock.nowMs());
  await restoreAgentSeqs(store, agents, clock.nowMs());

  // Pushes wait for a flush past this many queued values, well below the store's drop limit.
  const hasRoom = (values: number): boolean => store.pendingPoints() === 0 || store.pendingPoints() + values <= INGEST_HIGH_WATER_VALUES;
  const self = new SelfMonitor(host);
  const pipeline = (points: readonly Point[]): void => {
    self.count(points.length);
    store.write(points);
    analyzer.write(points);
  };
  // Bodies parsed by the ingest workers arrive as columns; a store without a column path gets points.
  const writeStoreColumns = takesColumns(store) ? (c: PointColumns) => store.writeColumns(c) : (c: PointColumns) => store.write(columnsToPoints(c));
  const pipelineColumns = (columns: PointColumns): void => {
    self.count(columns.count);
    writeStoreColumns(columns);
    analyzer.writeColumns(columns);
  };
  const collectors = createCollectors(config.collectors, opts.env);
  const collect = collectLoop(collectors, { host, clock, log, registry, sink: pipeline });

  const reports = createReports({ config: config.reports, dataDir, cwd: opts.cwd, store, clock, log, notifiers: config.notifiers, version: opts.version });
  const notifier = createNotifierDispatcher({
    notifiers: createNotifiers(config.notifiers, { version: opts.version }),
    log: log.child({ component: "notifier" }),
    clock,
    registry,
    repeatIntervalMs: durationMs(config.notifiers.repeat_interval),
    defaultHost: host,
    // Silenced alerts are shown in the API but not sent; the remediator applies silences itself.
    muted: (alert, nowMs) => silences.matches(alert, nowMs) !== undefined,
  });
  const history = new AlertHistory();
  const alertState = AlertStateFile.in(dataDir, log.child({ component: "analyzer" }));
  restoreAlertState(alertState.load(clock.nowMs()), analyzer, notifier, log);
  const jobs = new JobQueue({ clock, log: log.child({ component: "jobs" }), timeoutMs: durationMs(config.remediation.fleet.job_timeout) });
  const directory = agentDirectory(() => agents.list(), config.remediation.fleet.group_label);
  const remediator: Remediator = createRemediator({
    executor: createFleetExecutor({ jobs, agents: directory, host }),
    groupOf: directory.groupOf,
    config: config.remediation,
    journal,
    silences,
    clock,
    log: log.child({ component: "remediator" }),
    env: opts.env,
    dataDir,
    host,
    registry,
    raise: (alert) => {
      history.record([alert], clock.nowMs());
      notifier.handle([alert]);
    },
  });

  const storeDrops = new StoreDropWatch(host);
  const allAlerts = (): Alert[] => [...analyzer.alerts(), ...agents.alerts(), ...storeDrops.alerts(), ...remediator.alerts()];
  let lastEvalMs = 0;
  const evaluate = async (): Promise<void> => {
    const nowMs = clock.nowMs();
    const started = performance.now();
    const { predictions, transitions: predicted } = analyzer.evaluate(nowMs);
    lastEvalMs = performance.now() - started;
    store.write(predictions.map(predictionToPoint));
    const transitions = [...predicted, ...agents.evaluate(nowMs), ...storeDrops.evaluate(nowMs, droppedPoints())];
    const active = allAlerts();
    const resolved = transitions.filter((a) => a.state === "resolved");
    store.write([...active, ...resolved].map((a) => alertToPoint(a, nowMs)));
    for (const alert of transitions) {
      log.info({ component: "analyzer", alert: alert.id, state: alert.state, severity: alert.severity }, alert.summary);
    }
    history.record(transitions, nowMs);
    remediator.handle(transitions);
    remediator.tick(nowMs);
    notifier.handle(transitions, active);
    alertState.save({ savedAtMs: nowMs, alerts: analyzer.savedAlerts(), notices: notifier.notices() });
  };
  const writeSelfPoint = async (): Promise<void> => {
    const health = analyzer.ruleHealth();
    const point = self.point(clock.nowMs(), {
      storePendingPoints: store.pendingPoints(),
      bufferBytes: bufferBytes(),
      ruleEvalMs: lastEvalMs,
      series: health.reduce((n, h) => n + h.series, 0),
      alertsFiring: allAlerts().filter((a) => a.state === "firing").length,
    });
    store.write([point]);
  };

  const watching: WatchSummary = {
    collectors: collectors.map((c) => c.name),
    mounts: config.collectors.disk.mounts.length > 0 ? [...config.collectors.disk.mounts] : "all real mounts",
    processes: describeProcesses(config),
    rules: rules.map((r) => r.name),
    remediation: config.remediation.enabled
      ? `enabled (${config.remediation.actions.length} actions)`
      : `dry-run (${config.remediation.actions.length} actions declared; set remediation.enabled: true to run them)`,
  };
  const api = buildApi({
    store,
    analysis: {
      predictions: () => analyzer.predictions(),
      alerts: allAlerts,
      ruleHealth: () => analyzer.ruleHealth(),
      history,
      silenced: (alert) => silences.matches(alert, clock.nowMs()) !== undefined,
    },
    write: { sink: pipeline, sinkColumns: pipelineColumns, room: hasRoom, drain: () => store.flush(), limits: { maxBodyBytes: config.server.max_push_bytes, maxSeriesPerHost: config.server.max_series_per_host } },
    agentPush: { agents, sink: pipeline, flush: () => store.flush(), room: hasRoom, clock, log: log.child({ component: "ingest" }), maxBodyBytes: config.server.max_push_bytes },
    actions: { journal, remediator, silences, clock },
    agentJobs: { agents, jobs, remediator, log: log.child({ component: "jobs" }) },
    reports: reports.service,
    ...(reads === undefined ? {} : { influxql: { reads } }),
    security,
    registry,
    clock,
    log: log.child({ component: "api" }),
    version: opts.version,
    host,
    watching: () => ({ ...watching }),
  });
  try {
    await api.listen({ host: config.api.listen, port: config.api.port });
  } catch (err) {
    await store.close();
    journal.close();
    throw new AnsaiError(
      ErrorCodes.API_LISTEN_FAILED,
      `cannot serve the API on ${config.api.listen}:${config.api.port}: ${(err as Error).message}`,
      "Another program (or another ANSAI) uses this port: stop it, or set api.port in the config.",
      { cause: err },
    );
  }
  if (!["127.0.0.1", "::1", "localhost"].includes(config.api.listen)) {
    if (security.tokens.length === 0) log.warn({ listen: config.api.listen }, "the API listens beyond this host and needs no token: set api.tokens (ansai token create)");
    else if (security.tls === undefined) log.warn({ listen: config.api.listen }, "tokens cross the network in clear: set api.tls");
  }
  const address = api.server.address();
  const port = typeof address === "object" && address ? address.port : config.api.port;
  const url = `${security.tls === undefined ? "http" : "https"}://${config.api.listen.includes(":") ? `[${config.api.listen}]` : config.api.listen}:${port}`;

  const stopCollect = every(collectIntervalMs, collect, log, "collection");
  // Evaluate just after a collection pass, so forecasts use the freshest samples.
  const stopEvaluate = every(durationMs(config.analyzer.evaluation_interval), evaluate, log, "rule evaluation", Math.min(1000, collectIntervalMs / 2));
  const stopSelf = every(SELF_POINT_INTERVAL_MS, writeSelfPoint, log, "self-monitoring point");
  reports.scheduler.start();
  let stopping: Promise<void> | undefined;
  return {
    url,
    host,
    dataDir,
    watching,
    analyzer,
    store,
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all([stopCollect(), stopEvaluate(), stopSelf()]);
        await reports.scheduler.stop();
        await notifier.close();
        // Notices delivered while draining count too.
        alertState.save({ savedAtMs: clock.nowMs(), alerts: analyzer.savedAlerts(), notices: notifier.notices() });
        await api.close();
        await remediator.close();
        await store.close();
        journal.close();
      })()),
  };
}

/** The configured store: InfluxDB (through its durable buffer) or the embedded file. */
async function openStore(deps: {
  config: Config;
  dataDir: string;
  log: Logger;
  clock: Clock;
  registry: Registry;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<{ store: Store; bufferBytes: () => number; droppedPoints: () => Readonly<Record<string, number>>; reads?: SelectReads }> {
  const { config, dataDir, log, clock, registry } = deps;
  if (config.store.type === "influxdb" && config.store.influxdb) {
    const store = await openInfluxdbStore({ config: config.store.influxdb, dataDir, log, registry, envToken: deps.env.ANSAI_INFLUXDB_TOKEN });
    return { store, bufferBytes: () => store.stats().bufferBytes, droppedPoints: () => store.stats().droppedPoints };
  }
  const store = await openEmbeddedStore({
    dataDir,
    log,
    clock,
    registry,
    flushIntervalMs: durationMs(config.storage.flush_interval),
    retentionMs: durationMs(config.storage.retention),
    rollupStepMs: durationMs(config.storage.rollup_step),
    rollupRetentionMs: durationMs(config.storage.rollup_retention),
  });
  return { store, bufferBytes: () => 0, droppedPoints: () => store.droppedPoints(), reads: store };
}

/**
 * Replays each rule's recent history from the store into the analyzer, so a restart (an upgrade,
 * a crash) does not blind the models for a window. Alert lifecycles start over: `for` runs again.
 */
async function warmUp(deps: { store: Store; analyzer: Analyzer; rules: readonly RuleSpec[]; nowMs: number; stepMs: number; log: Logger }): Promise<void> {
  const windows = new Map<string, { measurement: string; field: string; windowMs: number }>();
  for (const rule of deps.rules) {
    const sources = [{ measurement: rule.match.measurement, field: rule.match.field }];
    if ("measurement" in rule.threshold) sources.push({ measurement: rule.threshold.measurement, field: rule.threshold.field });
    else if ("field" in rule.threshold) sources.push({ measurement: rule.match.measurement, field: rule.threshold.field });
    for (const { measurement, field } of sources) {
      const key = `${measurement} ${field}`;
      const windowMs = Math.max(windows.get(key)?.windowMs ?? 0, rule.windowMs);
      windows.set(key, { measurement, field, windowMs });
    }
  }
  let series = 0;
  let samples = 0;
  for (const { measurement, field, windowMs } of windows.values()) {
    for (const info of await deps.store.listSeries({ measurement, field })) {
      const history = await deps.store.query({ series: info.key, startMs: deps.nowMs - windowMs, endMs: deps.nowMs, stepMs: deps.stepMs, aggregate: "last" });
      deps.analyzer.write(history.map(([timeMs, value]) => ({ measurement, tags: info.tags, fields: { [field]: value }, timeMs })));
      series++;
      samples += history.length;
    }
  }
  if (samples > 0) deps.log.info({ series, samples }, "models warmed up from the store");
}

/** After a restart: pending alerts keep their `for`, firing ones stay firing and are not notified again (see alert-state.ts). */
function restoreAlertState(state: AlertState | undefined, analyzer: Analyzer, notifier: NotifierDispatcher, log: Logger): void {
  if (state === undefined) return;
  const restored = analyzer.restoreAlerts(state.alerts);
  const firing = new Set(analyzer.savedAlerts().flatMap((a) => (a.phase === "firing" ? [savedAlertId(a)] : [])));
  notifier.restoreNotices(state.notices, firing);
  if (state.alerts.length > 0) log.info({ restored, saved: state.alerts.length, firing: firing.size }, "alert states restored from before the restart");
}

/** After a restart, the last batch applied per agent comes back from the store, so a retried batch is not written twice. */
async function restoreAgentSeqs(store: Store, agents: AgentRegistry, nowMs: number): Promise<void> {
  if (agents.size === 0) return;
  for (const info of await store.listSeries({ measurement: "ansai_agent", field: "batch_seq" })) {
    const samples = await store.query({ series: info.key, startMs: 0, endMs: nowMs + 1, stepMs: nowMs + 1, aggregate: "max" });
    const agent = info.tags.agent;
    const seq = samples.at(-1)?.[1];
    if (agent !== undefined && seq !== undefined) agents.restoreSeq(agent, seq);
  }
}

function describeProcesses(config: Config): string {
  const p = config.collectors.procstat;
  if (!p.enabled) return "none";
  const named = p.match.map((m) => m.name);
  return [p.top > 0 ? `top ${p.top} by memory` : "", ...named].filter(Boolean).join(", ");
}

