import type { Logger } from "pino";
import type { Action, ActionResult, Clock } from "./core/contracts.js";
import { createAction, type ActionConfig } from "./remediator/actions/index.js";
import type { RemediationConfig } from "./remediator/config.js";
import { Policy, policyOptionsFromConfig } from "./remediator/policy.js";
import { actionResultSchema, agentJobSchema, type AgentJob } from "./remediator/jobs.js";
import { z } from "zod";

// The agent's half of healing across hosts: pull jobs from the server, run them with the
// agent's OWN actions, report back. The server sends an action name and an alert, never a
// command: a name this agent does not declare is refused, and nothing runs unless this
// agent's own remediation.enabled is true (two keys to turn: the server's and the host's).
// The agent's own maintenance windows and allow-lists hold too, whatever the server decided.

export interface AgentJobsOptions {
  /** Base URL of `ansai server`. */
  serverUrl: string;
  /** This agent's token (server.agents[].token). */
  token: string;
  /** This agent's name on the server (server.agents[].name). */
  name: string;
  /** This agent's own `remediation:` section: which actions exist here, and whether they may run. */
  remediation: RemediationConfig;
  /** Environment handed to actions (PATH, HOME, ...). */
  env: Readonly<Record<string, string | undefined>>;
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** Long-poll wait asked of the server (ms); default 20 s. */
  waitMs?: number;
  /** Longest wait between retries while the server is unreachable (ms); default 30 s. */
  maxBackoffMs?: number;
  /** Builds an action from its config; default: the registry in remediator/actions/index.ts. */
  createAction?: (spec: ActionConfig) => Action;
}

export interface AgentJobs {
  /** Stops polling, kills running actions (their results are still reported once), and waits. */
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 500;
const pollAnswer = z.object({ jobs: z.array(z.unknown()) });
const ackAnswer = z.object({ status: z.enum(["acked", "taken"]) });

/** Starts the loop that pulls and runs this agent's jobs; it survives server outages by retrying with backoff. */
export function startAgentJobs(opts: AgentJobsOptions): AgentJobs {
  const { log } = opts;
  const make = opts.createAction ?? ((spec: ActionConfig) => createAction(spec, { env: opts.env, dataDir: opts.dataDir, clock: opts.clock, log }));
  const actions = new Map(opts.remediation.actions.map((spec) => [spec.name, { spec, action: make(spec) }]));
  const hostPolicy = new Policy(policyOptionsFromConfig(opts.remediation, { host: opts.name }));
  const base = `${opts.serverUrl.replace(/\/+$/, "")}/api/v1/agents/${encodeURIComponent(opts.name)}/jobs`;
  const waitMs = opts.waitMs ?? 20_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  const stopper = new AbortController();
  /** Jobs this process has taken and not yet reported: a job handed out again meanwhile is not run twice. */
  const handling = new Set<string>();
  const tasks = new Set<Promise<void>>();

  const call = async (path: string, init: { method: string; body?: unknown; timeoutMs: number; signal?: AbortSignal }): Promise<{ status: number; body: unknown }> => {
    const signals = [AbortSignal.timeout(init.timeoutMs), ...(init.signal === undefined ? [] : [init.signal])];
    const res = await fetch(`${base}${path}`, {
      method: init.method,
      headers: { authorization: `Token ${opts.token}`, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.any(signals),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: kept as text for the log.
    }
    return { status: res.status, body };
  };

  /** Why this agent will not run the job, or undefined when it may. */
  function refusal(job: AgentJob): string | undefined {
    const own = actions.get(job.action);
    if (own === undefined) return `agent ${opts.name} declares no action "${job.action}": add it to this agent's remediation.actions (the agent never runs what the server sends)`;
    if (!opts.remediation.enabled) return `remediation.enabled is false on agent ${opts.name}: set it to true in this agent's config to let the server's runs happen here`;
    if (own.spec.dry_run === true) return `action ${job.action} has dry_run: true on agent ${opts.name}: remove it there to let it run`;
    if (job.deadlineMs <= opts.clock.nowMs()) return `the job reached agent ${opts.name} after its deadline: the server has given up on it (remediation.fleet.job_timeout)`;
    const plan = { action: job.action, target: own.action.target?.(job.alert) ?? job.alert.series, alert: job.alert, dryRun: false };
    const local = hostPolicy.hostRules(plan, opts.clock.nowMs());
    if (!local.run) return `agent ${opts.name} refuses (${local.reason}): ${local.detail}`;
    return undefined;
  }

  async function runJob(job: AgentJob): Promise<void> {
    let ack: { status: number; body: unknown };
    try {
      ack = await call(`/${encodeURIComponent(job.id)}/ack`, { method: "POST", timeoutMs: 15_000, signal: stopper.signal });
    } catch (err) {
      // Unknown whether the server saw it: if it did the job times out there, else it comes again. Never run it unacknowledged.
      log.warn({ job: job.id, err: (err as Error).message }, "cannot acknowledge a job; not running it");
      return;
    }
    const taken = ackAnswer.safeParse(ack.body);
    if (ack.status !== 200 || !taken.success || taken.data.status !== "acked") {
      log.warn({ job: job.id, status: ack.status }, "job taken already or unknown to the server; not running it");
      return;
    }
    const refused = refusal(job);
    const result = refused === undefined ? await execute(job) : { ok: false, exitCode: null, durationMs: 0, outputTail: "", error: refused };
    if (refused !== undefined) log.error({ job: job.id, action: job.action }, refused);
    await report(job, result);
  }

  async function execute(job: AgentJob): Promise<ActionResult> {
    const own = actions.get(job.action);
    if (own === undefined) throw new Error(`no action ${job.action}`);
    log.warn({ job: job.id, action: job.action, alert: job.alert.id, attempt: job.attempt, command: own.action.describe(job.alert) }, "running action for the server");
    // At the deadline the server records the run as failed and may retry or escalate: stop this
    // attempt then, so it never runs beside the next one.
    const deadline = AbortSignal.timeout(Math.max(0, job.deadlineMs - opts.clock.nowMs()));
    try {
      const result = await own.action.run(job.alert, AbortSignal.any([stopper.signal, deadline]));
      if (!deadline.aborted || result.ok) return result;
      return { ...result, error: `stopped at the job's deadline (the server's remediation.fleet.job_timeout): ${result.error ?? "killed"}` };
    } catch (err) {
      return { ok: false, exitCode: null, durationMs: 0, outputTail: "", error: `the action threw: ${(err as Error).message}` };
    }
  }

  /** Posts the result until the server has it; results are idempotent by job id, so retrying is safe. */
  async function report(job: AgentJob, result: ActionResult): Promise<void> {
    const body = actionResultSchema.parse({ ...result, outputTail: result.outputTail.slice(-16_384), ...(result.error === undefined ? {} : { error: result.error.slice(0, 4096) }) });
    for (let backoffMs = MIN_BACKOFF_MS; ; backoffMs = Math.min(maxBackoffMs, backoffMs * 2)) {
      try {
        const res = await call(`/${encodeURIComponent(job.id)}/result`, { method: "POST", body, timeoutMs: 15_000 });
        if (res.status === 200) return log.info({ job: job.id, ok: result.ok }, "job result reported");
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          return log.error({ job: job.id, status: res.status, body: res.body }, "the server refused the job's result (the job timed out there, or the server restarted)");
        }
      } catch (err) {
        log.warn({ job: job.id, err: (err as Error).message, retryInMs: backoffMs }, "cannot report a job's result; retrying");
      }
      if (stopper.signal.aborted) return log.warn({ job: job.id }, "stopping: the job's result was not reported; the server will time it out");
      await sleep(backoffMs, stopper.signal);
    }
  }

  function take(raw: unknown): void {
    const parsed = agentJobSchema.safeParse(raw);
    if (!parsed.success) return log.error({ issues: parsed.error.issues.slice(0, 3) }, "the server sent a job this agent cannot read; ignored");
    const job = parsed.data as AgentJob;
    if (handling.has(job.id)) return;
    handling.add(job.id);
    const task = runJob(job)
      .catch((err: unknown) => log.error({ err, job: job.id }, "job failed"))
      .finally(() => {
        handling.delete(job.id);
        tasks.delete(task);
      });
    tasks.add(task);
  }

  const loop = (async () => {
    let backoffMs = 0;
    while (!stopper.signal.aborted) {
      try {
        const res = await call(`?wait=${Math.max(1, Math.round(waitMs / 1000))}s`, { method: "GET", timeoutMs: waitMs + 15_000, signal: stopper.signal });
        const answer = pollAnswer.safeParse(res.body);
        if (res.status !== 200 || !answer.success) throw new Error(`server answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        if (backoffMs > 0) log.info("reached the server again; taking jobs");
        backoffMs = 0;
        for (const raw of answer.data.jobs) take(raw);
      } catch (err) {
        if (stopper.signal.aborted) break;
        backoffMs = Math.min(maxBackoffMs, Math.max(MIN_BACKOFF_MS, backoffMs * 2));
        log.warn({ err: (err as Error).message, retryInMs: backoffMs }, "cannot ask the server for jobs; retrying");
        await sleep(backoffMs, stopper.signal);
      }
    }
  })();

  return {
    async stop() {
      stopper.abort();
      await loop;
      while (tasks.size > 0) await Promise.all([...tasks]);
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
