import type { Alert } from "../../core/contracts.js";
import { formatDuration } from "../../core/duration.js";
import { statusAlert } from "../../core/status-alert.js";
import { createTokenSet, type TokenSet } from "../../core/tokens.js";

/** An agent the server accepts, from the server's config. */
export interface AgentSpec {
  name: string;
  token: string;
  labels: Readonly<Record<string, string>>;
}

/** What the server knows of one agent, as /api/v1/agents shows it. */
export interface AgentState {
  name: string;
  /** The host tag the agent reports, once it has pushed. */
  host: string | null;
  labels: Readonly<Record<string, string>>;
  version: string | null;
  lastSeenMs: number | null;
  /** Highest batch sequence number applied; a retry at or below it is a duplicate. */
  lastSeq: number;
  /** Points waiting in the agent's buffer at its last push. */
  bufferPoints: number;
  /** Points the agent's buffer gave up since it started, at its last push. */
  droppedPoints: number;
  silent: boolean;
}

export interface PushReport {
  seq: number;
  host: string;
  version: string;
  labels: Readonly<Record<string, string>>;
  bufferPoints: number;
  droppedPoints: number;
  nowMs: number;
}

const SILENT_RULE = "agent_silent";

/**
 * The server's view of its agents: token check (constant time, hashed), per-agent batch
 * sequence for exactly-once delivery, last-seen and buffer depth, and an alert for each agent
 * silent longer than `silentAfterMs`.
 */
export class AgentRegistry {
  private readonly agents = new Map<string, { spec: AgentSpec; state: AgentState; alert: Alert | null }>();
  private readonly tokens: TokenSet<AgentSpec>;

  constructor(
    specs: readonly AgentSpec[],
    private readonly silentAfterMs: number,
    private readonly startedMs: number,
  ) {
    for (const spec of specs) {
      const state: AgentState = { name: spec.name, host: null, labels: spec.labels, version: null, lastSeenMs: null, lastSeq: 0, bufferPoints: 0, droppedPoints: 0, silent: false };
      this.agents.set(spec.name, { spec, state, alert: null });
    }
    this.tokens = createTokenSet(specs);
  }

  get size(): number {
    return this.agents.size;
  }

  /** The agent owning `token`; compares against every agent so timing tells nothing. */
  authenticate(token: string): AgentSpec | undefined {
    return this.tokens.find(token);
  }

  /** Restores the applied sequence (read back from the store after a server restart). */
  restoreSeq(name: string, seq: number): void {
    const agent = this.agents.get(name);
    if (agent) agent.state.lastSeq = Math.max(agent.state.lastSeq, seq);
  }

  isDuplicate(name: string, seq: number): boolean {
    return seq <= (this.agents.get(name)?.state.lastSeq ?? 0);
  }

  /** Records a push that was written durably. */
  applied(name: string, report: PushReport): void {
    const agent = this.agents.get(name);
    if (!agent) return;
    Object.assign(agent.state, {
      host: report.host,
      version: report.version,
      labels: { ...agent.spec.labels, ...report.labels },
      lastSeenMs: report.nowMs,
      lastSeq: Math.max(agent.state.lastSeq, report.seq),
      bufferPoints: report.bufferPoints,
      droppedPoints: report.droppedPoints,
    });
  }

  /** A push that changed nothing (a duplicate) still proves the agent alive. */
  seen(name: string, nowMs: number): void {
    const agent = this.agents.get(name);
    if (agent) agent.state.lastSeenMs = nowMs;
  }

  list(): AgentState[] {
    return [...this.agents.values()].map((a) => ({ ...a.state }));
  }

  /** Raises or resolves the silent-agent alerts; returns the alerts whose state changed. */
  evaluate(nowMs: number): Alert[] {
    const transitions: Alert[] = [];
    for (const agent of this.agents.values()) {
      const since = agent.state.lastSeenMs ?? this.startedMs;
      const silentMs = nowMs - since;
      const silent = silentMs >= this.silentAfterMs;
      agent.state.silent = silent;
      if (silent && agent.alert?.state !== "firing") {
        agent.alert = this.silentAlert(agent.state, nowMs, since, silentMs);
        transitions.push(agent.alert);
      } else if (!silent && agent.alert?.state === "firing") {
        agent.alert = { ...agent.alert, state: "resolved", resolvedAtMs: nowMs, summary: `agent ${agent.state.name} is pushing again` };
        transitions.push(agent.alert);
      } else if (silent && agent.alert) {
        agent.alert = { ...agent.alert, summary: silentSummary(agent.state, silentMs) };
      }
    }
    return transitions;
  }

  /** Firing and recently resolved silent-agent alerts. */
  alerts(): Alert[] {
    return [...this.agents.values()].flatMap((a) => (a.alert ? [a.alert] : []));
  }

  private silentAlert(state: AgentState, nowMs: number, sinceMs: number, silentMs: number): Alert {
    return statusAlert({
      rule: SILENT_RULE,
      severity: "warning",
      model: "heartbeat",
      measurement: "ansai_agent",
      field: "silent_s",
      tags: { agent: state.name, ...(state.host ? { host: state.host } : {}) },
      value: silentMs / 1000,
      threshold: this.silentAfterMs / 1000,
      slopePerS: 1,
      etaMs: sinceMs + this.silentAfterMs,
      nowMs,
      sinceMs,
      summary: silentSummary(state, silentMs),
    });
  }

}

function silentSummary(state: AgentState, silentMs: number): string {
  const where = state.host ? ` on ${state.host}` : "";
  const last = state.lastSeenMs === null ? "never seen since the server started" : `last push ${formatDuration(silentMs)} ago`;
  return `agent ${state.name}${where} is silent: ${last}`;
}
