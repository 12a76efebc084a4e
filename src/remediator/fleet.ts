import type { Action, ActionResult, Alert } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { durationMs } from "../config/zod-types.js";
import type { RemediationConfig } from "./config.js";
import type { JobQueue } from "./jobs.js";
import type { Decision } from "./policy.js";

/** One run handed to an executor. */
export interface ExecutionRequest {
  runId: string;
  /** The action's name (what an agent looks up in its own config). */
  action: string;
  alert: Alert;
  attempt: number;
  /** The server's own instance of the action, for runs done here. */
  local: Action;
}

/** Where runs execute: here, or on the agent of the alert's host. */
export interface Executor {
  /** The agent that runs actions for this alert, or undefined to run them here. */
  agentFor(alert: Alert): string | undefined;
  /** Runs the request; never rejects (failures are `ok: false`). */
  execute(req: ExecutionRequest, signal: AbortSignal): Promise<ActionResult>;
  /** Clock-driven work (job deadlines); called on the remediator's tick. */
  tick?(nowMs: number): void;
  /** Why an action of this type cannot run for this alert anywhere (checked before planning), or undefined. */
  refusal?(alert: Alert, actionType: string): string | undefined;
}

/**
 * Action types that act on the machine they run on. Run on the server for another host's alert,
 * they would heal the wrong machine; ansible and webhook reach their target themselves.
 */
const ACTS_LOCALLY: ReadonlySet<string> = new Set(["exec", "restart", "cleanup", "renew_certificate"]);

/** Runs everything in this process. */
export const localExecutor: Executor = {
  agentFor: () => undefined,
  execute: (req, signal) => req.local.run(req.alert, signal),
};

/** An agent as the server knows it (AgentRegistry.list() fits). */
export interface AgentLike {
  name: string;
  /** The host tag it reports, once it has pushed. */
  host: string | null;
  labels: Readonly<Record<string, string>>;
}

/** Which agent serves a host, and which group the host is in. */
export interface AgentDirectory {
  agentFor(host: string): string | undefined;
  groupOf(host: string): string | undefined;
}

/** A directory over the server's agents: an agent serves the host it reports, or the host named like it. */
export function agentDirectory(list: () => readonly AgentLike[], groupLabel: string): AgentDirectory {
  const find = (host: string): AgentLike | undefined => {
    const agents = list();
    return agents.find((a) => a.host === host) ?? agents.find((a) => a.name === host);
  };
  return {
    agentFor: (host) => find(host)?.name,
    groupOf: (host) => find(host)?.labels[groupLabel],
  };
}

/**
 * Runs actions of alerts whose `host` tag names a known agent (other than this server's own
 * host) as jobs of that agent; everything else here.
 */
export function createFleetExecutor(opts: { jobs: JobQueue; agents: Pick<AgentDirectory, "agentFor">; host: string }): Executor {
  const agentFor = (alert: Alert): string | undefined => {
    const host = alert.tags.host;
    if (host === undefined || host === opts.host) return undefined;
    return opts.agents.agentFor(host);
  };
  return {
    agentFor,
    refusal(alert, actionType) {
      const host = alert.tags.host;
      if (host === undefined || host === opts.host || !ACTS_LOCALLY.has(actionType) || agentFor(alert) !== undefined) return undefined;
      return `no agent serves host ${host}, and a ${actionType} action run here would act on this server (${opts.host}): run \`ansai agent\` on ${host} (its name in server.agents must be its host name), or heal it with an ansible or webhook action`;
    },
    execute(req, signal) {
      const agent = agentFor(req.alert);
      if (agent === undefined) return req.local.run(req.alert, signal);
      return opts.jobs.submit(agent, { runId: req.runId, action: req.action, alert: req.alert, attempt: req.attempt }, signal);
    },
    tick: (nowMs) => opts.jobs.tick(nowMs),
  };
}

export interface FleetOptions {
  /** Hosts of one group healed at once. */
  maxParallelPerGroup: number;
  /** Distinct hosts firing within `windowMs` that make a storm; 0: never a storm. */
  stormHosts: number;
  stormWindowMs: number;
  /** The group of a host; undefined: the host is in no group and is never held back. */
  groupOf: (host: string) => string | undefined;
  /** Host of alerts without a `host` tag (this machine). */
  host?: string;
}

/** Fleet options from the validated `remediation:` section. */
export function fleetOptionsFromConfig(cfg: RemediationConfig, extra: Pick<FleetOptions, "groupOf" | "host">): FleetOptions {
  return {
    maxParallelPerGroup: cfg.fleet.max_parallel_per_group,
    stormHosts: cfg.fleet.storm.hosts,
    stormWindowMs: durationMs(cfg.fleet.storm.window),
    ...extra,
  };
}

/** A storm in progress. */
export interface StormState {
  sinceMs: number;
  /** The hosts that fired within the window when it began. */
  hosts: string[];
}

/**
 * Coordination across hosts: at most N hosts of a group healed at once (a host's slot is held
 * from its run's start until the run is verified or has failed for good), and storm detection
 * (many hosts firing at once pauses automatic actions until a person resumes them).
 */
export class Fleet {
  /** Runs holding a slot of their group: run id → group and host. */
  private readonly holders = new Map<string, { group: string; host: string }>();
  /** Host → when it last had an alert start firing (ms). */
  private readonly firing = new Map<string, number>();
  private storm: (StormState & { calmSinceMs: number | null }) | undefined;

  constructor(private readonly opts: FleetOptions) {}

  /** The host an alert is about. */
  hostOf(alert: Alert): string {
    return alert.tags.host ?? this.opts.host ?? "";
  }

  /** group_busy when other hosts of this alert's group hold every slot; otherwise nothing to say. */
  decide(runId: string, alert: Alert): Decision | undefined {
    const host = this.hostOf(alert);
    const group = this.opts.groupOf(host);
    if (group === undefined) return undefined;
    const busy = new Map<string, string>();
    for (const [id, h] of this.holders) if (h.group === group && id !== runId) busy.set(h.host, id);
    if (busy.has(host) || busy.size < this.opts.maxParallelPerGroup) return undefined;
    const names = [...busy.keys()].join(", ");
    return {
      run: false,
      reason: "group_busy",
      detail:
        `${names} of group ${group} ${busy.size === 1 ? "is" : "are"} being healed: ${host} waits until that run is verified or fails ` +
        `(remediation.fleet.max_parallel_per_group: ${this.opts.maxParallelPerGroup})`,
    };
  }

  /** A run started: it holds its group's slot until `release`. */
  hold(runId: string, alert: Alert): void {
    const host = this.hostOf(alert);
    const group = this.opts.groupOf(host);
    if (group !== undefined) this.holders.set(runId, { group, host });
  }

  /** The run is verified, or failed for good: its group's next host may go. */
  release(runId: string): boolean {
    return this.holders.delete(runId);
  }

  /** Counts a firing alert; returns the storm when this alert starts one. */
  fired(alert: Alert, nowMs: number): StormState | undefined {
    if (this.opts.stormHosts <= 0) return undefined;
    this.firing.set(this.hostOf(alert), nowMs);
    const hosts = this.recentHosts(nowMs);
    if (this.storm !== undefined) {
      if (hosts.length >= this.opts.stormHosts) this.storm.calmSinceMs = null;
      return undefined;
    }
    if (hosts.length < this.opts.stormHosts) return undefined;
    this.storm = { sinceMs: nowMs, hosts, calmSinceMs: null };
    return { sinceMs: nowMs, hosts };
  }

  /** The storm in progress, if any. */
  storming(): StormState | undefined {
    return this.storm === undefined ? undefined : { sinceMs: this.storm.sinceMs, hosts: [...this.storm.hosts] };
  }

  /** Ends a storm that stayed below `stormHosts` for a whole window; returns it when it ended. */
  tick(nowMs: number): StormState | undefined {
    const hosts = this.recentHosts(nowMs);
    const storm = this.storm;
    if (storm === undefined) return undefined;
    if (hosts.length >= this.opts.stormHosts) {
      storm.calmSinceMs = null;
      return undefined;
    }
    storm.calmSinceMs ??= nowMs;
    if (nowMs - storm.calmSinceMs < this.opts.stormWindowMs) return undefined;
    this.storm = undefined;
    return { sinceMs: storm.sinceMs, hosts: storm.hosts };
  }

  /** A person resumes automatic actions: the storm ends and counting starts afresh. */
  resume(): StormState | undefined {
    const storm = this.storm;
    this.storm = undefined;
    this.firing.clear();
    return storm === undefined ? undefined : { sinceMs: storm.sinceMs, hosts: storm.hosts };
  }

  /** What a storm's records and alerts say. */
  describeStorm(storm: StormState): string {
    const shown = storm.hosts.slice(0, 10).join(", ") + (storm.hosts.length > 10 ? `, … (${storm.hosts.length} in all)` : "");
    return (
      `${storm.hosts.length} hosts fired within ${formatDuration(this.opts.stormWindowMs)} (remediation.fleet.storm.hosts: ${this.opts.stormHosts}): ${shown}. ` +
      "Automatic actions are paused: each new run waits for a person's approval (ansai actions pending); " +
      `resume with POST /api/v1/actions/resume, or they resume by themselves once fewer hosts fire for ${formatDuration(this.opts.stormWindowMs)}`
    );
  }

  private recentHosts(nowMs: number): string[] {
    for (const [host, atMs] of this.firing) if (atMs <= nowMs - this.opts.stormWindowMs) this.firing.delete(host);
    return [...this.firing.keys()];
  }
}
