import { existsSync, mkdtempSync, readFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Alert, Clock } from "../core/contracts.js";
import { createExecAction } from "./actions/exec.js";
import { Journal } from "./journal.js";
import { createRemediator, type Binding } from "./remediator.js";

const log = pino({ level: "silent" });

function alertFor(tags: Record<string, string>, overrides: Partial<Alert> = {}): Alert {
  const series = `procstat,pid=${tags.pid ?? "1"} memory_rss`;
  return {
    id: `process_memory_limit/${series}`,
    rule: "process_memory_limit",
    severity: "warning",
    state: "firing",
    series,
    tags,
    activeSinceMs: 0,
    firedAtMs: 0,
    resolvedAtMs: null,
    summary: "worker reaches its memory limit in 5 m",
    prediction: {
      rule: "process_memory_limit", model: "linear_trend", series, measurement: "procstat", tags, field: "memory_rss",
      atMs: 0, value: 100, threshold: 200, slopePerS: 1, etaMs: 100_000, etaLowMs: 90_000, etaHighMs: 110_000,
      forecastValue: 300, confidence: 0.99, samples: 20,
    },
    ...overrides,
  };
}

function setup(opts: { enabled: boolean; argv: string[]; cooldownMs?: number; maxActionsPerHour?: number; timeoutMs?: number }) {
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-rem-"));
  let now = 1_000_000;
  const clock: Clock = { nowMs: () => now };
  const journal = Journal.open(dir, log);
  const binding: Binding = {
    name: "mark",
    rule: "process_memory_limit",
    tags: { process_name: "/work.*/" },
    dryRun: false,
    action: createExecAction({ argv: opts.argv, timeoutMs: opts.timeoutMs ?? 10_000, baseEnv: process.env }),
  };
  const remediator = createRemediator({
    bindings: [binding], journal, clock, log,
    enabled: opts.enabled, cooldownMs: opts.cooldownMs ?? 60_000, maxActionsPerHour: opts.maxActionsPerHour ?? 100,
  });
  return { dir, journal, remediator, advance: (ms: number) => (now += ms) };
}

/** A killed process whose parent is gone may linger as a zombie until reaped: that counts as dead. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

const writeEnvTo = (file: string, variable: string): string[] => [
  process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(file)}, process.env.${variable} ?? "unset")`,
];

describe("remediator", () => {
  it("dry-run by default: journals what would run, on what, why and the ETA, and runs nothing", async () => {
    const marker = path.join(tmpdir(), `ansai-marker-${process.pid}-dry`);
    const { journal, remediator } = setup({ enabled: false, argv: writeEnvTo(marker, "ANSAI_TAG_PID") });
    remediator.handle([alertFor({ process_name: "worker", pid: "42" })]);
    await remediator.idle();
    expect(existsSync(marker)).toBe(false);
    const records = journal.read();
    expect(records.map((r) => r.kind)).toEqual(["planned", "suppressed"]);
    const [planned, suppressed] = records;
    expect(planned).toMatchObject({ action: "mark", dryRun: true, target: "procstat,pid=42 memory_rss", etaMs: 100_000, reason: "worker reaches its memory limit in 5 m" });
    expect(planned?.kind === "planned" && planned.command).toContain(process.execPath);
    expect(suppressed).toMatchObject({ reason: "dry_run" });
  });

  it("with remediation enabled runs the program, passing alert data only as environment", async () => {
    const marker = path.join(tmpdir(), `ansai-marker-${process.pid}-run`);
    const { journal, remediator } = setup({ enabled: true, argv: writeEnvTo(marker, "ANSAI_TAG_PID") });
    remediator.handle([alertFor({ process_name: "worker", pid: "42" })]);
    await remediator.idle();
    expect(readFileSync(marker, "utf8")).toBe("42");
    const kinds = journal.read().map((r) => r.kind);
    expect(kinds).toEqual(["planned", "started", "finished"]);
    expect(journal.read().at(-1)).toMatchObject({ ok: true, exitCode: 0 });
  });

  it("ignores alerts of other rules, unmatched tags and non-firing states", async () => {
    const marker = path.join(tmpdir(), `ansai-marker-${process.pid}-ignored`);
    const { journal, remediator } = setup({ enabled: true, argv: writeEnvTo(marker, "ANSAI_RULE") });
    remediator.handle([
      alertFor({ process_name: "worker" }, { rule: "disk_full_4h" }),
      alertFor({ process_name: "nginx" }),
      alertFor({ process_name: "worker" }, { state: "pending" }),
      alertFor({ process_name: "worker" }, { state: "resolved" }),
    ]);
    await remediator.idle();
    expect(journal.read()).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it("hostile tag values reach no shell and create no file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-hostile-"));
    const out = path.join(dir, "value");
    const { remediator } = setup({ enabled: true, argv: [...writeEnvTo(out, "ANSAI_TAG_PROCESS_NAME")] });
    const hostile = `worker$(touch ${dir}/pwned); touch ${dir}/pwned2 \`touch ${dir}/pwned3\`\n'"`;
    remediator.handle([alertFor({ process_name: hostile, pid: "7" })]);
    await remediator.idle();
    expect(readFileSync(out, "utf8")).toBe(hostile);
    for (const f of ["pwned", "pwned2", "pwned3"]) expect(existsSync(path.join(dir, f))).toBe(false);
  });

  it("cooldown and the hourly cap suppress repeats, and say why", async () => {
    const { journal, remediator, advance } = setup({ enabled: true, argv: [process.execPath, "-e", ""], cooldownMs: 60_000, maxActionsPerHour: 2 });
    const a = alertFor({ process_name: "worker", pid: "1" });
    remediator.handle([a]);
    await remediator.idle();
    advance(1_000);
    remediator.handle([a]);
    advance(60_000);
    remediator.handle([alertFor({ process_name: "worker", pid: "2" })]);
    await remediator.idle();
    advance(1_000);
    remediator.handle([alertFor({ process_name: "worker", pid: "3" })]);
    await remediator.idle();
    const suppressed = journal.read().filter((r) => r.kind === "suppressed");
    expect(suppressed.map((r) => r.kind === "suppressed" && r.reason)).toEqual(["cooldown", "rate_limit"]);
    expect(journal.read().filter((r) => r.kind === "finished")).toHaveLength(2);
  });

  it("a timeout kills the program's whole process group", async () => {
    const pidFile = path.join(tmpdir(), `ansai-grandchild-${process.pid}`);
    const script = `const c=require("child_process").spawn("sleep",["30"],{stdio:"ignore"});require("fs").writeFileSync(${JSON.stringify(pidFile)},String(c.pid));setInterval(()=>{},1000)`;
    const { journal, remediator } = setup({ enabled: true, argv: [process.execPath, "-e", script], timeoutMs: 1_000 });
    remediator.handle([alertFor({ process_name: "worker" })]);
    await remediator.idle();
    expect(journal.read().at(-1)).toMatchObject({ kind: "finished", ok: false, error: expect.stringMatching(/timed out/) });
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(grandchild)).toBe(false);
  });
});

describe("journal", () => {
  it("survives reopening and skips a torn last line", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-journal-"));
    const warnings: unknown[] = [];
    const spyLog = pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const first = Journal.open(dir, spyLog);
    first.append({ timeMs: 1, runId: "r", action: "a", rule: "x", alertId: "i", target: "t", dryRun: true, kind: "suppressed", reason: "dry_run", detail: "d" });
    first.close();
    appendFileSync(path.join(dir, "journal.jsonl"), '{"id":"torn","timeMs":2,"ki');
    const again = Journal.open(dir, spyLog);
    expect(again.read()).toHaveLength(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ line: 2 });
  });
});
