import type { Alert } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { durationMs } from "../config/zod-types.js";
import type { MaintenanceWindow, RemediationConfig } from "./config.js";
import { WEEKDAYS } from "./config.js";
import type { JournalRecord, SuppressReason } from "./journal.js";

/** "At most `max` runs within `windowMs`." */
export interface Limit {
  max: number;
  windowMs: number;
}

/** What a silence looks like to the policy: anything `Silences.matches` returns. */
export interface SilenceLike {
  id: string;
  createdBy: string;
  comment?: string;
  endsAtMs: number;
}

export interface PolicyOptions {
  /** Global switch: when false every action is dry-run. */
  enabled: boolean;
  /** Minimum time between two starts of one action on one target (ms). */
  cooldownMs: number;
  perTarget: Limit;
  perRule: Limit;
  global: Limit;
  maxConcurrent: number;
  maintenance: readonly MaintenanceWindow[];
  /** Anchored regexes; undefined: anything is allowed. */
  allowHosts?: readonly string[];
  allowTargets?: readonly string[];
  breaker: { failures: number; windowMs: number; openForMs: number };
  silences?: { matches(alert: Alert, nowMs: number): SilenceLike | undefined };
  /** Host of alerts that have no `host` tag (this machine's name). */
  host?: string;
}

/** Policy options from the validated `remediation:` section. */
export function policyOptionsFromConfig(cfg: RemediationConfig, extra: Pick<PolicyOptions, "silences" | "host"> = {}): PolicyOptions {
  const limit = (l: { max: number; window: string }): Limit => ({ max: l.max, windowMs: durationMs(l.window) });
  return {
    enabled: cfg.enabled,
    cooldownMs: durationMs(cfg.cooldown),
    perTarget: limit(cfg.limits.per_target),
    perRule: limit(cfg.limits.per_rule),
    global: cfg.max_actions_per_hour === undefined ? limit(cfg.limits.global) : { max: cfg.max_actions_per_hour, windowMs: 3_600_000 },
    maxConcurrent: cfg.max_concurrent,
    maintenance: cfg.maintenance,
    ...(cfg.allow.hosts === undefined ? {} : { allowHosts: cfg.allow.hosts }),
    ...(cfg.allow.targets === undefined ? {} : { allowTargets: cfg.allow.targets }),
    breaker: { failures: cfg.breaker.failures, windowMs: durationMs(cfg.breaker.window), openForMs: durationMs(cfg.breaker.open_for) },
    ...extra,
  };
}

/** One intended run, as the policy sees it. */
export interface Plan {
  action: string;
  target: string;
  alert: Alert;
  /** The action itself asks for dry-run. */
  dryRun: boolean;
  /** A retry of a run that failed or was not verified: the cooldown does not apply to it. */
  retry?: boolean;
}

export type Decision = { run: true } | { run: false; reason: SuppressReason; detail: string };

/** An open circuit breaker: `action` is disabled on `target` until `untilMs`. */
export interface BreakerState {
  action: string;
  target: string;
  openedAtMs: number;
  untilMs: number;
  failures: number;
}

/**
 * The safety layer applied before every run. Its state is nothing but what the journal says
 * happened (`observe`), so replaying the journal at start restores cooldowns, limits and breakers.
 */
export class Policy {
  private readonly lastStartMs = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly targetStarts = new Map<string, number[]>();
  private readonly ruleStarts = new Map<string, number[]>();
  private globalStarts: number[] = [];
  private readonly failures = new Map<string, number[]>();
  private readonly breakers = new Map<string, BreakerState>();
  private readonly allowHosts: RegExp[] | undefined;
  private readonly allowTargets: RegExp[] | undefined;
  private readonly zoneFormats = new Map<string, Intl.DateTimeFormat>();

  constructor(private readonly opts: PolicyOptions) {
    this.allowHosts = opts.allowHosts?.map(anchored);
    this.allowTargets = opts.allowTargets?.map(anchored);
  }

  /**
   * The host's own rules alone (maintenance windows, allow-lists): what an agent checks of its
   * own config before it runs a job the server's policy already allowed.
   */
  hostRules(plan: Plan, nowMs: number): Decision {
    return this.maintenance(nowMs) ?? this.notAllowed(plan) ?? { run: true };
  }

  /** Decides without changing state; the journal records of what then happens are `observe`d. */
  decide(plan: Plan, nowMs: number): Decision {
    return (
      this.dryRun(plan) ??
      this.maintenance(nowMs) ??
      this.silenced(plan, nowMs) ??
      this.notAllowed(plan) ??
      this.breakerOpen(plan, nowMs) ??
      this.busy(plan) ??
      this.cooldown(plan, nowMs) ??
      this.rateLimits(plan, nowMs) ??
      this.concurrency() ?? { run: true }
    );
  }

  /** Learns from one journal record; returns the breaker it opened, if any. */
  observe(record: JournalRecord): BreakerState | undefined {
    const key = keyOf(record.action, record.target);
    switch (record.kind) {
      case "started":
        this.inFlight.add(key);
        this.lastStartMs.set(key, record.timeMs);
        push(this.targetStarts, record.target, record.timeMs);
        push(this.ruleStarts, record.rule, record.timeMs);
        this.globalStarts.push(record.timeMs);
        return undefined;
      case "finished":
        this.inFlight.delete(key);
        return record.ok ? undefined : this.failed(record);
      case "not_verified":
        return this.failed(record);
      case "breaker_opened":
        this.breakers.set(key, { action: record.action, target: record.target, openedAtMs: record.timeMs, untilMs: record.untilMs, failures: record.failures });
        this.failures.delete(key);
        return undefined;
      default:
        return undefined;
    }
  }

  /** After replaying the journal at start: runs that were in flight died with the old process. */
  forgetInFlight(): void {
    this.inFlight.clear();
  }

  /** Breakers open at `nowMs`. */
  openBreakers(nowMs: number): BreakerState[] {
    return [...this.breakers.values()].filter((b) => b.untilMs > nowMs);
  }

  /** Drops starts and failures too old to matter, so state stays bounded by the windows. */
  sweep(nowMs: number): void {
    const o = this.opts;
    pruneAll(this.targetStarts, nowMs - o.perTarget.windowMs);
    pruneAll(this.ruleStarts, nowMs - o.perRule.windowMs);
    this.globalStarts = this.globalStarts.filter((t) => t > nowMs - o.global.windowMs);
    pruneAll(this.failures, nowMs - o.breaker.windowMs);
    for (const [key, t] of this.lastStartMs) if (t <= nowMs - o.cooldownMs) this.lastStartMs.delete(key);
    for (const [key, b] of this.breakers) if (b.untilMs <= nowMs) this.breakers.delete(key);
  }

  private failed(record: JournalRecord): BreakerState | undefined {
    const key = keyOf(record.action, record.target);
    const { failures, windowMs, openForMs } = this.opts.breaker;
    const open = this.breakers.get(key);
    if (open !== undefined && open.untilMs > record.timeMs) return undefined;
    const recent = (this.failures.get(key) ?? []).filter((t) => t > record.timeMs - windowMs);
    recent.push(record.timeMs);
    this.failures.set(key, recent);
    if (recent.length < failures) return undefined;
    const state: BreakerState = { action: record.action, target: record.target, openedAtMs: record.timeMs, untilMs: record.timeMs + openForMs, failures: recent.length };
    this.breakers.set(key, state);
    this.failures.delete(key);
    return state;
  }

  private dryRun(plan: Plan): Decision | undefined {
    if (!this.opts.enabled) return suppress("dry_run", "remediation.enabled is false: set it to true to run actions");
    if (plan.dryRun) return suppress("dry_run", `action ${plan.action} has dry_run: true: remove it to let this action run`);
    return undefined;
  }

  private maintenance(nowMs: number): Decision | undefined {
    const w = this.opts.maintenance.find((m) => this.inWindow(m, nowMs));
    if (w === undefined) return undefined;
    const days = w.days === undefined ? "every day" : w.days.join(",");
    return suppress("maintenance", `inside the maintenance window ${w.start}–${w.end} ${w.timezone ?? "UTC"} (${days}): actions resume when it ends; edit remediation.maintenance to change it`);
  }

  private silenced(plan: Plan, nowMs: number): Decision | undefined {
    const s = this.opts.silences?.matches(plan.alert, nowMs);
    if (s === undefined) return undefined;
    const why = s.comment === undefined ? "" : `: ${s.comment}`;
    return suppress(
      "silenced",
      `silenced by ${s.id} (${s.createdBy}${why}) until ${new Date(s.endsAtMs).toISOString()}: delete it (DELETE /api/v1/silences/${s.id}) to let actions run`,
    );
  }

  private notAllowed(plan: Plan): Decision | undefined {
    if (this.allowHosts !== undefined) {
      const host = plan.alert.tags.host ?? this.opts.host;
      if (host === undefined) return suppress("not_allowed", "the alert has no host tag and remediation.allow.hosts is set: remove allow.hosts or tag the series with its host");
      if (!this.allowHosts.some((re) => re.test(host))) {
        return suppress("not_allowed", `host ${host} matches none of remediation.allow.hosts: add a pattern for it to allow actions there`);
      }
    }
    if (this.allowTargets !== undefined && !this.allowTargets.some((re) => re.test(plan.target))) {
      return suppress("not_allowed", `target ${plan.target} matches none of remediation.allow.targets: add a pattern for it to allow actions on it`);
    }
    return undefined;
  }

  private breakerOpen(plan: Plan, nowMs: number): Decision | undefined {
    const b = this.breakers.get(keyOf(plan.action, plan.target));
    if (b === undefined || b.untilMs <= nowMs) return undefined;
    return suppress(
      "breaker_open",
      `${b.failures} failed or not verified runs of ${plan.action} on ${plan.target} opened its circuit breaker until ${new Date(b.untilMs).toISOString()}: find the cause in the journal (ansai actions list); it closes by itself then (remediation.breaker.open_for)`,
    );
  }

  private busy(plan: Plan): Decision | undefined {
    if (!this.inFlight.has(keyOf(plan.action, plan.target))) return undefined;
    return suppress("in_flight", `${plan.action} is still running on ${plan.target}: one run at a time per action and target`);
  }

  private cooldown(plan: Plan, nowMs: number): Decision | undefined {
    if (plan.retry === true) return undefined;
    const last = this.lastStartMs.get(keyOf(plan.action, plan.target));
    if (last === undefined || nowMs - last >= this.opts.cooldownMs) return undefined;
    return suppress(
      "cooldown",
      `${plan.action} ran on ${plan.target} ${formatDuration(nowMs - last)} ago; next run allowed in ${formatDuration(this.opts.cooldownMs - (nowMs - last))} (remediation.cooldown)`,
    );
  }

  private rateLimits(plan: Plan, nowMs: number): Decision | undefined {
    const o = this.opts;
    return (
      overLimit("rate_limit_target", `on target ${plan.target}`, "remediation.limits.per_target", this.targetStarts.get(plan.target) ?? [], o.perTarget, nowMs) ??
      overLimit("rate_limit_rule", `for rule ${plan.alert.rule}`, "remediation.limits.per_rule", this.ruleStarts.get(plan.alert.rule) ?? [], o.perRule, nowMs) ??
      overLimit("rate_limit_global", "in total", "remediation.limits.global", this.globalStarts, o.global, nowMs)
    );
  }

  private concurrency(): Decision | undefined {
    if (this.inFlight.size < this.opts.maxConcurrent) return undefined;
    return suppress("concurrency", `${this.inFlight.size} actions are running (remediation.max_concurrent: ${this.opts.maxConcurrent}): this run waits for a slot`);
  }

  /** Whether `nowMs` falls in a window; an end before the start crosses midnight, and `days` name the day it starts. */
  private inWindow(w: MaintenanceWindow, nowMs: number): boolean {
    const { day, minute } = this.localTime(w.timezone ?? "UTC", nowMs);
    const start = minutesOf(w.start);
    const end = minutesOf(w.end);
    const onDay = (d: number): boolean => w.days === undefined || w.days.includes(WEEKDAYS[d] as (typeof w.days)[number]);
    if (start <= end) return onDay(day) && minute >= start && minute < end;
    return (onDay(day) && minute >= start) || (onDay((day + 6) % 7) && minute < end);
  }

  private localTime(zone: string, nowMs: number): { day: number; minute: number } {
    let fmt = this.zoneFormats.get(zone);
    if (fmt === undefined) {
      fmt = new Intl.DateTimeFormat("en-US", { timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      this.zoneFormats.set(zone, fmt);
    }
    const parts = Object.fromEntries(fmt.formatToParts(nowMs).map((p) => [p.type, p.value]));
    const day = WEEKDAYS.indexOf((parts.weekday ?? "").toLowerCase());
    return { day, minute: Number(parts.hour) * 60 + Number(parts.minute) };
  }
}

function overLimit(reason: SuppressReason, scope: string, key: string, starts: readonly number[], limit: Limit, nowMs: number): Decision | undefined {
  const recent = starts.filter((t) => t > nowMs - limit.windowMs);
  if (recent.length < limit.max) return undefined;
  const window = formatDuration(limit.windowMs);
  const oldest = recent[0];
  const wait = oldest === undefined ? window : formatDuration(oldest + limit.windowMs - nowMs);
  return suppress(reason, `${recent.length} runs ${scope} in the last ${window} (${key}: max ${limit.max}): next run allowed in ${wait}, or raise ${key}.max`);
}

const suppress = (reason: SuppressReason, detail: string): Decision => ({ run: false, reason, detail });
const keyOf = (action: string, target: string): string => `${action}\u0000${target}`;
const anchored = (source: string): RegExp => new RegExp(`^(?:${source})$`);
const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function push(map: Map<string, number[]>, key: string, timeMs: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [timeMs]);
  else list.push(timeMs);
}

function pruneAll(map: Map<string, number[]>, cutoffMs: number): void {
  for (const [key, list] of map) {
    const kept = list.filter((t) => t > cutoffMs);
    if (kept.length === 0) map.delete(key);
    else map.set(key, kept);
  }
}
