import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { durationMs } from "../config/zod-types.js";
import type { Action, ActionResult, Alert, Clock } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { compileTagMatchers, type CompiledTagMatcher } from "../core/tag-match.js";
import { createAction, type ActionConfig } from "./actions/index.js";
import type { RemediationConfig } from "./config.js";
import { Fleet, fleetOptionsFromConfig, localExecutor, type Executor, type StormState } from "./fleet.js";
import type { Journal, JournalBody, JournalRecord } from "./journal.js";
import { Policy, policyOptionsFromConfig, type BreakerState, type Decision, type Plan, type SilenceLike } from "./policy.js";

export interface RemediatorOptions {
  /** The validated `remediation:` section. */
  config: RemediationConfig;
  journal: Journal;
  clock: Clock;
  log: Logger;
  /** Environment handed to actions (PATH, HOME, ...). */
  env: Readonly<Record<string, string | undefined>>;
  /** ANSAI's data dir, for actions that keep files. */
  dataDir: string;
  /** Silences in force (reason silenced); `Silences` fits. */
  silences?: { matches(alert: Alert, nowMs: number): SilenceLike | undefined };
  /** Host of alerts without a `host` tag, for remediation.allow.hosts. */
  host?: string;
  /** Hands an alert to people (notifiers): remediation_failed, remediation_breaker_open, remediation_storm; firing, then resolved. */
  raise?: (alert: Alert) => void;
  registry?: Registry;
  /** Builds an action from its config; default: the registry in actions/index.ts. */
  createAction?: (spec: ActionConfig) => Action;
  /** Where runs execute; default: here. `createFleetExecutor` hands runs on agents' hosts to their job queue. */
  executor?: Executor;
  /** The group of a host (its agent's remediation.fleet.group_label label); default: no groups. */
  groupOf?: (host: string) => string | undefined;
}

/** A run waiting for a person, as the API and `ansai actions pending` show it. */
export interface PendingApproval {
  /** The run id: what `approve`/`reject` take. */
  runId: string;
  action: string;
  target: string;
  rule: string;
  alertId: string;
  summary: string;
  /** Exactly what the run would do. */
  preview: string[];
  requestedAtMs: number;
  expiresAtMs: number;
}

/** What became of an approved run. */
export type ApprovalOutcome = { runId: string; outcome: "started" | "queued" } | { runId: string; outcome: "suppressed"; reason: string; detail: string };

export interface Remediator {
  /** Plans, decides and (when allowed) runs actions for firing alerts; sees resolutions for verification. */
  handle(transitions: readonly Alert[]): void;
  /** Clock-driven work: approval expiry, verification deadlines, due retries. Call every evaluation. */
  tick(nowMs: number): void;
  pending(): PendingApproval[];
  /** Approves a waiting run; it runs if the policy, asked again, allows. Throws ANSAI_ACTION_NOT_PENDING. */
  approve(runId: string, by: string): ApprovalOutcome;
  /** Rejects a waiting run. Throws ANSAI_ACTION_NOT_PENDING. */
  reject(runId: string, by: string, reason: string): void;
  /** Circuit breakers open now. */
  breakers(): BreakerState[];
  /** Alerts it raised for people, firing or recently resolved (as the analyzer's are listed). */
  alerts(): Alert[];
  /** The fleet-wide storm in progress (automatic actions paused), if any. */
  storm(): StormState | undefined;
  /** A person ends the storm: automatic actions resume. False when there was none. */
  resume(by: string): boolean;
  /** Resolves when nothing runs, waits for a preview or for a slot. */
  idle(): Promise<void>;
  /** Stops running actions (kills their process groups) and waits for them. */
  close(): Promise<void>;
}

/** An action bound to the alerts that trigger it. */
interface Binding {
  name: string;
  action: Action;
  rule: string;
  matches: CompiledTagMatcher;
  dryRun: boolean;
  approval: boolean;
  verify?: { withinMs: number; retries: number; backoffMs: number };
  escalateTo?: string;
}

/** One run id's live state. */
interface Run {
  runId: string;
  binding: Binding;
  alert: Alert;
  target: string;
  /** 1 for the first run, 2 for the first retry, ... */
  attempt: number;
  escalatedFrom?: string;
  /** A person approved it: a storm does not hold it back. */
  approved?: boolean;
}

/** Plan, then execute: every decision is journalled; policy, approvals, verification, retries, escalation. */
export function createRemediator(opts: RemediatorOptions): Remediator {
  const { config, journal, clock, log } = opts;
  const make = opts.createAction ?? ((spec: ActionConfig) => createAction(spec, { env: opts.env, dataDir: opts.dataDir, clock, log }));
  const bindings = new Map(config.actions.map((spec) => [spec.name, bindingOf(spec, make(spec), config)]));
  const policy = new Policy(policyOptionsFromConfig(config, { silences: opts.silences, host: opts.host }));
  const fleet = new Fleet(fleetOptionsFromConfig(config, { groupOf: opts.groupOf ?? (() => undefined), host: opts.host }));
  const executor = opts.executor ?? localExecutor;
  const approvalTimeoutMs = durationMs(config.approval_timeout);
  const abort = new AbortController();
  const tasks = new Set<Promise<void>>();
  const known = new Set<string>();
  /** The alert that started the current storm: its prediction rides on the storm's alerts. */
  let stormCause: Alert | undefined;
  const pendingRuns = new Map<string, { run: Run; preview: string[]; requestedAtMs: number; expiresAtMs: number }>();
  const queue: Run[] = [];
  const running = new Map<string, { run: Run; resolved: boolean }>();
  const verifying = new Map<string, { run: Run; deadlineMs: number }>();
  // Alerts raised for people, by id: a failed remediation resolves with the alert it was healing,
  // an open breaker when it closes, a storm when it ends; resolved ones stay listed a while.
  const raised = new Map<string, { alert: Alert; resolvesWith?: string; untilMs?: number }>();
  const retries = new Map<string, { run: Run; atMs: number }>();
  const metrics = createMetrics(opts.registry, () => pendingRuns.size, () => policy.openBreakers(clock.nowMs()).length);

  function record(run: Run, body: JournalBody, dryRun = false): JournalRecord {
    const rec = journal.append({
      timeMs: clock.nowMs(),
      runId: run.runId,
      action: run.binding.name,
      rule: run.alert.rule,
      alertId: run.alert.id,
      target: run.target,
      dryRun,
      ...body,
    });
    metrics.actions.inc({ action: run.binding.name, outcome: outcomeOf(rec) });
    if (rec.kind === "verified" || rec.kind === "rejected" || rec.kind === "expired") fleet.release(run.runId);
    const opened = policy.observe(rec);
    if (opened !== undefined) breakerOpened(run, opened);
    return rec;
  }

  function plan(binding: Binding, alert: Alert, escalatedFrom?: string): boolean {
    const target = binding.action.target?.(alert) ?? alert.series;
    const runId = runIdOf(binding.name, target, alert);
    if (known.has(runId)) return false;
    known.add(runId);
    const run: Run = { runId, binding, alert, target, attempt: 1, ...(escalatedFrom === undefined ? {} : { escalatedFrom }) };
    const decision = decide(run);
    const dryRun = !decision.run && decision.reason === "dry_run";
    const p = alert.prediction;
    record(
      run,
      {
        kind: "planned",
        command: binding.action.describe(alert),
        reason: alert.summary,
        etaMs: p.etaMs,
        etaLowMs: p.etaLowMs,
        etaHighMs: p.etaHighMs,
        activeSinceMs: alert.activeSinceMs,
        ...(escalatedFrom === undefined ? {} : { escalatedFrom }),
      },
      dryRun,
    );
    if (!decision.run && !waits(decision)) {
      record(run, { kind: "suppressed", reason: decision.reason, detail: decision.detail }, dryRun);
      log.info({ action: binding.name, alert: alert.id, reason: decision.reason }, dryRun ? "dry-run: action not run" : "action suppressed");
      if (escalatedFrom !== undefined) raiseFailed(run, `the escalation was suppressed (${decision.reason}: ${decision.detail})`);
      return true;
    }
    if (binding.approval) requestApproval(run);
    else if (fleet.storming() !== undefined) askPerson(run);
    else afterDecision(run, decision);
    return true;
  }

  /** The policy's decision, then the fleet's: a host waits while others of its group are healed. */
  function decide(run: Run): Decision {
    const refused = run.binding.action.refusal?.(run.alert) ?? executor.refusal?.(run.alert, run.binding.action.type);
    if (refused !== undefined) return { run: false, reason: "not_allowed", detail: refused };
    const decision = policy.decide(planOf(run), clock.nowMs());
    if (!decision.run) return decision;
    return fleet.decide(run.runId, run.alert) ?? decision;
  }

  /** During a storm nothing starts by itself: the run waits for a person. */
  function askPerson(run: Run): void {
    const storm = fleet.storming();
    const detail = storm === undefined ? "a storm" : fleet.describeStorm(storm);
    record(run, { kind: "suppressed", reason: "storm", detail });
    requestApproval(run);
  }

  function afterDecision(run: Run, decision: Decision): void {
    if (decision.run) return start(run);
    if (waits(decision)) {
      queue.push(run);
      record(run, { kind: "queued", detail: decision.detail, reason: decision.reason === "group_busy" ? "group_busy" : "concurrency" });
      return;
    }
    record(run, { kind: "suppressed", reason: decision.reason, detail: decision.detail });
    if (run.attempt > 1) chainFailed(run, `the retry was suppressed (${decision.reason}: ${decision.detail})`);
    else if (run.escalatedFrom !== undefined) raiseFailed(run, `the escalation was suppressed (${decision.reason}: ${decision.detail})`);
  }

  function requestApproval(run: Run): void {
    track(
      (async () => {
        const preview = await previewOf(run.binding.action, run.alert, abort.signal);
        const requestedAtMs = clock.nowMs();
        const expiresAtMs = requestedAtMs + approvalTimeoutMs;
        record(run, { kind: "awaiting_approval", preview, expiresAtMs, alert: run.alert, ...(run.escalatedFrom === undefined ? {} : { escalatedFrom: run.escalatedFrom }) });
        pendingRuns.set(run.runId, { run, preview, requestedAtMs, expiresAtMs });
        log.warn({ action: run.binding.name, runId: run.runId, target: run.target }, "action waits for approval: ansai actions approve <id>");
      })(),
    );
  }

  function start(run: Run): void {
    const agent = executor.agentFor(run.alert);
    record(run, { kind: "started", attempt: run.attempt, ...(agent === undefined ? {} : { agent }) });
    fleet.hold(run.runId, run.alert);
    const entry = { run, resolved: false };
    running.set(run.runId, entry);
    log.warn({ action: run.binding.name, alert: run.alert.id, attempt: run.attempt, agent, command: run.binding.action.describe(run.alert) }, "running action");
    track(
      executor
        .execute({ runId: run.runId, action: run.binding.name, alert: run.alert, attempt: run.attempt, local: run.binding.action }, abort.signal)
        .catch((err: unknown): ActionResult => ({ ok: false, exitCode: null, durationMs: 0, outputTail: "", error: `the action threw: ${(err as Error).message}` }))
        .then((result) => finish(entry, result))
        .catch((err: unknown) => log.error({ err, action: run.binding.name }, "cannot journal an action's result"))
        .finally(() => {
          running.delete(run.runId);
          drain();
        }),
    );
  }

  function finish(entry: { run: Run; resolved: boolean }, result: ActionResult): void {
    const { run } = entry;
    record(run, { kind: "finished", attempt: run.attempt, ...result });
    const level = result.ok ? "info" : "error";
    log[level]({ action: run.binding.name, alert: run.alert.id, exitCode: result.exitCode, durationMs: result.durationMs, error: result.error }, "action finished");
    if (!result.ok) return failedAttempt(run, `the action failed: ${result.error ?? `exit code ${result.exitCode}`}`);
    const verify = run.binding.verify;
    if (verify === undefined) {
      fleet.release(run.runId);
      return;
    }
    if (entry.resolved) {
      record(run, { kind: "verified", attempt: run.attempt, detail: "the alert resolved while the action ran" });
      return;
    }
    verifying.set(run.runId, { run, deadlineMs: clock.nowMs() + verify.withinMs });
  }

  function failedAttempt(run: Run, why: string): void {
    const verify = run.binding.verify;
    if (verify === undefined || run.attempt > verify.retries) return chainFailed(run, why);
    const atMs = clock.nowMs() + verify.backoffMs * 2 ** (run.attempt - 1);
    record(run, { kind: "retry_scheduled", attempt: run.attempt + 1, atMs, detail: `${why}; retry ${run.attempt} of ${verify.retries} in ${formatDuration(atMs - clock.nowMs())} (verify.backoff)` });
    retries.set(run.runId, { run, atMs });
  }

  /** Retries are spent: the next action takes over, else a person. */
  function chainFailed(run: Run, why: string): void {
    fleet.release(run.runId);
    const next = run.binding.escalateTo === undefined ? undefined : bindings.get(run.binding.escalateTo);
    if (next === undefined) return raiseFailed(run, why);
    record(run, { kind: "escalated", to: next.name, detail: why });
    if (!plan(next, run.alert, run.runId)) raiseFailed(run, `${why}; ${next.name} was already tried for this alert`);
  }

  function raiseFailed(run: Run, why: string): void {
    const summary =
      `remediation failed: ${run.binding.name} on ${run.target} could not heal "${run.alert.summary}" (${why}). ` +
      "A person must fix it: see the journal (ansai actions list) and the action's output.";
    raise(run, `remediation_failed/${run.runId}`, "remediation_failed", summary, { resolvesWith: run.alert.id });
  }

  function breakerOpened(run: Run, b: BreakerState): void {
    const detail =
      `${b.failures} failed or not verified runs within remediation.breaker.window: ${b.action} is disabled on ${b.target} ` +
      `until ${new Date(b.untilMs).toISOString()}; find the cause in the journal (ansai actions list) and fix it`;
    record(run, { kind: "breaker_opened", untilMs: b.untilMs, failures: b.failures, detail });
    raise(run, `remediation_breaker_open/${b.action}/${b.target}`, "remediation_breaker_open", `circuit breaker open: ${detail}`, { untilMs: b.untilMs });
  }

  function raise(run: Run, id: string, rule: string, summary: string, end: { resolvesWith?: string; untilMs?: number }): void {
    const nowMs = clock.nowMs();
    const alert: Alert = {
      id,
      rule,
      severity: "critical",
      state: "firing",
      series: run.alert.series,
      tags: { ...run.alert.tags, action: run.binding.name, target: run.target },
      activeSinceMs: nowMs,
      firedAtMs: nowMs,
      resolvedAtMs: null,
      summary,
      prediction: run.alert.prediction,
    };
    record(run, { kind: "raised", alertRule: rule, summary });
    log.error({ action: run.binding.name, target: run.target, rule }, summary);
    raised.set(id, { alert, ...end });
    handOver(alert);
  }

  function handOver(alert: Alert): void {
    try {
      opts.raise?.(alert);
    } catch (err) {
      log.error({ err, rule: alert.rule }, "cannot hand a remediation alert to the notifiers");
    }
  }

  function resolveRaised(id: string, nowMs: number, why: string): void {
    const entry = raised.get(id);
    if (entry === undefined || entry.alert.state !== "firing") return;
    const alert: Alert = { ...entry.alert, state: "resolved", resolvedAtMs: nowMs, summary: `${why} (was: ${entry.alert.summary})` };
    raised.set(id, { alert });
    handOver(alert);
  }

  /** Open breakers that closed resolve their alert; resolved alerts are forgotten after a while. */
  function sweepRaised(nowMs: number): void {
    for (const [id, e] of [...raised]) {
      if (e.untilMs !== undefined && e.untilMs <= nowMs) resolveRaised(id, nowMs, `circuit breaker closed: ${e.alert.tags.action} may run on ${e.alert.tags.target} again`);
      const resolvedAt = e.alert.resolvedAtMs;
      if (resolvedAt !== null && nowMs - resolvedAt > RAISED_KEEP_RESOLVED_MS) raised.delete(id);
    }
  }

  function resolved(alert: Alert): void {
    for (const [id, e] of [...raised]) {
      if (e.resolvesWith === alert.id) resolveRaised(id, clock.nowMs(), `the alert ${alert.id} resolved: nothing left to heal`);
    }
    for (const [runId, v] of verifying) {
      if (v.run.alert.id !== alert.id) continue;
      verifying.delete(runId);
      record(v.run, { kind: "verified", attempt: v.run.attempt, detail: "the alert resolved within verify.within" });
    }
    for (const [runId, r] of retries) {
      if (r.run.alert.id !== alert.id) continue;
      retries.delete(runId);
      record(r.run, { kind: "verified", attempt: r.run.attempt, detail: "the alert resolved before the retry: no retry needed" });
    }
    for (const entry of running.values()) if (entry.run.alert.id === alert.id) entry.resolved = true;
    for (const [runId, p] of pendingRuns) {
      if (p.run.alert.id !== alert.id) continue;
      pendingRuns.delete(runId);
      record(p.run, { kind: "expired", detail: "the alert resolved before anyone approved: nothing left to do" });
    }
    for (let i = queue.length - 1; i >= 0; i--) {
      const run = queue[i];
      if (run === undefined || run.alert.id !== alert.id) continue;
      queue.splice(i, 1);
      record(run, { kind: "expired", detail: "the alert resolved while the run waited for a slot" });
    }
  }

  /**
   * Starts queued runs, oldest first, while slots are free; each is decided again, so limits
   * still hold. A run whose group is busy keeps its place and lets later runs of other groups by.
   */
  function drain(): void {
    for (let i = 0; i < queue.length && !abort.signal.aborted; ) {
      const run = queue[i] as Run;
      const decision = decide(run);
      if (!decision.run && decision.reason === "concurrency") return;
      if (!decision.run && decision.reason === "group_busy") {
        i++;
        continue;
      }
      queue.splice(i, 1);
      if (decision.run && fleet.storming() !== undefined && run.approved !== true) safely(run, () => askPerson(run));
      else safely(run, () => afterDecision(run, decision));
    }
  }

  function stormStarted(storm: StormState, cause: Alert): void {
    const detail = fleet.describeStorm(storm);
    journalFleet(storm, { kind: "storm_started", hosts: storm.hosts, detail });
    log.error({ hosts: storm.hosts.length }, `remediation storm: ${detail}`);
    raiseStorm(storm, cause, "firing", `remediation storm: ${detail}`);
  }

  function stormEnded(storm: StormState, by: string): void {
    const detail = by === "subsided" ? "fewer hosts fired for a whole window: automatic actions resume" : `${by} resumed automatic actions`;
    journalFleet(storm, { kind: "storm_ended", by, detail });
    log.warn({ by }, `remediation storm over: ${detail}`);
    raiseStorm(storm, undefined, "resolved", `remediation storm over: ${detail}`);
  }

  /** Storm records belong to no action: they carry the storm's own id and the pseudo-action `fleet`. */
  function journalFleet(storm: StormState, body: Extract<JournalBody, { kind: "storm_started" | "storm_ended" }>): void {
    journal.append({ timeMs: clock.nowMs(), runId: stormIdOf(storm), action: "fleet", rule: STORM_RULE, alertId: stormIdOf(storm), target: "fleet", dryRun: false, ...body });
  }

  /** The remediation_storm alert, raised once when a storm begins and resolved when it ends. */
  function raiseStorm(storm: StormState, cause: Alert | undefined, state: "firing" | "resolved", summary: string): void {
    const nowMs = clock.nowMs();
    const base = cause ?? stormCause;
    if (cause !== undefined) stormCause = cause;
    if (base === undefined) return;
    const alert: Alert = {
      id: stormIdOf(storm),
      rule: STORM_RULE,
      severity: "critical",
      state,
      series: base.series,
      tags: { hosts: String(storm.hosts.length) },
      activeSinceMs: storm.sinceMs,
      firedAtMs: storm.sinceMs,
      resolvedAtMs: state === "resolved" ? nowMs : null,
      summary,
      prediction: base.prediction,
    };
    raised.set(alert.id, { alert });
    handOver(alert);
  }

  function tick(nowMs: number): void {
    executor.tick?.(nowMs);
    const calm = fleet.tick(nowMs);
    if (calm !== undefined) safelyDo(() => stormEnded(calm, "subsided"));
    for (const [runId, p] of [...pendingRuns]) {
      if (p.expiresAtMs > nowMs) continue;
      pendingRuns.delete(runId);
      safely(p.run, () =>
        record(p.run, { kind: "expired", detail: `no one approved within remediation.approval_timeout (${config.approval_timeout}): approve sooner, or set approval: false on the action` }),
      );
    }
    for (const [runId, v] of [...verifying]) {
      if (v.deadlineMs > nowMs) continue;
      verifying.delete(runId);
      const within = formatDuration(v.run.binding.verify?.withinMs ?? 0);
      const why = `not verified: the alert did not resolve within ${within} (verify.within)`;
      safely(v.run, () => {
        record(v.run, { kind: "not_verified", attempt: v.run.attempt, detail: why });
        failedAttempt(v.run, why);
      });
    }
    for (const [runId, r] of [...retries]) {
      if (r.atMs > nowMs) continue;
      retries.delete(runId);
      const run = { ...r.run, attempt: r.run.attempt + 1 };
      if (fleet.storming() !== undefined && run.approved !== true) safely(run, () => askPerson(run));
      else safely(run, () => afterDecision(run, decide(run)));
    }
    drain();
    policy.sweep(nowMs);
    sweepRaised(nowMs);
  }

  function safelyDo(step: () => void): void {
    try {
      step();
    } catch (err) {
      log.error({ err }, "cannot journal a storm record");
    }
  }

  function safely(run: Run, step: () => void): void {
    try {
      step();
    } catch (err) {
      log.error({ err, action: run.binding.name, alert: run.alert.id }, "remediation step failed; the action did not run");
    }
  }

  function track(task: Promise<void>): void {
    const t = task.catch((err: unknown) => log.error({ err }, "remediation task failed")).finally(() => tasks.delete(t));
    tasks.add(t);
  }

  function takePending(runId: string): { run: Run } {
    const p = pendingRuns.get(runId);
    if (p === undefined) {
      throw new AnsaiError(
        ErrorCodes.ACTION_NOT_PENDING,
        `no run ${runId} waits for approval`,
        "It was approved, rejected or expired already, or the id is wrong: list waiting runs with `ansai actions pending`.",
      );
    }
    pendingRuns.delete(runId);
    return p;
  }

  // Restart: the journal is the state. Limits, cooldowns, breakers, known runs and waiting approvals come back.
  restore(journal.read(), { policy, known, bindings, pendingRuns, log });

  return {
    handle(transitions) {
      for (const alert of transitions) {
        if (alert.state === "resolved") {
          try {
            resolved(alert);
          } catch (err) {
            log.error({ err, alert: alert.id }, "cannot journal a verification");
          }
          continue;
        }
        if (alert.state !== "firing") continue;
        const storm = fleet.fired(alert, clock.nowMs());
        if (storm !== undefined) safelyDo(() => stormStarted(storm, alert));
        for (const binding of bindings.values()) {
          if (binding.rule !== alert.rule || !binding.matches(alert.tags)) continue;
          try {
            plan(binding, alert);
          } catch (err) {
            log.error({ err, action: binding.name, alert: alert.id }, "remediation step failed; the action did not run");
          }
        }
      }
      // A verification may have freed a group's slot.
      drain();
    },
    tick,
    pending: () =>
      [...pendingRuns.values()]
        .map(({ run, preview, requestedAtMs, expiresAtMs }) => ({
          runId: run.runId,
          action: run.binding.name,
          target: run.target,
          rule: run.alert.rule,
          alertId: run.alert.id,
          summary: run.alert.summary,
          preview,
          requestedAtMs,
          expiresAtMs,
        }))
        .sort((a, b) => a.requestedAtMs - b.requestedAtMs),
    approve(runId, by) {
      const { run: waiting } = takePending(runId);
      const run = { ...waiting, approved: true };
      record(run, { kind: "approved", by });
      const decision = decide(run);
      afterDecision(run, decision);
      if (decision.run) return { runId, outcome: "started" };
      if (waits(decision)) return { runId, outcome: "queued" };
      return { runId, outcome: "suppressed", reason: decision.reason, detail: decision.detail };
    },
    reject(runId, by, reason) {
      const { run } = takePending(runId);
      record(run, { kind: "rejected", by, reason });
    },
    breakers: () => policy.openBreakers(clock.nowMs()),
    alerts: () => [...raised.values()].map((e) => e.alert),
    storm: () => fleet.storming(),
    resume(by) {
      const storm = fleet.resume();
      if (storm === undefined) return false;
      stormEnded(storm, by);
      return true;
    },
    async idle() {
      while (tasks.size > 0) await Promise.all([...tasks]);
    },
    async close() {
      abort.abort();
      queue.length = 0;
      while (tasks.size > 0) await Promise.all([...tasks]);
    },
  };
}

function bindingOf(spec: ActionConfig, action: Action, config: RemediationConfig): Binding {
  return {
    name: spec.name,
    action,
    rule: spec.on.rule,
    matches: compileTagMatchers(spec.on.tags),
    dryRun: spec.dry_run ?? false,
    approval: spec.approval ?? config.approval === "required",
    ...(spec.verify === undefined
      ? {}
      : { verify: { withinMs: durationMs(spec.verify.within), retries: spec.verify.retries, backoffMs: durationMs(spec.verify.backoff) } }),
    ...(spec.escalate_to === undefined ? {} : { escalateTo: spec.escalate_to }),
  };
}

const STORM_RULE = "remediation_storm";
/** Resolved remediation alerts stay listed this long, as the analyzer keeps its resolved ones. */
const RAISED_KEEP_RESOLVED_MS = 15 * 60_000;
const stormIdOf = (storm: StormState): string => `${STORM_RULE}/${storm.sinceMs}`;
/** Decisions that keep a run waiting in the queue rather than dropping it. */
const waits = (d: Decision): d is { run: false; reason: "concurrency" | "group_busy"; detail: string } => !d.run && (d.reason === "concurrency" || d.reason === "group_busy");

const planOf = (run: Run): Plan => ({ action: run.binding.name, target: run.target, alert: run.alert, dryRun: run.binding.dryRun, retry: run.attempt > 1 });

/** Same action, target and firing episode → same id, so an alert delivered twice is planned once. */
export function runIdOf(action: string, target: string, alert: Pick<Alert, "id" | "activeSinceMs">): string {
  return createHash("sha256").update(JSON.stringify([action, target, alert.id, alert.activeSinceMs])).digest("hex").slice(0, 16);
}

async function previewOf(action: Action, alert: Alert, signal: AbortSignal): Promise<string[]> {
  if (action.preview === undefined) return [action.describe(alert)];
  try {
    return await action.preview(alert, signal);
  } catch (err) {
    return [action.describe(alert), `preview failed: ${(err as Error).message}`];
  }
}

function outcomeOf(rec: JournalRecord): string {
  if (rec.kind === "suppressed") return `suppressed_${rec.reason}`;
  if (rec.kind === "finished") return rec.ok ? "succeeded" : "failed";
  return rec.kind;
}

function createMetrics(registry: Registry | undefined, pending: () => number, breakersOpen: () => number) {
  const registers = registry ? [registry] : [];
  return {
    actions: new Counter({
      name: "ansai_actions_total",
      help: "Remediation decisions by action and outcome (planned, suppressed_<reason>, awaiting_approval, succeeded, failed, verified, not_verified, escalated, ...).",
      labelNames: ["action", "outcome"],
      registers,
    }),
    pending: new Gauge({
      name: "ansai_actions_pending_approval",
      help: "Runs waiting for a person's approval.",
      registers,
      collect() {
        this.set(pending());
      },
    }),
    breakers: new Gauge({
      name: "ansai_breakers_open",
      help: "Circuit breakers open now (an action disabled on a target after repeated failures).",
      registers,
      collect() {
        this.set(breakersOpen());
      },
    }),
  };
}

interface RestoreDeps {
  policy: Policy;
  known: Set<string>;
  bindings: ReadonlyMap<string, Binding>;
  pendingRuns: Map<string, { run: Run; preview: string[]; requestedAtMs: number; expiresAtMs: number }>;
  log: Logger;
}

function restore(records: readonly JournalRecord[], deps: RestoreDeps): void {
  const waiting = new Map<string, Extract<JournalRecord, { kind: "awaiting_approval" }>>();
  const started = new Set<string>();
  for (const rec of records) {
    deps.policy.observe(rec);
    deps.known.add(rec.runId);
    if (rec.kind === "awaiting_approval") waiting.set(rec.runId, rec);
    else if (rec.kind === "approved" || rec.kind === "rejected" || rec.kind === "expired") waiting.delete(rec.runId);
    else if (rec.kind === "started") started.add(rec.runId);
    else if (rec.kind === "finished") started.delete(rec.runId);
  }
  deps.policy.forgetInFlight();
  if (started.size > 0) deps.log.warn({ runs: [...started] }, "runs were still going when ANSAI stopped; their outcome is unknown");
  for (const rec of waiting.values()) {
    const binding = deps.bindings.get(rec.action);
    const run: Run | undefined = binding && { runId: rec.runId, binding, alert: rec.alert, target: rec.target, attempt: 1, ...(rec.escalatedFrom === undefined ? {} : { escalatedFrom: rec.escalatedFrom }) };
    if (run === undefined) {
      deps.log.warn({ runId: rec.runId, action: rec.action }, "a run waiting for approval names an action no longer declared; it is dropped");
      continue;
    }
    deps.pendingRuns.set(rec.runId, { run, preview: rec.preview, requestedAtMs: rec.timeMs, expiresAtMs: rec.expiresAtMs });
  }
}
