import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { Action, Alert, Clock } from "../core/contracts.js";
import { compileTagMatchers, type CompiledTagMatcher, type TagMatchers } from "../core/tag-match.js";
import type { Journal } from "./journal.js";
import { Policy, type Plan, type PolicyOptions } from "./policy.js";

/** An action bound to the alerts that trigger it. */
export interface Binding {
  name: string;
  rule: string;
  tags: TagMatchers;
  dryRun: boolean;
  action: Action;
}

export interface RemediatorOptions extends PolicyOptions {
  bindings: readonly Binding[];
  journal: Journal;
  clock: Clock;
  log: Logger;
  registry?: Registry;
}

export interface Remediator {
  /** Plans, decides and (when allowed) runs actions for alerts that just changed state. */
  handle(transitions: readonly Alert[]): void;
  /** Resolves when every started action has finished. */
  idle(): Promise<void>;
  /** Stops running actions (kills their process groups) and waits for them. */
  close(): Promise<void>;
}

/** Plan, then execute: every firing alert with a bound action is journalled, the policy decides, the action runs. */
export function createRemediator(opts: RemediatorOptions): Remediator {
  const policy = new Policy(opts);
  const running = new Set<Promise<void>>();
  const abort = new AbortController();
  const matchers = new Map<Binding, CompiledTagMatcher>(opts.bindings.map((b) => [b, compileTagMatchers(b.tags)]));
  const actionsTotal = new Counter({
    name: "ansai_actions_total",
    help: "Remediation decisions by action and outcome (planned, suppressed_<reason>, succeeded, failed).",
    labelNames: ["action", "outcome"],
    registers: opts.registry ? [opts.registry] : [],
  });
  let seq = 0;

  function consider(binding: Binding, alert: Alert): void {
    const nowMs = opts.clock.nowMs();
    const runId = `${nowMs}-${++seq}`;
    const plan: Plan = { action: binding.name, target: alert.series, dryRun: binding.dryRun };
    const base = { timeMs: nowMs, runId, action: binding.name, rule: alert.rule, alertId: alert.id, target: alert.series };
    const decision = policy.decide(plan, nowMs);
    const dryRun = !decision.run && decision.reason === "dry_run";
    const p = alert.prediction;
    opts.journal.append({
      ...base,
      dryRun,
      kind: "planned",
      command: binding.action.describe(alert),
      reason: alert.summary,
      etaMs: p.etaMs,
      etaLowMs: p.etaLowMs,
      etaHighMs: p.etaHighMs,
    });
    actionsTotal.inc({ action: binding.name, outcome: "planned" });
    if (!decision.run) {
      opts.journal.append({ ...base, dryRun, kind: "suppressed", reason: decision.reason, detail: decision.detail });
      actionsTotal.inc({ action: binding.name, outcome: `suppressed_${decision.reason}` });
      opts.log.info({ action: binding.name, alert: alert.id, reason: decision.reason }, dryRun ? "dry-run: action not run" : "action suppressed");
      return;
    }
    policy.started(plan, nowMs);
    opts.journal.append({ ...base, dryRun: false, kind: "started" });
    opts.log.warn({ action: binding.name, alert: alert.id, command: binding.action.describe(alert) }, "running action");
    const run = binding.action
      .run(alert, abort.signal)
      .then((result) => {
        opts.journal.append({ ...base, timeMs: opts.clock.nowMs(), dryRun: false, kind: "finished", ...result });
        actionsTotal.inc({ action: binding.name, outcome: result.ok ? "succeeded" : "failed" });
        const log = result.ok ? opts.log.info.bind(opts.log) : opts.log.error.bind(opts.log);
        log({ action: binding.name, alert: alert.id, exitCode: result.exitCode, durationMs: result.durationMs, error: result.error }, "action finished");
      })
      .catch((err: unknown) => opts.log.error({ err, action: binding.name }, "cannot journal an action's result"))
      .finally(() => {
        policy.finished(plan);
        running.delete(run);
      });
    running.add(run);
  }

  return {
    handle(transitions) {
      for (const alert of transitions) {
        if (alert.state !== "firing") continue;
        for (const binding of opts.bindings) {
          if (binding.rule !== alert.rule || !matchers.get(binding)?.(alert.tags)) continue;
          try {
            consider(binding, alert);
          } catch (err) {
            opts.log.error({ err, action: binding.name, alert: alert.id }, "remediation step failed; the action did not run");
          }
        }
      }
    },
    async idle() {
      while (running.size > 0) await Promise.all([...running]);
    },
    async close() {
      abort.abort();
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
