import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { remediationConfigSchema } from "./config.js";
import type { JournalBody, JournalRecord } from "./journal.js";
import { Policy, policyOptionsFromConfig, type Plan, type PolicyOptions } from "./policy.js";
import { Silences } from "./silences.js";
import { testAlert } from "./test-alert.js";

// Wednesday 2024-05-01 12:00 UTC (14:00 in Paris).
const NOW = Date.UTC(2024, 4, 1, 12, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

const base = remediationConfigSchema.parse({
  enabled: true,
  cooldown: "30m",
  limits: { per_target: { max: 3, window: "6h" }, per_rule: { max: 4, window: "1h" }, global: { max: 5, window: "1h" } },
  max_concurrent: 2,
  breaker: { failures: 3, window: "1h", open_for: "6h" },
});

const plan = (over: Partial<Plan> & { pid?: string; tags?: Record<string, string>; rule?: string } = {}): Plan => {
  const tags = over.tags ?? { pid: over.pid ?? "1", host: "web-01" };
  const alert = testAlert(tags, over.rule === undefined ? {} : { rule: over.rule });
  return { action: over.action ?? "restart", target: over.target ?? alert.series, alert, dryRun: over.dryRun ?? false, ...(over.retry ? { retry: true } : {}) };
};

let seq = 0;
/** A journal record of `action` on `target` at `timeMs`. */
function rec(kind: JournalBody["kind"], timeMs: number, p: Partial<{ action: string; target: string; rule: string; ok: boolean }> = {}): JournalRecord {
  const common = { id: `r${++seq}`, timeMs, runId: `run${seq}`, action: p.action ?? "restart", rule: p.rule ?? "process_memory_limit", alertId: "a", target: p.target ?? "procstat,pid=1 memory_rss", dryRun: false };
  if (kind === "started") return { ...common, kind, attempt: 1 };
  if (kind === "finished") return { ...common, kind, attempt: 1, ok: p.ok ?? true, exitCode: p.ok === false ? 1 : 0, durationMs: 5, outputTail: "" };
  if (kind === "not_verified") return { ...common, kind, attempt: 1, detail: "" };
  throw new Error(`no helper for ${kind}`);
}

/** A run of `action` on `target` that started and ended at `timeMs`. */
const ran = (timeMs: number, p: Parameters<typeof rec>[2] = {}): JournalRecord[] => [rec("started", timeMs, p), rec("finished", timeMs, p)];
const target = (pid: string): string => `procstat,pid=${pid} memory_rss`;

function silencesWith(rule: string): Silences {
  const s = Silences.open(mkdtempSync(path.join(tmpdir(), "ansai-sil-")), pino({ level: "silent" }));
  s.add({ matchers: { rule, tags: { host: "/web-.*/" } }, createdBy: "alice", comment: "deploy", endsAtMs: NOW + HOUR }, NOW);
  return s;
}

interface Case {
  name: string;
  options?: Partial<PolicyOptions>;
  history?: JournalRecord[];
  plan?: Plan;
  nowMs?: number;
  /** The expected reason, or "run". */
  want: string;
  /** The config key or advice the detail must name. */
  detail?: RegExp;
}

const cases: Case[] = [
  { name: "allows a first run", want: "run" },
  { name: "dry-run globally", options: { enabled: false }, want: "dry_run", detail: /remediation\.enabled/ },
  { name: "dry-run per action", plan: plan({ dryRun: true }), want: "dry_run", detail: /dry_run: true/ },
  {
    name: "maintenance window, UTC",
    options: { maintenance: [{ days: ["wed"], start: "11:30", end: "12:30" }] },
    want: "maintenance",
    detail: /remediation\.maintenance/,
  },
  { name: "maintenance window on another day", options: { maintenance: [{ days: ["tue"], start: "11:30", end: "12:30" }] }, want: "run" },
  { name: "maintenance window in a time zone", options: { maintenance: [{ start: "13:30", end: "14:30", timezone: "Europe/Paris" }] }, want: "maintenance" },
  { name: "maintenance window across midnight, started the day before", options: { maintenance: [{ days: ["tue"], start: "22:00", end: "13:00" }] }, want: "maintenance" },
  { name: "maintenance window that has ended", options: { maintenance: [{ start: "10:00", end: "12:00" }] }, want: "run" },
  { name: "silenced", options: { silences: silencesWith("process_memory_limit") }, want: "silenced", detail: /DELETE \/api\/v1\/silences\/.*alice: deploy|alice: deploy/ },
  { name: "a silence of another rule", options: { silences: silencesWith("disk_full_4h") }, want: "run" },
  { name: "host not allowed", options: { allowHosts: ["db-.*"] }, want: "not_allowed", detail: /remediation\.allow\.hosts/ },
  { name: "host allowed", options: { allowHosts: ["web-\\d+"] }, want: "run" },
  { name: "no host tag: this machine's host", options: { allowHosts: ["local"], host: "local" }, plan: plan({ tags: { pid: "1" } }), want: "run" },
  { name: "target not allowed", options: { allowTargets: ["unit:.*"] }, want: "not_allowed", detail: /remediation\.allow\.targets/ },
  {
    name: "breaker open after 3 failures within the window",
    history: [...ran(NOW - 50 * MIN, { ok: false }), rec("not_verified", NOW - 40 * MIN), ...ran(NOW - 35 * MIN, { ok: false })],
    want: "breaker_open",
    detail: /remediation\.breaker\.open_for/,
  },
  { name: "failures spread wider than the window keep it closed", history: [...ran(NOW - 8 * HOUR, { ok: false }), ...ran(NOW - 2 * HOUR, { ok: false }), ...ran(NOW - 35 * MIN, { ok: false })], want: "run" },
  { name: "breaker closes after open_for", history: [...ran(NOW - 7 * HOUR, { ok: false }), ...ran(NOW - 7 * HOUR, { ok: false }), ...ran(NOW - 7 * HOUR, { ok: false })], want: "run" },
  { name: "in flight", history: [rec("started", NOW - HOUR)], want: "in_flight" },
  { name: "cooldown", history: ran(NOW - 10 * MIN), want: "cooldown", detail: /remediation\.cooldown/ },
  { name: "cooldown passed", history: ran(NOW - 31 * MIN), want: "run" },
  { name: "a retry is not held by the cooldown", history: ran(NOW - 10 * MIN), plan: plan({ retry: true }), want: "run" },
  {
    name: "per-target limit across actions",
    history: [...ran(NOW - 5 * HOUR, { action: "a" }), ...ran(NOW - 4 * HOUR, { action: "b" }), ...ran(NOW - 3 * HOUR, { action: "c" })],
    want: "rate_limit_target",
    detail: /remediation\.limits\.per_target/,
  },
  {
    name: "per-rule limit across targets",
    history: ["2", "3", "4", "5"].flatMap((pid) => ran(NOW - 30 * MIN, { target: target(pid) })),
    want: "rate_limit_rule",
    detail: /remediation\.limits\.per_rule/,
  },
  {
    name: "global limit across rules",
    history: ["2", "3", "4", "5", "6"].flatMap((pid, i) => ran(NOW - 30 * MIN, { target: target(pid), rule: `r${i}` })),
    want: "rate_limit_global",
    detail: /remediation\.limits\.global/,
  },
  { name: "global limit window slides", history: ["2", "3", "4", "5", "6"].flatMap((pid, i) => ran(NOW - 61 * MIN, { target: target(pid), rule: `r${i}` })), want: "run" },
  {
    name: "concurrency",
    history: [rec("started", NOW, { target: target("2") }), rec("started", NOW, { target: target("3"), rule: "other" })],
    want: "concurrency",
    detail: /remediation\.max_concurrent/,
  },
];

describe("policy", () => {
  it.each(cases)("$name → $want", (c) => {
    const policy = new Policy({ ...policyOptionsFromConfig(base), ...c.options });
    for (const r of c.history ?? []) policy.observe(r);
    const decision = policy.decide(c.plan ?? plan(), c.nowMs ?? NOW);
    expect(decision.run ? "run" : decision.reason).toBe(c.want);
    if (c.detail && !decision.run) expect(decision.detail).toMatch(c.detail);
  });

  it("observe reports the failure that opens a breaker, once", () => {
    const policy = new Policy(policyOptionsFromConfig(base));
    const opened = [1, 2, 3, 4].map((i) => policy.observe(rec("not_verified", NOW + i * MIN)));
    expect(opened.map((o) => o !== undefined)).toEqual([false, false, true, false]);
    expect(opened[2]).toMatchObject({ action: "restart", failures: 3, untilMs: NOW + 3 * MIN + 6 * HOUR });
    expect(policy.openBreakers(NOW + 4 * MIN)).toHaveLength(1);
    expect(policy.openBreakers(NOW + 7 * HOUR)).toHaveLength(0);
  });

  it("forgets in-flight runs after a replay (they died with the old process)", () => {
    const policy = new Policy(policyOptionsFromConfig(base));
    policy.observe(rec("started", NOW - 2 * HOUR));
    expect(policy.decide(plan(), NOW)).toMatchObject({ reason: "in_flight" });
    policy.forgetInFlight();
    expect(policy.decide(plan(), NOW)).toEqual({ run: true });
  });

  it("max_actions_per_hour (deprecated) still sets the global limit", () => {
    const opts = policyOptionsFromConfig(remediationConfigSchema.parse({ max_actions_per_hour: 7 }));
    expect(opts.global).toEqual({ max: 7, windowMs: HOUR });
  });
});
