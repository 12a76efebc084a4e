import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AnsaiError } from "../core/errors.js";
import type { Alert, Clock } from "../core/contracts.js";
import { remediationConfigSchema } from "./config.js";
import { Journal, type JournalKind, type JournalQuery, type JournalRecord } from "./journal.js";
import { createRemediator, type Remediator } from "./remediator.js";
import { testAlert as alertFor } from "./test-alert.js";

const log = pino({ level: "silent" });
const MIN = 60_000;
// fsync per record is the point of the journal; tmpfs keeps 1000s of them quick in tests.
const TMP = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();

interface Harness {
  dir: string;
  journal: Journal;
  remediator: Remediator;
  raised: Alert[];
  clock: { nowMs(): number; advance(ms: number): number };
  /** Kinds of the journal's records, in order, optionally of one action. */
  kinds(action?: string): JournalKind[];
  records(kind: JournalKind): JournalRecord[];
  /** A new remediator (and journal) on the same data dir: a restart. */
  restart(): Promise<Harness>;
}

function simulatedClock(): Clock & { advance(ms: number): number } {
  let now = Date.UTC(2024, 4, 1, 12, 0);
  return { nowMs: () => now, advance: (ms) => (now += ms) };
}

function harness(remediation: Record<string, unknown>, dir = mkdtempSync(path.join(TMP, "ansai-rem-")), clock = simulatedClock()): Harness {
  const config = remediationConfigSchema.parse(remediation);
  const journal = Journal.open(dir, log);
  const raised: Alert[] = [];
  const remediator = createRemediator({ config, journal, clock, log, env: process.env, dataDir: dir, raise: (a) => raised.push(a) });
  return {
    dir,
    journal,
    remediator,
    raised,
    clock,
    kinds: (action) => journal.read(action === undefined ? {} : { action }).map((r) => r.kind),
    records: (kind) => journal.read({ kind }),
    async restart() {
      await remediator.close();
      journal.close();
      return harness(remediation, dir, clock);
    },
  };
}

const action = (name: string, argv: string[], extra: Record<string, unknown> = {}) => ({
  name,
  on: { rule: "process_memory_limit", tags: { process_name: "/work.*/" } },
  type: "exec",
  argv,
  timeout: "10s",
  ...extra,
});

const writeEnvTo = (file: string, variable: string): string[] => [
  process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(file)}, process.env.${variable} ?? "unset")`,
];
/** A real process per run that leaves one new file in `dir`: count the files to count the runs. */
const mktempIn = (dir: string): string[] => ["mktemp", "-p", dir];

/** A killed process whose parent is gone may linger as a zombie until reaped: that counts as dead. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

const worker = (pid: string, overrides: Partial<Alert> = {}): Alert => alertFor({ process_name: "worker", pid }, overrides);
const resolvedOf = (a: Alert): Alert => ({ ...a, state: "resolved", resolvedAtMs: a.activeSinceMs + 1 });

describe("remediator: running and dry-run", () => {
  it("dry-run by default: journals what would run, on what, why and the ETA, and runs nothing", async () => {
    const marker = path.join(TMP, `ansai-marker-${process.pid}-dry`);
    const h = harness({ actions: [action("mark", writeEnvTo(marker, "ANSAI_TAG_PID"))] });
    h.remediator.handle([worker("42")]);
    await h.remediator.idle();
    expect(existsSync(marker)).toBe(false);
    const [planned, suppressed] = h.journal.read();
    expect(h.kinds()).toEqual(["planned", "suppressed"]);
    expect(planned).toMatchObject({ action: "mark", dryRun: true, target: "procstat,pid=42 memory_rss", etaMs: 100_000, reason: "worker reaches its memory limit in 5 m" });
    expect(planned?.kind === "planned" && planned.command).toContain(process.execPath);
    expect(suppressed).toMatchObject({ reason: "dry_run", dryRun: true });
  });

  it("with remediation enabled runs the program, passing alert data only as environment", async () => {
    const marker = path.join(mkdtempSync(path.join(TMP, "ansai-m-")), "out");
    const h = harness({ enabled: true, actions: [action("mark", writeEnvTo(marker, "ANSAI_TAG_PID"))] });
    h.remediator.handle([worker("42")]);
    await h.remediator.idle();
    expect(readFileSync(marker, "utf8")).toBe("42");
    expect(h.kinds()).toEqual(["planned", "started", "finished"]);
    expect(h.journal.read().at(-1)).toMatchObject({ ok: true, exitCode: 0, attempt: 1 });
  });

  it("ignores alerts of other rules, unmatched tags and pending alerts", async () => {
    const h = harness({ enabled: true, actions: [action("mark", ["true"])] });
    h.remediator.handle([
      worker("1", { rule: "disk_full_4h" }),
      alertFor({ process_name: "nginx" }),
      worker("1", { state: "pending" }),
      worker("1", { state: "resolved" }),
    ]);
    await h.remediator.idle();
    expect(h.journal.read()).toEqual([]);
  });

  it("hostile tag values reach no shell and create no file", async () => {
    const dir = mkdtempSync(path.join(TMP, "ansai-hostile-"));
    const out = path.join(dir, "value");
    const h = harness({ enabled: true, actions: [action("mark", writeEnvTo(out, "ANSAI_TAG_PROCESS_NAME"))] });
    const hostile = `worker$(touch ${dir}/pwned); touch ${dir}/pwned2 \`touch ${dir}/pwned3\`\n'"`;
    h.remediator.handle([alertFor({ process_name: hostile, pid: "7" })]);
    await h.remediator.idle();
    expect(readFileSync(out, "utf8")).toBe(hostile);
    for (const f of ["pwned", "pwned2", "pwned3"]) expect(existsSync(path.join(dir, f))).toBe(false);
  });

  it("a timeout kills the program's whole process group", async () => {
    const pidFile = path.join(mkdtempSync(path.join(TMP, "ansai-gc-")), "pid");
    const script = `const c=require("child_process").spawn("sleep",["30"],{stdio:"ignore"});require("fs").writeFileSync(${JSON.stringify(pidFile)},String(c.pid));setInterval(()=>{},1000)`;
    const h = harness({ enabled: true, actions: [action("mark", [process.execPath, "-e", script], { timeout: "1s" })] });
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    expect(h.records("finished")).toEqual([expect.objectContaining({ ok: false, error: expect.stringMatching(/timed out/) })]);
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(grandchild)).toBe(false);
  });

  it("idempotent: the same firing episode delivered twice plans once; a new episode plans again", async () => {
    const h = harness({ enabled: true, cooldown: "1m", actions: [action("mark", ["true"])] });
    const a = worker("1", { activeSinceMs: 1_000 });
    h.remediator.handle([a, a]);
    await h.remediator.idle();
    h.remediator.handle([a]);
    await h.remediator.idle();
    expect(h.records("planned")).toHaveLength(1);
    h.clock.advance(2 * MIN);
    h.remediator.handle([worker("1", { activeSinceMs: 5_000 })]);
    await h.remediator.idle();
    expect(h.records("planned")).toHaveLength(2);
    expect(h.records("finished")).toHaveLength(2);
  });
});

describe("remediator: a storm of 500 firing alerts", () => {
  const storm = Array.from({ length: 500 }, (_, i) => worker(String(1000 + i)));
  const cases = [
    { name: "the global limit holds", config: { enabled: true, limits: { per_rule: { max: 1000 }, global: { max: 20 } } }, runs: 20, reason: "rate_limit_global" },
    { name: "the per-rule limit holds", config: { enabled: true, limits: { per_rule: { max: 7 } } }, runs: 7, reason: "rate_limit_rule" },
    { name: "dry-run runs nothing", config: { limits: { per_rule: { max: 1000 } } }, runs: 0, reason: "dry_run" },
  ];

  it.each(cases)("$name: $runs real runs", async (c) => {
    const runs = mkdtempSync(path.join(TMP, "ansai-storm-"));
    const h = harness({ ...c.config, max_concurrent: 3, actions: [action("mark", mktempIn(runs))] });
    h.remediator.handle(storm);
    await h.remediator.idle();
    expect(readdirSync(runs)).toHaveLength(c.runs);
    expect(h.records("started")).toHaveLength(c.runs);
    expect(h.records("finished").filter((r) => r.kind === "finished" && r.ok)).toHaveLength(c.runs);
    const suppressed = h.records("suppressed");
    expect(suppressed).toHaveLength(500 - c.runs);
    expect(new Set(suppressed.map((r) => r.kind === "suppressed" && r.reason))).toEqual(new Set([c.reason]));
  }, 60_000);

  it("with approval required, every run waits and nothing runs", async () => {
    const runs = mkdtempSync(path.join(TMP, "ansai-storm-"));
    const h = harness({ enabled: true, approval: "required", limits: { per_rule: { max: 1000 } }, actions: [action("mark", mktempIn(runs))] });
    h.remediator.handle(storm);
    await h.remediator.idle();
    expect(h.remediator.pending()).toHaveLength(500);
    expect(readdirSync(runs)).toHaveLength(0);
  }, 60_000);
});

describe("remediator: approvals", () => {
  const setup = () => {
    const runs = mkdtempSync(path.join(TMP, "ansai-appr-"));
    const h = harness({ enabled: true, approval: "required", approval_timeout: "1h", actions: [action("mark", mktempIn(runs))] });
    return { h, runs };
  };

  it("a run waits for approval with its preview, then runs once approved", async () => {
    const { h, runs } = setup();
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    expect(readdirSync(runs)).toHaveLength(0);
    const [p] = h.remediator.pending();
    expect(p).toMatchObject({ action: "mark", target: "procstat,pid=1 memory_rss", preview: [expect.stringContaining("mktemp")] });
    expect(h.records("awaiting_approval")[0]).toMatchObject({ runId: p?.runId, expiresAtMs: h.clock.nowMs() + 60 * MIN });
    expect(h.remediator.approve(p?.runId ?? "", "alice")).toEqual({ runId: p?.runId, outcome: "started" });
    await h.remediator.idle();
    expect(readdirSync(runs)).toHaveLength(1);
    expect(h.kinds()).toEqual(["planned", "awaiting_approval", "approved", "started", "finished"]);
    expect(h.records("approved")[0]).toMatchObject({ by: "alice" });
    expect(() => h.remediator.approve(p?.runId ?? "", "alice")).toThrow(AnsaiError);
  });

  it("a rejected run does not run", async () => {
    const { h, runs } = setup();
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    const id = h.remediator.pending()[0]?.runId ?? "";
    h.remediator.reject(id, "bob", "not during the sale");
    await h.remediator.idle();
    expect(readdirSync(runs)).toHaveLength(0);
    expect(h.records("rejected")[0]).toMatchObject({ by: "bob", reason: "not during the sale" });
    expect(h.remediator.pending()).toEqual([]);
  });

  it("an unanswered approval expires after approval_timeout", async () => {
    const { h, runs } = setup();
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    const id = h.remediator.pending()[0]?.runId ?? "";
    h.remediator.tick(h.clock.advance(59 * MIN));
    expect(h.remediator.pending()).toHaveLength(1);
    h.remediator.tick(h.clock.advance(1 * MIN));
    expect(h.remediator.pending()).toEqual([]);
    expect(h.records("expired")[0]).toMatchObject({ runId: id, detail: expect.stringContaining("approval_timeout") });
    expect(() => h.remediator.approve(id, "alice")).toThrow(/no run .* waits for approval/);
    expect(readdirSync(runs)).toHaveLength(0);
  });

  it("an approved run is decided again: limits still apply", async () => {
    const runs = mkdtempSync(path.join(TMP, "ansai-appr-"));
    const h = harness({ enabled: true, approval: "required", limits: { global: { max: 1 } }, actions: [action("mark", mktempIn(runs))] });
    h.remediator.handle([worker("1"), worker("2")]);
    await h.remediator.idle();
    const [first, second] = h.remediator.pending();
    expect(h.remediator.approve(first?.runId ?? "", "alice").outcome).toBe("started");
    await h.remediator.idle();
    expect(h.remediator.approve(second?.runId ?? "", "alice")).toMatchObject({ outcome: "suppressed", reason: "rate_limit_global" });
    await h.remediator.idle();
    expect(readdirSync(runs)).toHaveLength(1);
  });
});

describe("remediator: verification, retries, escalation", () => {
  it("a run whose alert resolves in time is verified", async () => {
    const h = harness({ enabled: true, actions: [action("mark", ["true"], { verify: { within: "10m" } })] });
    const a = worker("1");
    h.remediator.handle([a]);
    await h.remediator.idle();
    h.clock.advance(3 * MIN);
    h.remediator.handle([resolvedOf(a)]);
    h.remediator.tick(h.clock.advance(20 * MIN));
    expect(h.kinds()).toEqual(["planned", "started", "finished", "verified"]);
    expect(h.raised).toEqual([]);
  });

  it("not resolved: retries with doubling backoff, escalates, then raises an alert to a person", async () => {
    const h = harness({
      enabled: true,
      breaker: { failures: 10 },
      limits: { per_target: { max: 10 } },
      actions: [
        action("restart", ["true"], { verify: { within: "10m", retries: 2, backoff: "2m" }, escalate_to: "page-oncall" }),
        { ...action("page-oncall", ["true"], { verify: { within: "5m", retries: 0 } }), on: { rule: "never" } },
      ],
    });
    const step = async (ms: number): Promise<void> => {
      h.remediator.tick(h.clock.advance(ms));
      await h.remediator.idle();
    };
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    await step(10 * MIN); // not verified → retry in 2 m
    await step(2 * MIN); // retry 1 runs
    await step(10 * MIN); // not verified → retry in 4 m
    await step(3 * MIN); // not yet
    expect(h.records("started")).toHaveLength(2);
    await step(1 * MIN); // retry 2 runs
    await step(10 * MIN); // not verified → escalate
    await step(5 * MIN); // the escalation is not verified either → a person
    expect(h.kinds("restart")).toEqual([
      "planned", "started", "finished", "not_verified", "retry_scheduled",
      "started", "finished", "not_verified", "retry_scheduled",
      "started", "finished", "not_verified", "escalated",
    ]);
    const scheduled = h.records("retry_scheduled").map((r) => (r.kind === "retry_scheduled" ? r.atMs - r.timeMs : 0));
    expect(scheduled).toEqual([2 * MIN, 4 * MIN]);
    expect(h.kinds("page-oncall")).toEqual(["planned", "started", "finished", "not_verified", "raised"]);
    expect(h.raised).toHaveLength(1);
    expect(h.raised[0]).toMatchObject({ rule: "remediation_failed", severity: "critical", state: "firing", tags: { action: "page-oncall" } });
    expect(h.raised[0]?.summary).toMatch(/page-oncall .* could not heal .*A person must fix it/);
  });

  it("a failing action without escalation raises remediation_failed", async () => {
    const h = harness({ enabled: true, actions: [action("mark", ["false"])] });
    h.remediator.handle([worker("1")]);
    await h.remediator.idle();
    expect(h.kinds()).toEqual(["planned", "started", "finished", "raised"]);
    expect(h.raised.map((a) => a.rule)).toEqual(["remediation_failed"]);
    // Listed beside the analyzer's alerts while firing; resolved when the alert it was healing resolves.
    expect(h.remediator.alerts().map((a) => [a.rule, a.state])).toEqual([["remediation_failed", "firing"]]);
    h.clock.advance(MIN);
    h.remediator.handle([resolvedOf(worker("1"))]);
    expect(h.raised.map((a) => [a.id, a.state])).toEqual([
      [h.raised[0]!.id, "firing"],
      [h.raised[0]!.id, "resolved"],
    ]);
    expect(h.raised[1]!.summary).toMatch(/resolved: nothing left to heal \(was: remediation failed: mark/);
    expect(h.remediator.alerts().map((a) => a.state)).toEqual(["resolved"]);
    // Kept a while after resolving, as resolved analyzer alerts are, then forgotten.
    h.clock.advance(16 * MIN);
    h.remediator.tick(h.clock.nowMs());
    expect(h.remediator.alerts()).toEqual([]);
  });
});

describe("remediator: circuit breaker", () => {
  it("opens after N failures on a target, raises, and suppresses further runs there", async () => {
    const h = harness({ enabled: true, cooldown: "1m", breaker: { failures: 3, window: "1h", open_for: "6h" }, actions: [action("mark", ["false"])] });
    for (let episode = 1; episode <= 4; episode++) {
      h.remediator.handle([worker("1", { activeSinceMs: episode })]);
      await h.remediator.idle();
      h.clock.advance(2 * MIN);
    }
    expect(h.records("finished")).toHaveLength(3);
    expect(h.records("breaker_opened")).toHaveLength(1);
    expect(h.records("suppressed").map((r) => r.kind === "suppressed" && r.reason)).toEqual(["breaker_open"]);
    expect(h.raised.filter((a) => a.rule === "remediation_breaker_open")).toHaveLength(1);
    expect(h.remediator.breakers()).toMatchObject([{ action: "mark", target: "procstat,pid=1 memory_rss", failures: 3 }]);
    expect(h.remediator.alerts().filter((a) => a.rule === "remediation_breaker_open").map((a) => a.state)).toEqual(["firing"]);
    // When the breaker closes (open_for), its alert resolves.
    h.clock.advance(6 * 60 * MIN);
    h.remediator.tick(h.clock.nowMs());
    const breakerAlerts = h.raised.filter((a) => a.rule === "remediation_breaker_open");
    expect(breakerAlerts.map((a) => a.state)).toEqual(["firing", "resolved"]);
    expect(breakerAlerts[1]!.summary).toMatch(/^circuit breaker closed: mark may run on procstat,pid=1 memory_rss again/);
    // Another target is not affected.
    h.remediator.handle([worker("2")]);
    await h.remediator.idle();
    expect(h.records("finished")).toHaveLength(4);
  });
});

describe("remediator: restart", () => {
  it("a new instance on the same journal keeps cooldowns, limits, pending approvals and breakers", async () => {
    const runs = mkdtempSync(path.join(TMP, "ansai-restart-"));
    const config = {
      enabled: true,
      cooldown: "1h",
      limits: { global: { max: 5, window: "3h" } },
      breaker: { failures: 2, window: "2h" },
      actions: [
        action("mark", mktempIn(runs), { on: { rule: "process_memory_limit", tags: { process_name: "worker" } } }),
        action("ask", mktempIn(runs), { approval: true, on: { rule: "process_memory_limit", tags: { process_name: "asker" } } }),
        action("bad", ["false"], { on: { rule: "process_memory_limit", tags: { process_name: "bad" } } }),
      ],
    };
    let h = harness(config);
    h.remediator.handle([alertFor({ process_name: "bad", pid: "3" }, { activeSinceMs: 1 })]);
    await h.remediator.idle();
    h.clock.advance(61 * MIN);
    h.remediator.handle([worker("1"), alertFor({ process_name: "asker", pid: "2" }), alertFor({ process_name: "bad", pid: "3" }, { activeSinceMs: 2 })]);
    await h.remediator.idle();
    expect(h.remediator.breakers()).toHaveLength(1);
    const pendingBefore = h.remediator.pending();
    expect(pendingBefore).toHaveLength(1);

    h = await h.restart();
    h.clock.advance(MIN);
    expect(h.remediator.pending()).toEqual(pendingBefore);
    expect(h.remediator.breakers()).toHaveLength(1);
    h.remediator.handle([worker("1", { activeSinceMs: 99 }), alertFor({ process_name: "bad", pid: "3" }, { activeSinceMs: 99 })]);
    await h.remediator.idle();
    const reasons = (): unknown[] => h.records("suppressed").map((r) => r.kind === "suppressed" && `${r.action}:${r.reason}`);
    expect(reasons()).toEqual(["mark:cooldown", "bad:breaker_open"]);
    // 3 runs so far (mark, bad, bad); the approved one is the 4th, a new target the 5th, then the global limit.
    expect(h.remediator.approve(pendingBefore[0]?.runId ?? "", "alice").outcome).toBe("started");
    await h.remediator.idle();
    h.remediator.handle([worker("10"), worker("11")]);
    await h.remediator.idle();
    expect(reasons()).toEqual(["mark:cooldown", "bad:breaker_open", "mark:rate_limit_global"]);
    expect(readdirSync(runs)).toHaveLength(3);
  });
});

describe("journal", () => {
  const entry = (timeMs: number) =>
    ({ timeMs, runId: "r", action: "a", rule: "x", alertId: "i", target: "t", dryRun: true, kind: "suppressed", reason: "dry_run", detail: "d" }) as const;
  const capture = () => {
    const warnings: Array<Record<string, unknown>> = [];
    return { warnings, log: pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) }) };
  };

  it("a torn last line: warned with file and offset, earlier records intact, new records parse", () => {
    const dir = mkdtempSync(path.join(TMP, "ansai-journal-"));
    const { warnings, log: spy } = capture();
    const first = Journal.open(dir, spy);
    first.append(entry(1));
    first.close();
    const file = path.join(dir, "journal.jsonl");
    const intactBytes = readFileSync(file).length;
    appendFileSync(file, '{"id":"torn","timeMs":2,"ki');
    const again = Journal.open(dir, spy);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ file, offsetBytes: intactBytes });
    again.append(entry(3));
    expect(again.read().map((r) => r.timeMs)).toEqual([1, 3]);
    // The torn line is fenced off on its own line; reading does not warn about it again.
    expect(readFileSync(file, "utf8").split("\n")).toHaveLength(4);
    expect(warnings).toHaveLength(1);
  });

  it("skips unparsable lines in the middle with one warning that counts them", () => {
    const dir = mkdtempSync(path.join(TMP, "ansai-journal-"));
    mkdirSync(dir, { recursive: true });
    const { warnings, log: spy } = capture();
    const j = Journal.open(dir, spy);
    j.append(entry(1));
    appendFileSync(j.file, "garbage\n{not json}\n");
    j.append(entry(2));
    expect(j.read().map((r) => r.timeMs)).toEqual([1, 2]);
    expect(warnings).toEqual([expect.objectContaining({ skippedLines: 2 })]);
  });

  it("with a limit reads from the end what a whole read would give, across chunks, multi-byte text and bad lines", () => {
    const { warnings, log: spy } = capture();
    const j = Journal.open(mkdtempSync(path.join(TMP, "ansai-journal-")), spy);
    // ~1 MB: many 64 KiB chunks, records with multi-byte text straddling their edges.
    for (let t = 1; t <= 4000; t++) {
      j.append({ ...entry(t), action: t % 3 ? "clean" : "restart", target: t % 7 ? `/var/log/café-☃-${t}` : "t", detail: "é".repeat(t % 50) });
      if (t === 2500) appendFileSync(j.file, "garbage\n\n");
    }
    const queries: JournalQuery[] = [{}, { action: "restart" }, { target: "t" }, { sinceMs: 3990 }, { action: "restart", sinceMs: 2000 }, { kind: "started" }];
    for (const q of queries) {
      const whole = j.read(q);
      for (const limit of [1, 7, 100, 1600, 10_000]) expect(j.read({ ...q, limit }), `${JSON.stringify(q)} limit ${limit}`).toEqual(whole.slice(-limit));
    }
    expect(j.read({ limit: 3 }).map((r) => r.timeMs)).toEqual([3998, 3999, 4000]);
    expect(j.read({ limit: 0 })).toEqual([]);
    // The bad line is warned about once, whether a whole read or a backward one found it.
    expect(warnings).toEqual([expect.objectContaining({ skippedLines: 1 })]);
  });

  it("filters by time, action, target, kind and run, newest last", () => {
    const j = Journal.open(mkdtempSync(path.join(TMP, "ansai-journal-")), log);
    for (let t = 1; t <= 5; t++) j.append({ ...entry(t), action: t % 2 ? "odd" : "even", runId: `r${t}` });
    j.append({ timeMs: 6, runId: "r6", action: "odd", rule: "x", alertId: "i", target: "u", dryRun: false, kind: "started", attempt: 1 });
    expect(j.read({ action: "odd" }).map((r) => r.timeMs)).toEqual([1, 3, 5, 6]);
    expect(j.read({ sinceMs: 3, limit: 2 }).map((r) => r.timeMs)).toEqual([5, 6]);
    expect(j.read({ target: "u" }).map((r) => r.timeMs)).toEqual([6]);
    expect(j.read({ kind: "started" }).map((r) => r.timeMs)).toEqual([6]);
    expect(j.read({ runId: "r2" }).map((r) => r.timeMs)).toEqual([2]);
  });
});
