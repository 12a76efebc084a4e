import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statfsSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Prediction } from "../../src/core/contracts.js";
import type { JournalRecord } from "../../src/remediator/journal.js";
import { requireDebianBinary } from "../support/debian.js";
import { createTestCa } from "../support/openssl-pki.js";
import { createMemoryCgroup, getJson, mountTmpfs, REPO, tempDir, waitFor } from "./helpers.js";
import { startCase, waitForJournal } from "./remediation-helpers.js";

// Healing for real, through the built CLI with remediation.enabled: a leaking worker restarted
// inside its memory cgroup before the OOM killer acts, a filling tmpfs cleaned of old logs, and a
// certificate renewed minutes before it expires. Each case checks the world, then the journal.

const DAY_MS = 86_400_000;
const LEAKER = path.join(REPO, "test/support/cgroup-leaker.mjs");
const LOG_WRITER = path.join(REPO, "test/support/log-writer.mjs");

type Finished = Extract<JournalRecord, { kind: "finished" }>;

/** OOM kills in a cgroup: memory.events (v2) or memory.oom_control (v1) both have an "oom_kill N" line. */
function oomKills(cgroupDir: string): number {
  const file = existsSync(path.join(cgroupDir, "memory.events")) ? "memory.events" : "memory.oom_control";
  const line = readFileSync(path.join(cgroupDir, file), "utf8")
    .split("\n")
    .find((l) => l.startsWith("oom_kill "));
  if (line === undefined) throw new Error(`${cgroupDir}/${file} has no oom_kill line: this kernel is too old for this test`);
  return Number(line.split(" ")[1]);
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
};

/** One run's records, in journal order. */
const runOf = (records: readonly JournalRecord[], runId: string): JournalRecord[] => records.filter((r) => r.runId === runId);

describe("healing for real (built CLI, remediation enabled)", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("restarts a worker leaking toward its cgroup memory limit before the OOM killer acts, and verifies it", async () => {
    const work = tempDir("heal-leak");
    const limitBytes = 400 * 1024 * 1024;
    const cgroup = createMemoryCgroup(limitBytes);
    const pidfile = path.join(work, "worker.pid");
    // The worker leaks 10 MiB/s (its limit is ~35 s away); the restarted one starts small and leaks slower.
    const first = spawn(process.execPath, [LEAKER, cgroup.dir, pidfile, "10", "1500"], { stdio: "ignore" });
    const firstExit = exited(first);
    const firstPid = first.pid!;
    cleanups.push(async () => {
      const pids = [firstPid, Number(existsSync(pidfile) ? readFileSync(pidfile, "utf8") : 0)].filter((p) => p > 0 && isAlive(p));
      for (const p of pids) process.kill(p, "SIGKILL");
      await waitFor(() => (pids.some(isAlive) ? undefined : true), 10_000, "the workers to exit");
      // A killed worker stays a member until its parent (ANSAI, or init once ANSAI is gone) reaps it.
      const procs = path.join(cgroup.dir, "cgroup.procs");
      await waitFor(() => (readFileSync(procs, "utf8").trim() === "" ? true : undefined), 10_000, "the cgroup to empty").catch(() => undefined);
      cgroup.remove();
    });
    await waitFor(() => (existsSync(pidfile) && readFileSync(pidfile, "utf8").trim() === String(firstPid) ? true : undefined), 10_000, "the worker's pid file");

    const ansai = await startCase(work, {
      collectors: { procstat: { top: 0, match: [{ name: "worker", pidfile }] } },
      rules: [
        {
          name: "worker_memory_limit",
          measurement: "procstat",
          field: "memory_rss",
          threshold: { field: "memory_limit" },
          horizon: "4h",
          for: "2s",
          // Short: the old pid's series stops at the restart, and its alert resolves once it has aged out.
          window: "8s",
          min_samples: 5,
        },
      ],
      remediation: {
        enabled: true,
        actions: [
          {
            name: "restart-worker",
            on: { rule: "worker_memory_limit", tags: { process_name: "worker" } },
            type: "restart",
            process: { pidfile, signal: "SIGTERM", grace: "5s", start: [process.execPath, LEAKER, cgroup.dir, pidfile, "4", "1500"], confirm_within: "10s" },
            verify: { within: "40s", retries: 0 },
          },
        ],
      },
    });
    cleanups.push(async () => void (await ansai.stop()));

    const finished = await waitForJournal(ansai.url, "the restart to finish", 60_000, (rs) => rs.find((r): r is Finished => r.kind === "finished"));
    expect(finished, finished.error).toMatchObject({ ok: true, action: "restart-worker", target: `process:${pidfile}`, dryRun: false });
    // SIGTERM from the action (exit 143), not the OOM killer's SIGKILL.
    expect(await firstExit).toEqual({ code: 143, signal: null });
    const newPid = Number(finished.details?.newPid);
    expect(finished.details?.oldPids).toBe(String(firstPid));
    expect(newPid).toBeGreaterThan(0);
    expect(newPid).not.toBe(firstPid);
    expect(isAlive(newPid)).toBe(true);
    await waitFor(() => (readFileSync(pidfile, "utf8").trim() === String(newPid) ? true : undefined), 5_000, "the new pid in the pid file");
    // The new worker runs inside the same limited cgroup.
    expect(readFileSync(path.join(cgroup.dir, "cgroup.procs"), "utf8").split("\n")).toContain(String(newPid));

    // The old pid's alert resolves (its series ends; the new worker is small): the run is verified.
    const run = await waitForJournal(ansai.url, "the restart to be verified", 45_000, (rs) => {
      const mine = runOf(rs, finished.runId);
      return mine.some((r) => r.kind === "verified" || r.kind === "not_verified") ? mine : undefined;
    });
    expect(run.map((r) => r.kind)).toEqual(["planned", "started", "finished", "verified"]);
    const planned = run[0];
    expect(planned?.kind === "planned" && planned.command).toContain(`pidfile ${pidfile}`);
    expect(planned?.kind === "planned" && planned.etaMs).toBeGreaterThan(run[1]!.timeMs);
    expect(oomKills(cgroup.dir)).toBe(0);
    expect(isAlive(newPid)).toBe(true);
    console.log(`leak: restarted pid ${firstPid} → ${newPid} in ${finished.durationMs} ms; verified ${((run[3]!.timeMs - run[2]!.timeMs) / 1000).toFixed(1)} s later; oom_kill 0`);
  }, 120_000);

  it("cleans old logs off a filling tmpfs before it is full: only allow-listed files go, symlinks out of the root are left alone", async () => {
    const work = tempDir("heal-disk");
    const mnt = path.join(work, "mnt");
    const unmount = mountTmpfs(mnt, 40);
    cleanups.push(unmount);
    const logs = path.join(mnt, "logs");
    const other = path.join(mnt, "other");
    mkdirSync(logs, { recursive: true });
    mkdirSync(other, { recursive: true });
    const oldSeconds = Date.now() / 1000 - 3600;
    const seed = (file: string, bytes: number): string => {
      writeFileSync(file, Buffer.alloc(bytes, "o"));
      utimesSync(file, oldSeconds, oldSeconds);
      return file;
    };
    const oldLog = seed(path.join(logs, "old.log"), 1 << 20);
    const keep = seed(path.join(logs, "keep.txt"), 1 << 20); // outside the globs
    const outsideRoot = seed(path.join(other, "old.log"), 1 << 20); // matches the glob, outside roots
    const target = seed(path.join(other, "target.log"), 1 << 20); // a symlink in the root points here
    const link = path.join(logs, "link.log");
    symlinkSync(target, link);
    const dirLink = path.join(logs, "elsewhere");
    symlinkSync(other, dirLink);

    const ansai = await startCase(work, {
      collectors: { disk: { mounts: [mnt] } },
      rules: [{ name: "logs_disk_full", measurement: "disk", field: "used_percent", tags: { path: mnt }, threshold: 95, horizon: "10m", for: "2s", window: "20s", min_samples: 4 }],
      remediation: {
        enabled: true,
        actions: [{ name: "clean-logs", on: { rule: "logs_disk_full", tags: { path: mnt } }, type: "cleanup", roots: [logs], paths: ["**/*.log"], older_than: "2s" }],
      },
    });
    cleanups.push(async () => void (await ansai.stop()));

    // 64 KiB every 50 ms (1.25 MiB/s) on a 40 MiB tmpfs already holding 4 MiB: full in under 30 s.
    const writer = spawn(process.execPath, [LOG_WRITER, logs, String(64 * 1024), "50", "10"], { stdio: ["ignore", "pipe", "inherit"] });
    let writerOut = "";
    writer.stdout.on("data", (d: Buffer) => (writerOut += d.toString()));
    const writerExit = exited(writer);
    cleanups.push(async () => {
      if (writer.exitCode === null) writer.kill("SIGTERM");
      await writerExit;
    });

    const finished = await Promise.race([
      waitForJournal(ansai.url, "the cleanup to finish", 60_000, (rs) => rs.find((r): r is Finished => r.kind === "finished")),
      writerExit.then(() => Promise.reject(new Error(`the writer stopped before any cleanup: ${writerOut}`))),
    ]);
    const space = statfsSync(mnt);
    writer.kill("SIGTERM");
    expect(await writerExit).toEqual({ code: 0, signal: null });
    expect(writerOut, "the tmpfs filled up before the cleanup").not.toContain("FULL");

    expect(finished, finished.error).toMatchObject({ ok: true, action: "clean-logs", target: `path:${logs}`, dryRun: false });
    const details = finished.details ?? {};
    expect(details.filesDeleted).toBeGreaterThan(1);
    expect(details.filesFailed).toBe(0);
    expect(details.bytesFreed).toBeGreaterThan(1 << 20);
    expect(space.bfree / space.blocks, "free share of the tmpfs right after the cleanup").toBeGreaterThan(0.2);
    // What went: the old log and written logs in the root and below it.
    expect(existsSync(oldLog)).toBe(false);
    expect(finished.outputTail).toContain(`deleted ${JSON.stringify(oldLog)}`);
    expect(finished.outputTail).toMatch(/deleted ".*\/logs\/sub\/app-\d+\.log"/);
    // What stayed: outside the globs, outside the roots, the symlinks, and the symlink's target.
    expect(existsSync(keep)).toBe(true);
    expect(existsSync(outsideRoot)).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    expect(lstatSync(dirLink).isSymbolicLink()).toBe(true);
    expect(readFileSync(target).length).toBe(1 << 20);
    expect(finished.outputTail).not.toContain("other/");
    console.log(`disk: ${details.filesDeleted} files, ${(Number(details.bytesFreed) / 1048576).toFixed(1)} MiB freed in ${finished.durationMs} ms, before the tmpfs was full`);
  }, 120_000);

  it("renews a certificate expiring within minutes and sees the new expiry", async () => {
    const openssl = requireDebianBinary("openssl", "openssl");
    const work = tempDir("heal-cert");
    const ca = createTestCa(work, "ANSAI E2E CA");
    const nowMs = Date.now();
    const issued = ca.issue({ cn: "soon.e2e.test", notBeforeMs: nowMs - 3_600_000, notAfterMs: nowMs + 5 * 60_000 });
    const cert = path.join(work, "site.pem");
    copyFileSync(issued.certPath, cert);
    const renew = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${cert}.key`, "-out", cert, "-days", "90", "-subj", "/CN=soon.e2e.test"];

    const ansai = await startCase(work, {
      collectors: { x509_cert: { enabled: true, sources: [cert] } },
      // window: a certificate series not sampled for 5 s (the old serial after renewal) has no prediction left.
      rules: [{ name: "cert_expires_soon", measurement: "x509_cert", field: "expiry", model: "cert_expiry", threshold: 0, horizon: "1h", for: "0s", window: "5s", min_samples: 3 }],
      remediation: {
        enabled: true,
        actions: [
          {
            name: "renew-site",
            on: { rule: "cert_expires_soon", tags: { common_name: "soon.e2e.test" } },
            type: "renew_certificate",
            argv: renew,
            cert,
            min_valid_for: "30d",
            timeout: "30s",
            verify: { within: "30s", retries: 0 },
          },
        ],
      },
    });
    cleanups.push(async () => void (await ansai.stop()));

    const run = await waitForJournal(ansai.url, "the renewal to be verified", 60_000, (rs) => {
      const done = rs.find((r) => r.kind === "verified" || r.kind === "not_verified");
      return done === undefined ? undefined : runOf(rs, done.runId);
    });
    expect(run.map((r) => r.kind)).toEqual(["planned", "started", "finished", "verified"]);
    const finished = run[2] as Finished;
    expect(finished, finished.error).toMatchObject({ ok: true, exitCode: 0, target: `cert:${cert}` });
    expect(finished.details?.oldExpiryMs).toBe(issued.notAfterMs);
    const newExpiryMs = Number(finished.details?.newExpiryMs);
    expect(newExpiryMs).toBeGreaterThan(Date.now() + 80 * DAY_MS);
    // The planned record came before the old certificate expired.
    expect(run[0]!.timeMs).toBeLessThan(issued.notAfterMs);

    // The collector now sees the new certificate: its expiry field is more than 80 days.
    const { predictions } = await waitFor(async () => {
      const body = await getJson<{ predictions: Prediction[] }>(`${ansai.url}/api/v1/predictions?rule=cert_expires_soon`);
      return body.predictions.some((p) => p.value > 80 * 86_400) ? body : undefined;
    }, 15_000, "an x509_cert expiry above 80 days");
    const fresh = predictions.find((p) => p.value > 80 * 86_400)!;
    expect(fresh.tags.source).toContain(cert);
    expect(fresh.value).toBeLessThanOrEqual(90 * 86_400);
    expect(spawnSync(openssl, ["x509", "-in", cert, "-noout", "-checkend", String(80 * 86_400)]).status).toBe(0);
    console.log(`cert: renewed ${((issued.notAfterMs - finished.timeMs) / 1000).toFixed(0)} s before expiry; new expiry in ${(fresh.value / 86_400).toFixed(1)} days`);
  }, 120_000);
});
