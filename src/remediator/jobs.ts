import type { Logger } from "pino";
import { z } from "zod";
import type { ActionResult, Alert, Clock } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { alertSchema } from "../api/schemas.js";

/** Work for an agent: run its own action `action` for `alert`. Never an argv: the agent's config says what the name means. */
export interface AgentJob {
  /** Unique per attempt: `<runId>.<attempt>`; acks and results name it. */
  id: string;
  /** The run id of the journal. */
  runId: string;
  /** Name of the action; the agent runs the action of this name from its own config, or refuses. */
  action: string;
  alert: Alert;
  /** 1 for the first run, 2 for the first retry, ... */
  attempt: number;
  /** Past this time (epoch ms, server clock) the server has given up on the job: do not start it. */
  deadlineMs: number;
}

/** A job on the wire: what the server sends and the agent checks before acting on it. */
export const agentJobSchema = z
  .object({
    id: z.string().min(1).max(200).describe("Unique per attempt; acks and results name it."),
    runId: z.string().describe("The run id of the journal."),
    action: z.string().min(1).describe("Name of the action: the agent runs the action of this name from its own config, or refuses."),
    alert: alertSchema,
    attempt: z.number().int().min(1),
    deadlineMs: z.number().describe("After this (epoch ms, server clock) the server has given up: do not start it."),
  })
  .meta({ id: "AgentJob", description: "Work for an agent: an action name and the alert; never a command line." });

/** An ActionResult as agents post it. */
export const actionResultSchema = z.strictObject({
  ok: z.boolean().describe("Whether the action succeeded."),
  exitCode: z.number().int().nullable().describe("Exit code of the program, null when it did not exit by itself."),
  durationMs: z.number().min(0).describe("How long it ran (ms)."),
  outputTail: z.string().max(16_384).describe("Last few KiB of its output."),
  error: z.string().max(4096).optional().describe("Why it failed."),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional().describe("Facts the action measured, e.g. bytesFreed."),
});

/** What `ack` and `report` tell the agent. */
export type AckOutcome = "acked" | "taken" | "unknown";
export type ReportOutcome = "accepted" | "duplicate" | "unknown";

export interface JobQueueOptions {
  clock: Clock;
  log: Logger;
  /** A job not acked and reported within this long finishes as failed (remediation.fleet.job_timeout). */
  timeoutMs: number;
  /** How long finished job ids are remembered, so a late or repeated result is recognised (ms); default 1 h. */
  rememberMs?: number;
}

interface Entry {
  agent: string;
  job: AgentJob;
  /** Set once the agent acknowledged it: from then on it is never handed out again. */
  ackedMs: number | null;
  settle: (result: ActionResult) => void;
}

/**
 * The server's queue of jobs per agent. Agents pull (long-poll) their jobs, acknowledge each by
 * id before running it (an acknowledged job is never handed out again, so it runs at most once),
 * and report its result by id (the first result counts; a repeat is acknowledged and ignored).
 * In memory: a server restart fails the open jobs' runs, it never runs them twice.
 */
export class JobQueue {
  private readonly open = new Map<string, Entry>();
  /** Finished job ids → when they finished; pruned after `rememberMs`. */
  private readonly finished = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly lastPollMs = new Map<string, number>();
  private readonly rememberMs: number;
  private closed = false;

  constructor(private readonly opts: JobQueueOptions) {
    this.rememberMs = opts.rememberMs ?? 3_600_000;
  }

  /**
   * Queues a job for `agent` and resolves with its result: the agent's, or a failure when the
   * agent does not report before the deadline or `signal` aborts. Never rejects.
   */
  submit(agent: string, job: Omit<AgentJob, "id" | "deadlineMs">, signal: AbortSignal): Promise<ActionResult> {
    const id = `${job.runId}.${job.attempt}`;
    const deadlineMs = this.opts.clock.nowMs() + this.opts.timeoutMs;
    const failed = (error: string): ActionResult => ({ ok: false, exitCode: null, durationMs: 0, outputTail: "", error });
    if (this.open.has(id) || this.finished.has(id)) return Promise.resolve(failed(`job ${id} was already submitted to agent ${agent}: a job runs once`));
    if (signal.aborted) return Promise.resolve(failed(`ANSAI stopped before agent ${agent} got the job`));
    return new Promise((resolve) => {
      const onAbort = (): void => this.settle(id, failed(`ANSAI stopped before agent ${agent} reported; the agent may still run it`));
      const entry: Entry = {
        agent,
        job: { ...job, id, deadlineMs },
        ackedMs: null,
        settle: (result) => {
          signal.removeEventListener("abort", onAbort);
          resolve(result);
        },
      };
      this.open.set(id, entry);
      signal.addEventListener("abort", onAbort, { once: true });
      this.wake(agent);
    });
  }

  /** Jobs waiting for `agent` to take them (handed out again until acknowledged). */
  waiting(agent: string): AgentJob[] {
    const nowMs = this.opts.clock.nowMs();
    return [...this.open.values()].filter((e) => e.agent === agent && e.ackedMs === null && e.job.deadlineMs > nowMs).map((e) => e.job);
  }

  /** Long poll: the waiting jobs of `agent`, as soon as there are any, or none after `waitMs`. */
  async poll(agent: string, waitMs: number, signal?: AbortSignal): Promise<AgentJob[]> {
    this.lastPollMs.set(agent, this.opts.clock.nowMs());
    const now = this.waiting(agent);
    if (now.length > 0 || waitMs <= 0 || signal?.aborted === true || this.closed) return now;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(agent) ?? new Set<() => void>();
      this.waiters.set(agent, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
    this.lastPollMs.set(agent, this.opts.clock.nowMs());
    return this.waiting(agent);
  }

  /** The agent takes job `id`: `acked` means run it; `taken` means it was taken (or finished) already, do not run it. */
  ack(agent: string, id: string): AckOutcome {
    const entry = this.open.get(id);
    if (entry === undefined || entry.agent !== agent) return this.finished.has(id) && entry === undefined ? "taken" : "unknown";
    if (entry.ackedMs !== null) return "taken";
    entry.ackedMs = this.opts.clock.nowMs();
    return "acked";
  }

  /** The agent's result of job `id`; the first one counts. */
  report(agent: string, id: string, result: ActionResult): ReportOutcome {
    const entry = this.open.get(id);
    if (entry === undefined) return this.finished.has(id) ? "duplicate" : "unknown";
    if (entry.agent !== agent) return "unknown";
    this.settle(id, { ...result, details: { ...result.details, agent } });
    return "accepted";
  }

  /** Fails jobs past their deadline; forgets old finished ids. Call on the remediator's tick. */
  tick(nowMs: number): void {
    for (const [id, entry] of [...this.open]) {
      if (entry.job.deadlineMs > nowMs) continue;
      this.opts.log.warn({ agent: entry.agent, job: id, action: entry.job.action }, "agent did not report a job in time");
      this.settle(id, { ok: false, exitCode: null, durationMs: 0, outputTail: "", error: this.timeoutMessage(entry, nowMs) });
    }
    for (const [id, atMs] of this.finished) if (atMs <= nowMs - this.rememberMs) this.finished.delete(id);
  }

  /** Ends every long poll now (the server is stopping); later polls answer at once. */
  close(): void {
    this.closed = true;
    for (const agent of [...this.waiters.keys()]) this.wake(agent);
  }

  /** Open jobs, for status pages and tests. */
  list(): Array<AgentJob & { agent: string; acked: boolean }> {
    return [...this.open.values()].map((e) => ({ ...e.job, agent: e.agent, acked: e.ackedMs !== null }));
  }

  private settle(id: string, result: ActionResult): void {
    const entry = this.open.get(id);
    if (entry === undefined) return;
    this.open.delete(id);
    this.finished.set(id, this.opts.clock.nowMs());
    entry.settle(result);
  }

  private wake(agent: string): void {
    for (const done of [...(this.waiters.get(agent) ?? [])]) done();
  }

  private timeoutMessage(entry: Entry, nowMs: number): string {
    const within = `within ${formatDuration(this.opts.timeoutMs)} (remediation.fleet.job_timeout)`;
    if (entry.ackedMs !== null) {
      return `agent ${entry.agent} did not report ${within}; is it running? It took the job ${formatDuration(nowMs - entry.ackedMs)} ago; see its log`;
    }
    const last = this.lastPollMs.get(entry.agent);
    const seen = last === undefined ? "it has not asked for jobs since the server started" : `it last asked for jobs ${formatDuration(nowMs - last)} ago`;
    return `agent ${entry.agent} did not report ${within}; is it running? It never picked the job up (${seen}); check that its remediation loop runs and can reach the server`;
  }
}
