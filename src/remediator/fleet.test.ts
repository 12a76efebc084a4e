import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Alert, Clock } from "../core/contracts.js";
import { remediationConfigSchema } from "./config.js";
import { agentDirectory, createFleetExecutor, localExecutor, type AgentLike } from "./fleet.js";
import { JobQueue } from "./jobs.js";
import { Journal, type JournalRecord } from "./journal.js";
import { createRemediator, type Remediator } from "./remediator.js";
import { testAlert } from "./test-alert.js";

const log = pino({ level: "silent" });
const MIN = 60_000;
const TMP = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();

const AGENTS: AgentLike[] = [
  { name: "web-01", host: "web-01", labels: { group: "web" } },
  { name: "web-02", host: "web-02", labels: { group: "web" } },
  { name: "db-01", host: "db-01", labels: { group: "db" } },
];

function simulatedClock(): Clock & { advance(ms: number): number } {
  let now = Date.UTC(2024, 4, 1, 12, 0);
  return { nowMs: () => now, advance: (ms) => (now += ms) };
}

interface Fleet {
  remediator: Remediator;
  jobs: JobQueue;
  journal: Journal;
  clock: ReturnType<typeof simulatedClock>;
  raised: Alert[];
  /** Journal records of one host's runs (the target names the pid, the pid names the host). */
  of(host: string): JournalRecord[];
  /** What the test, playing the agent, reports for the one job waiting for `agent`. */
  reportFor(agent: string, ok: boolean): Promise<void>;
}

/** The remediator with the fleet executor: the test plays the agents through the real job queue. */
/** `runHere`: every run executes in this process (storm tests: hosts without agents). */
function fleet(remediation: Record<string, unknown>, runHere = false): Fleet {
  const dir = mkdtempSync(path.join(TMP, "ansai-fleet-"));
  const clock = simulatedClock();
  const config = remediationConfigSchema.parse(remediation);
  const journal = Journal.open(dir, log);
  const jobs = new JobQueue({ clock, log, timeoutMs: 5 * MIN });
  const directory = agentDirectory(() => AGENTS, config.fleet.group_label);
  const raised: Alert[] = [];
  const remediator = createRemediator({
    config, journal, clock, log, env: process.env, dataDir: dir, host: "server", raise: (a) => raised.push(a),
    executor: runHere ? localExecutor : createFleetExecutor({ jobs, agents: directory, host: "server" }),
    groupOf: directory.groupOf,
  });
  return {
    remediator, jobs, journal, clock, raised,
    of: (host) => journal.read().filter((r) => r.alertId === alertOn(host).id),
    async reportFor(agent, ok) {
      const [job] = await jobs.poll(agent, 0);
      if (job === undefined) throw new Error(`no job waits for ${agent}`);
      expect(jobs.ack(agent, job.id)).toBe("acked");
      expect(jobs.report(agent, job.id, { ok, exitCode: ok ? 0 : 1, durationMs: 5, outputTail: "" })).toBe("accepted");
      await settle();
    },
  };
}

const PIDS: Record<string, string> = { "web-01": "101", "web-02": "102", "db-01": "201", "server": "1" };
const alertOn = (host: string, extra: Partial<Alert> = {}): Alert => testAlert({ host, pid: PIDS[host] ?? host, process_name: "worker" }, extra);
const resolvedOn = (host: string, atMs: number): Alert => alertOn(host, { state: "resolved", resolvedAtMs: atMs });

const heal = (extra: Record<string, unknown> = {}) => ({
  name: "heal",
  on: { rule: "process_memory_limit", tags: { process_name: "worker" } },
  type: "exec",
  argv: ["true"],
  verify: { within: "10m", retries: 0 },
  ...extra,
});
const enabled = (extra: Record<string, unknown> = {}) => ({ enabled: true, cooldown: "0s", max_concurrent: 10, actions: [heal()], ...extra });
/** Lets async steps (approval previews, job results) land; remote runs keep `idle()` from resolving. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
const kinds = (records: readonly JournalRecord[]): string[] => records.map((r) => (r.kind === "queued" || r.kind === "suppressed" ? `${r.kind}:${r.reason}` : r.kind));

describe("coordinated healing: one host of a group at a time", () => {
  it("holds the second host of a group until the first one's run is verified, while other groups go", async () => {
    const f = fleet(enabled());
    f.remediator.handle([alertOn("web-01"), alertOn("web-02"), alertOn("db-01")]);
    await settle();
    expect(kinds(f.of("web-01"))).toEqual(["planned", "started"]);
    expect(kinds(f.of("web-02"))).toEqual(["planned", "queued:group_busy"]);
    expect(kinds(f.of("db-01"))).toEqual(["planned", "started"]);
    expect(f.of("web-01").find((r) => r.kind === "started")).toMatchObject({ agent: "web-01" });
    expect(f.jobs.waiting("web-02")).toEqual([]);

    // web-01 finished but is not verified yet: web-02 still waits.
    await f.reportFor("web-01", true);
    f.clock.advance(MIN);
    f.remediator.tick(f.clock.nowMs());
    expect(kinds(f.of("web-02"))).toEqual(["planned", "queued:group_busy"]);

    // web-01's alert resolves: verified, and web-02 goes.
    f.remediator.handle([resolvedOn("web-01", f.clock.nowMs())]);
    expect(kinds(f.of("web-01"))).toEqual(["planned", "started", "finished", "verified"]);
    expect(kinds(f.of("web-02"))).toEqual(["planned", "queued:group_busy", "started"]);
    expect(f.jobs.waiting("web-02").map((j) => j.action)).toEqual(["heal"]);
    const web01Verified = f.of("web-01").find((r) => r.kind === "verified")?.timeMs ?? 0;
    expect(f.of("web-02").find((r) => r.kind === "started")?.timeMs).toBeGreaterThanOrEqual(web01Verified);
  });

  it("lets the next host go when the first one's run fails for good", async () => {
    const f = fleet(enabled());
    f.remediator.handle([alertOn("web-01"), alertOn("web-02")]);
    await f.reportFor("web-01", false);
    expect(kinds(f.of("web-01"))).toEqual(["planned", "started", "finished", "raised"]);
    expect(kinds(f.of("web-02"))).toEqual(["planned", "queued:group_busy", "started"]);
  });

  it("holds the slot through a retry of a run not verified", async () => {
    const f = fleet(enabled({ actions: [heal({ verify: { within: "5m", retries: 1, backoff: "1m" } })] }));
    f.remediator.handle([alertOn("web-01"), alertOn("web-02")]);
    await f.reportFor("web-01", true);
    f.clock.advance(6 * MIN);
    f.remediator.tick(f.clock.nowMs());
    expect(kinds(f.of("web-01")).slice(-2)).toEqual(["not_verified", "retry_scheduled"]);
    f.clock.advance(2 * MIN);
    f.remediator.tick(f.clock.nowMs());
    expect(kinds(f.of("web-01")).at(-1)).toBe("started");
    expect(kinds(f.of("web-02"))).toEqual(["planned", "queued:group_busy"]);
  });

  it.each([
    { parallel: 1, started: 1 },
    { parallel: 2, started: 2 },
  ])("max_parallel_per_group: $parallel starts $started of two hosts at once", async ({ parallel, started }) => {
    const f = fleet(enabled({ fleet: { max_parallel_per_group: parallel } }));
    f.remediator.handle([alertOn("web-01"), alertOn("web-02")]);
    await settle();
    expect(f.journal.read({ kind: "started" })).toHaveLength(started);
  });
});

describe("storms: many hosts firing at once ask a person", () => {
  const hosts = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `host-${String(i + from).padStart(2, "0")}`);

  it("pauses automatic actions, raises remediation_storm once, and resumes on request", async () => {
    const f = fleet(enabled({ fleet: { storm: { hosts: 3, window: "5m" } } }), true);
    f.remediator.handle(hosts(5).map((h) => alertOn(h)));
    await f.remediator.idle();
    // Two hosts before the storm ran; from the third on, each run waits for a person.
    expect(f.journal.read({ kind: "started" })).toHaveLength(2);
    expect(f.journal.read({ kind: "storm_started" })).toHaveLength(1);
    expect(f.journal.read({ kind: "suppressed" }).map((r) => (r.kind === "suppressed" ? r.reason : ""))).toEqual(["storm", "storm", "storm"]);
    expect(f.remediator.pending()).toHaveLength(3);
    expect(f.raised.map((a) => [a.rule, a.state])).toEqual([["remediation_storm", "firing"]]);
    expect(f.remediator.storm()?.hosts).toHaveLength(3);

    // A person approves one: it runs despite the storm.
    const [first] = f.remediator.pending();
    expect(f.remediator.approve(first?.runId ?? "", "ops").outcome).toBe("started");

    f.remediator.handle([alertOn("host-09")]);
    await settle();
    expect(f.remediator.pending()).toHaveLength(3);
    expect(f.raised).toHaveLength(1);

    expect(f.remediator.resume("ops")).toBe(true);
    expect(f.remediator.resume("ops")).toBe(false);
    expect(f.journal.read({ kind: "storm_ended" })).toMatchObject([{ by: "ops" }]);
    expect(f.raised.map((a) => [a.rule, a.state])).toEqual([["remediation_storm", "firing"], ["remediation_storm", "resolved"]]);
    f.remediator.handle([alertOn("host-20")]);
    await f.remediator.idle();
    expect(f.journal.read({ kind: "started" })).toHaveLength(4);
  });

  it("ends by itself once fewer hosts fire for a whole window", () => {
    const f = fleet(enabled({ fleet: { storm: { hosts: 3, window: "5m" } } }), true);
    f.remediator.handle(hosts(3).map((h) => alertOn(h)));
    expect(f.remediator.storm()).toBeDefined();
    f.clock.advance(6 * MIN);
    f.remediator.tick(f.clock.nowMs());
    expect(f.remediator.storm()).toBeDefined();
    f.clock.advance(5 * MIN);
    f.remediator.tick(f.clock.nowMs());
    expect(f.remediator.storm()).toBeUndefined();
    expect(f.journal.read({ kind: "storm_ended" })).toMatchObject([{ by: "subsided" }]);
  });

  it("counts hosts, not alerts: many alerts of two hosts are no storm", () => {
    const f = fleet(enabled({ actions: [], fleet: { storm: { hosts: 3, window: "5m" } } }), true);
    const many = Array.from({ length: 50 }, (_, i) => testAlert({ host: i % 2 === 0 ? "web-01" : "web-02", pid: String(i) }));
    f.remediator.handle(many);
    expect(f.remediator.storm()).toBeUndefined();
  });
});

describe("jobs for agents", () => {
  it("fails a job no agent picks up within remediation.fleet.job_timeout, naming the agent", async () => {
    const f = fleet(enabled({ actions: [heal({ verify: undefined })] }));
    f.remediator.handle([alertOn("web-02")]);
    f.clock.advance(5 * MIN - 1);
    f.remediator.tick(f.clock.nowMs());
    await settle();
    expect(kinds(f.of("web-02"))).toEqual(["planned", "started"]);
    f.clock.advance(1);
    f.remediator.tick(f.clock.nowMs());
    await f.remediator.idle();
    const finished = f.of("web-02").find((r) => r.kind === "finished");
    expect(finished).toMatchObject({ ok: false });
    expect(finished?.kind === "finished" && finished.error).toMatch(/^agent web-02 did not report within 5 m .*; is it running\? It never picked the job up/);
  });

  it("fails a job taken but never reported, and takes no result after that", async () => {
    const f = fleet(enabled({ actions: [heal({ verify: undefined })] }));
    f.remediator.handle([alertOn("web-01")]);
    const [job] = await f.jobs.poll("web-01", 0);
    expect(f.jobs.ack("web-01", job?.id ?? "")).toBe("acked");
    f.clock.advance(5 * MIN);
    f.remediator.tick(f.clock.nowMs());
    await f.remediator.idle();
    const finished = f.of("web-01").find((r) => r.kind === "finished");
    expect(finished?.kind === "finished" && finished.error).toMatch(/agent web-01 did not report .*It took the job 5 m ago/);
    expect(f.jobs.report("web-01", job?.id ?? "", { ok: true, exitCode: 0, durationMs: 1, outputTail: "" })).toBe("duplicate");
    expect(f.journal.read({ kind: "finished" })).toHaveLength(1);
  });

  it("hands a job out until it is acknowledged, then never again; the first result counts", async () => {
    const clock = simulatedClock();
    const jobs = new JobQueue({ clock, log, timeoutMs: MIN });
    const ctl = new AbortController();
    const result = jobs.submit("web-01", { runId: "r1", action: "heal", alert: alertOn("web-01"), attempt: 1 }, ctl.signal);
    const [first] = await jobs.poll("web-01", 0);
    expect(first?.id).toBe("r1.1");
    expect(await jobs.poll("web-01", 0)).toHaveLength(1);
    expect(jobs.ack("web-02", "r1.1")).toBe("unknown");
    expect(jobs.ack("web-01", "r1.1")).toBe("acked");
    expect(jobs.ack("web-01", "r1.1")).toBe("taken");
    expect(await jobs.poll("web-01", 0)).toEqual([]);
    expect(jobs.report("web-02", "r1.1", { ok: true, exitCode: 0, durationMs: 1, outputTail: "" })).toBe("unknown");
    expect(jobs.report("web-01", "r1.1", { ok: true, exitCode: 0, durationMs: 1, outputTail: "first" })).toBe("accepted");
    expect(jobs.report("web-01", "r1.1", { ok: false, exitCode: 1, durationMs: 1, outputTail: "second" })).toBe("duplicate");
    expect(await result).toMatchObject({ ok: true, outputTail: "first", details: { agent: "web-01" } });
    const again = await jobs.submit("web-01", { runId: "r1", action: "heal", alert: alertOn("web-01"), attempt: 1 }, ctl.signal);
    expect(again).toMatchObject({ ok: false, error: expect.stringMatching(/already submitted/) });
  });

  it("answers a long poll as soon as a job arrives", async () => {
    const jobs = new JobQueue({ clock: simulatedClock(), log, timeoutMs: MIN });
    const polled = jobs.poll("web-01", 30_000);
    void jobs.submit("web-01", { runId: "r2", action: "heal", alert: alertOn("web-01"), attempt: 1 }, new AbortController().signal);
    expect((await polled).map((j) => j.id)).toEqual(["r2.1"]);
    jobs.close();
  });

  it("runs alerts of the server's own host here, and refuses local actions for a host no agent serves", async () => {
    const f = fleet(enabled({ actions: [heal({ verify: undefined })] }));
    f.remediator.handle([alertOn("server"), alertOn("elsewhere")]);
    await f.remediator.idle();
    expect(f.jobs.list()).toEqual([]);
    expect(f.journal.read({ kind: "finished" }).map((r) => r.kind === "finished" && r.ok)).toEqual([true]);
    expect(f.journal.read({ kind: "started" }).every((r) => r.kind === "started" && r.agent === undefined)).toBe(true);
    const refused = f.journal.read({ kind: "suppressed" });
    expect(refused).toEqual([expect.objectContaining({ reason: "not_allowed", detail: expect.stringMatching(/^no agent serves host elsewhere/) })]);
  });
});
