import type { SuppressReason } from "./journal.js";

export interface PolicyOptions {
  /** Global switch: when false every action is dry-run. */
  enabled: boolean;
  /** Minimum time between two starts of one action on one target (ms). */
  cooldownMs: number;
  /** Cap on action starts in any sliding hour, across all actions. */
  maxActionsPerHour: number;
}

export interface Plan {
  action: string;
  target: string;
  /** The action itself asks for dry-run. */
  dryRun: boolean;
}

export type Decision = { run: true } | { run: false; reason: SuppressReason; detail: string };

const HOUR_MS = 3_600_000;

/** The safety layer applied before every run: dry-run, one at a time per target, cooldown, global rate limit. */
export class Policy {
  private readonly lastStartMs = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private startsMs: number[] = [];

  constructor(private readonly opts: PolicyOptions) {}

  /** Decides without changing state; call `started` when the run begins. */
  decide(plan: Plan, nowMs: number): Decision {
    if (!this.opts.enabled) {
      return { run: false, reason: "dry_run", detail: "remediation.enabled is false: set it to true to run actions" };
    }
    if (plan.dryRun) return { run: false, reason: "dry_run", detail: `action ${plan.action} has dry_run: true` };
    const key = keyOf(plan);
    if (this.inFlight.has(key)) return { run: false, reason: "in_flight", detail: "the same action is still running on this target" };
    const last = this.lastStartMs.get(key);
    if (last !== undefined && nowMs - last < this.opts.cooldownMs) {
      const waitS = Math.ceil((this.opts.cooldownMs - (nowMs - last)) / 1000);
      return { run: false, reason: "cooldown", detail: `ran on this target ${Math.round((nowMs - last) / 1000)} s ago; next run allowed in ${waitS} s` };
    }
    this.startsMs = this.startsMs.filter((t) => nowMs - t < HOUR_MS);
    if (this.startsMs.length >= this.opts.maxActionsPerHour) {
      return { run: false, reason: "rate_limit", detail: `${this.startsMs.length} actions already ran in the last hour (remediation.max_actions_per_hour)` };
    }
    return { run: true };
  }

  started(plan: Plan, nowMs: number): void {
    const key = keyOf(plan);
    this.inFlight.add(key);
    this.lastStartMs.set(key, nowMs);
    this.startsMs.push(nowMs);
  }

  finished(plan: Plan): void {
    this.inFlight.delete(keyOf(plan));
  }
}

const keyOf = (plan: Plan): string => `${plan.action}\u0000${plan.target}`;
