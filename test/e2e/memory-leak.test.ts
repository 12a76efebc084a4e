import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Alert } from "../../src/core/contracts.js";
import type { JournalRecord } from "../../src/remediator/journal.js";
import { createMemoryCgroup, getJson, REPO, startAnsai, tempDir, waitFor, type RunningAnsai } from "./helpers.js";

const LIMIT_BYTES = 400 * 1024 * 1024;

interface Leaker {
  proc: ChildProcess;
  marker: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A real process leaking 10 MiB/s inside a real memory cgroup limited to 400 MiB. */
function startLeaker(cgroup: ReturnType<typeof createMemoryCgroup>): Leaker {
  const marker = `ansai-leak-${process.pid}-${Date.now()}`;
  const proc = spawn(process.execPath, [path.join(REPO, "test/fixtures/leak-memory.mjs"), "10", "1500", marker], { stdio: "ignore" });
  cgroup.addPid(proc.pid!);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return { proc, marker, exit };
}

function configFor(work: string, leaker: Leaker, enabled: boolean, markerFile: string): string {
  const file = path.join(work, "ansai.yaml");
  // The action records the pid it was given (only through the environment), then stops the leaker.
  const script = `require("fs").writeFileSync(${JSON.stringify(markerFile)}, process.env.ANSAI_TAG_PID); process.kill(Number(process.env.ANSAI_TAG_PID), "SIGTERM")`;
  writeFileSync(
    file,
    [
      "version: 1",
      "interval: 1s",
      `data_dir: ${path.join(work, "data")}`,
      "api: {port: 0}",
      `collectors: {disk: {enabled: false}, procstat: {top: 0, match: [{name: leaker, pattern: ${JSON.stringify(leaker.marker)}}]}}`,
      "analyzer:",
      "  evaluation_interval: 1s",
      "  rules:",
      "    - name: process_memory_limit",
      "      measurement: procstat",
      "      field: memory_rss",
      "      threshold: {field: memory_limit}",
      "      horizon: 4h",
      "      for: 2s",
      "      window: 1h",
      "      min_samples: 6",
      '      summary: "{{tags.process_name}} (pid {{tags.pid}}) reaches its memory limit in {{eta}}"',
      "remediation:",
      `  enabled: ${enabled}`,
      "  actions:",
      "    - name: stop-leaker",
      "      on: {rule: process_memory_limit, tags: {process_name: leaker}}",
      "      type: exec",
      `      argv: ${JSON.stringify([process.execPath, "-e", script])}`,
      "      timeout: 10s",
    ].join("\n"),
  );
  return file;
}

async function firingAlert(url: string): Promise<Alert> {
  return waitFor(
    async () => (await getJson<{ alerts: Alert[] }>(`${url}/api/v1/alerts`)).alerts.find((a) => a.rule === "process_memory_limit" && a.state === "firing"),
    40_000,
    "the memory alert to fire",
  );
}

describe("a process leaking memory toward its cgroup limit (real process, real cgroup)", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function setup(): { work: string; leaker: Leaker } {
    const work = tempDir("leak");
    const cgroup = createMemoryCgroup(LIMIT_BYTES);
    const leaker = startLeaker(cgroup);
    cleanups.push(async () => {
      if (leaker.proc.exitCode === null && leaker.proc.signalCode === null) leaker.proc.kill("SIGKILL");
      await leaker.exit;
      cgroup.remove();
    });
    return { work, leaker };
  }

  it("dry-run: fires before the limit and journals the action it would take, running nothing", async () => {
    const { work, leaker } = setup();
    const marker = path.join(work, "action-ran");
    const ansai: RunningAnsai = await startAnsai(configFor(work, leaker, false, marker), work);
    cleanups.push(async () => void (await ansai.stop()));

    const alert = await firingAlert(ansai.url);
    expect(alert.tags.pid).toBe(String(leaker.proc.pid));
    expect(alert.prediction.threshold).toBe(LIMIT_BYTES);
    expect(alert.prediction.value).toBeLessThan(LIMIT_BYTES);
    expect(alert.summary).toMatch(new RegExp(`^leaker \\(pid ${leaker.proc.pid}\\) reaches its memory limit in `));

    const records = await waitFor(async () => {
      const { actions } = await getJson<{ actions: JournalRecord[] }>(`${ansai.url}/api/v1/actions`);
      return actions.length >= 2 ? actions : undefined;
    }, 10_000, "journal records");
    const planned = records.find((r) => r.kind === "planned");
    expect(planned).toMatchObject({ action: "stop-leaker", dryRun: true, rule: "process_memory_limit" });
    expect(planned?.kind === "planned" && planned.command).toContain(process.execPath);
    expect(planned?.kind === "planned" && planned.etaMs).toBeGreaterThan(Date.now() - 5_000);
    expect(records.find((r) => r.kind === "suppressed")).toMatchObject({ reason: "dry_run" });
    expect(records.some((r) => r.kind === "started")).toBe(false);
    expect(existsSync(marker)).toBe(false);
    expect(leaker.proc.exitCode).toBeNull();
    // The journal is a real file in the data dir.
    expect(readFileSync(path.join(work, "data", "journal.jsonl"), "utf8")).toContain('"kind":"planned"');
  }, 90_000);

  it("enabled: the exec action really runs, on the leaking pid, before the OOM killer", async () => {
    const { work, leaker } = setup();
    const marker = path.join(work, "action-ran");
    const ansai = await startAnsai(configFor(work, leaker, true, marker), work);
    cleanups.push(async () => void (await ansai.stop()));

    const exit = await Promise.race([leaker.exit, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the leaker was never stopped")), 60_000))]);
    // SIGTERM came from our action; the OOM killer would have sent SIGKILL.
    expect(exit.code).toBe(143);
    expect(readFileSync(marker, "utf8")).toBe(String(leaker.proc.pid));
    const { actions } = await waitFor(async () => {
      const body = await getJson<{ actions: JournalRecord[] }>(`${ansai.url}/api/v1/actions`);
      return body.actions.some((r) => r.kind === "finished") ? body : undefined;
    }, 10_000, "the finished record");
    expect(actions.map((r) => r.kind)).toEqual(["planned", "started", "finished"]);
    expect(actions.at(-1)).toMatchObject({ ok: true, exitCode: 0, dryRun: false });
  }, 90_000);
});
