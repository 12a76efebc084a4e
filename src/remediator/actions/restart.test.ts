import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Alert } from "../../core/contracts.js";
import { createRestartAction, restartActionSchema } from "./restart.js";

function alertWith(tags: Record<string, string>): Alert {
  const series = "procstat,process_name=api memory_rss";
  return {
    id: `leak/${series}`, rule: "leak", severity: "warning", state: "firing", series, tags,
    activeSinceMs: 0, firedAtMs: 0, resolvedAtMs: null, summary: "api leaks",
    prediction: {
      rule: "leak", model: "linear_trend", series, measurement: "procstat", tags, field: "memory_rss",
      atMs: 0, value: 1, threshold: 2, slopePerS: 1, etaMs: 1, etaLowMs: 1, etaHighMs: 1, forecastValue: 3, confidence: 1, samples: 9,
    },
  };
}

const noAbort = new AbortController().signal;
const restart = (input: unknown) => createRestartAction(restartActionSchema.parse(input), { baseEnv: process.env });

const dir = mkdtempSync(path.join(tmpdir(), "ansai-restart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pids this file started, killed after each test whatever happened. */
const started = new Set<number>();
afterEach(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  started.clear();
});

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Starts `node -e code ...args` and resolves once it printed "ready" (its signal handlers are set). */
function startNode(code: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", `${code}; console.log("ready")`, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  if (child.pid !== undefined) started.add(child.pid);
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", () => resolve(child));
    child.once("error", reject);
  });
}

function exitOf(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? child.exitCode);
  return new Promise((resolve) => child.once("exit", (code, sig) => resolve(sig ?? code)));
}

const SLEEPER = "setInterval(() => {}, 1000)";

describe("restart process", () => {
  it("by pattern: stops the old process, starts the new one detached with its output in log_file", async () => {
    const marker = `ansai-restart-${randomBytes(6).toString("hex")}`;
    const old = await startNode(SLEEPER, [marker]);
    const logFile = path.join(dir, "pattern.log");
    const action = restart({
      type: "restart",
      process: { pattern: `-e .* ${marker}$`, grace: "5s", start: [process.execPath, "-e", `console.log("up"); ${SLEEPER}`, marker], log_file: logFile },
    });
    expect(await action.preview?.(alertWith({}), noAbort)).toEqual([`SIGTERM pid ${old.pid}: ${process.execPath} -e ${SLEEPER}; console.log("ready") ${marker}`, expect.stringContaining("start [")]);

    const result = await action.run(alertWith({}), noAbort);
    const newPid = Number(result.details?.newPid);
    started.add(newPid);

    expect(result).toMatchObject({ ok: true, details: { oldPids: String(old.pid), killed: 0 } });
    expect(await exitOf(old)).toBe("SIGTERM");
    expect(newPid).not.toBe(old.pid);
    expect(isRunning(newPid)).toBe(true);
    expect(await readFile(`/proc/${newPid}/cmdline`, "utf8")).toContain(marker);
    await expect.poll(() => readFile(logFile, "utf8"), { timeout: 10_000 }).toBe("up\n");
    expect(action.target?.(alertWith({}))).toBe(`process:-e .* ${marker}$`);
  });

  it("by pidfile: the new pid is the one the started program wrote", async () => {
    const pidfile = path.join(dir, "svc.pid");
    const code = `require("fs").writeFileSync(process.argv[1], String(process.pid)); ${SLEEPER}`;
    const old = await startNode(code, [pidfile]);
    const action = restart({ type: "restart", process: { pidfile, grace: "5s", start: [process.execPath, "-e", code, pidfile] } });

    const result = await action.run(alertWith({}), noAbort);
    const newPid = Number(result.details?.newPid);
    started.add(newPid);

    expect(result).toMatchObject({ ok: true, details: { oldPids: String(old.pid) } });
    expect(await exitOf(old)).toBe("SIGTERM");
    expect(newPid).not.toBe(old.pid);
    expect(readFileSync(pidfile, "utf8")).toBe(String(newPid));
    expect(isRunning(newPid)).toBe(true);
  });

  it("sends SIGKILL after the grace to a process that ignores SIGTERM", async () => {
    const marker = `ansai-stubborn-${randomBytes(6).toString("hex")}`;
    const code = `process.on("SIGTERM", () => {}); ${SLEEPER}`;
    const old = await startNode(code, [marker]);
    const action = restart({ type: "restart", process: { pattern: marker, grace: "300ms", start: [process.execPath, "-e", SLEEPER, marker] } });

    const result = await action.run(alertWith({}), noAbort);
    started.add(Number(result.details?.newPid));

    expect(result).toMatchObject({ ok: true, details: { oldPids: String(old.pid), killed: 1 } });
    expect(await exitOf(old)).toBe("SIGKILL");
  });

  it("fails when no new process appears and nothing starts one", async () => {
    const marker = `ansai-nostart-${randomBytes(6).toString("hex")}`;
    const old = await startNode(SLEEPER, [marker]);
    const result = await restart({ type: "restart", process: { pattern: marker, grace: "5s", confirm_within: "200ms" } }).run(alertWith({}), noAbort);
    expect(result).toMatchObject({ ok: false, error: "no new matching process within 200ms", details: { oldPids: String(old.pid), newPid: null } });
    expect(await exitOf(old)).toBe("SIGTERM");
  });

  it.each([
    { what: "init", content: "1" },
    { what: "ANSAI itself", content: String(process.pid) },
    { what: "ANSAI's parent", content: String(process.ppid) },
    { what: "not a pid", content: "12 13" },
  ])("never signals $what named by a pidfile", async ({ content }) => {
    const pidfile = path.join(dir, "hostile.pid");
    writeFileSync(pidfile, content);
    const startedMark = path.join(dir, "started-anyway");
    const start = [process.execPath, "-e", "require('fs').writeFileSync(process.argv[1], '')", startedMark];
    const result = await restart({ type: "restart", process: { pidfile, start } }).run(alertWith({}), noAbort);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/refusing to signal it|does not hold a pid/);
    expect(existsSync(startedMark)).toBe(false);
  });

  it("a pattern never matches ANSAI's own process", async () => {
    const preview = await restart({ type: "restart", process: { pattern: "." } }).preview?.(alertWith({}), noAbort);
    expect(preview?.some((line) => line.startsWith(`SIGTERM pid ${process.pid}:`))).toBe(false);
    expect(preview?.some((line) => line.startsWith("SIGTERM pid 1:"))).toBe(false);
  });
});

describe("restart unit", () => {
  // No systemd runs here: a small script stands in for systemctl and records the argv it got.
  const record = path.join(dir, "systemctl.argv");
  const fakeSystemctl = path.join(dir, "systemctl");
  beforeAll(() => {
    writeFileSync(fakeSystemctl, `#!/bin/sh\nprintf '%s\\0' "$@" > '${record}'\n`);
    chmodSync(fakeSystemctl, 0o755);
  });
  afterEach(() => rmSync(record, { force: true }));
  const recorded = (): string[] => readFileSync(record, "utf8").split("\u0000").slice(0, -1);

  it("runs systemctl restart -- UNIT", async () => {
    const action = restart({ type: "restart", unit: "nginx.service", systemctl: fakeSystemctl });
    const result = await action.run(alertWith({}), noAbort);
    expect(result).toMatchObject({ ok: true, exitCode: 0, details: { unit: "nginx.service" } });
    expect(recorded()).toEqual(["restart", "--", "nginx.service"]);
    expect(action.target?.(alertWith({}))).toBe("unit:nginx.service");
    expect(action.describe(alertWith({}))).toBe(`restart unit: ${JSON.stringify([fakeSystemctl, "restart", "--", "nginx.service"])}`);
  });

  it("takes the unit from the alert's tag when it is allowed", async () => {
    const action = restart({ type: "restart", unit_from_tag: "systemd_unit", allow: ["api\\.service", "worker@.*\\.service"], systemctl: fakeSystemctl });
    const alert = alertWith({ systemd_unit: "worker@3.service" });
    expect(await action.run(alert, noAbort)).toMatchObject({ ok: true, details: { unit: "worker@3.service" } });
    expect(recorded()).toEqual(["restart", "--", "worker@3.service"]);
    expect(action.target?.(alert)).toBe("unit:worker@3.service");
  });

  it.each([
    { value: "$(touch pwned)", allow: ".*" },
    { value: "$(touch pwned).service", allow: ".*" },
    { value: "`touch pwned`.service", allow: ".*" },
    { value: "x.service; rm -rf /", allow: ".*" },
    { value: "; rm -rf /", allow: ".*" },
    { value: "a.service\ntouch pwned", allow: ".*" },
    { value: "a.service\n", allow: ".*" },
    { value: '"a".service', allow: ".*" },
    { value: "'a'.service", allow: ".*" },
    { value: "../x.service", allow: ".*" },
    { value: "/etc/x.service", allow: ".*" },
    { value: "--force.service", allow: ".*" },
    { value: "a b.service", allow: ".*" },
    { value: "", allow: ".*" },
    { value: "ssh.service", allow: "api\\.service" },
    { value: "xapi.service", allow: "api\\.service" },
  ])("refuses tag value $value (allow $allow) and runs nothing", async ({ value, allow }) => {
    const action = restart({ type: "restart", unit_from_tag: "systemd_unit", allow: [allow], systemctl: fakeSystemctl });
    const result = await action.run(alertWith({ systemd_unit: value }), noAbort);
    expect(result.ok).toBe(false);
    expect(result.error).toContain(allow === ".*" ? "is not a valid systemd unit name" : "matches none of allow");
    expect(result.error).toContain("nothing was run");
    expect(action.describe(alertWith({ systemd_unit: value }))).toContain("refused");
    expect(existsSync(record)).toBe(false);
    for (const place of [dir, process.cwd(), "/"]) expect(readdirSync(place)).not.toContain("pwned");
  });

  it("refuses an alert without the tag", async () => {
    const action = restart({ type: "restart", unit_from_tag: "systemd_unit", allow: [".*"], systemctl: fakeSystemctl });
    const result = await action.run(alertWith({ process_name: "api" }), noAbort);
    expect(result).toMatchObject({ ok: false, error: 'the alert has no tag "systemd_unit"; nothing was run' });
    expect(existsSync(record)).toBe(false);
  });

  it("reports systemctl's failure", async () => {
    const result = await restart({ type: "restart", unit: "nginx.service", systemctl: path.join(dir, "no-such-systemctl") }).run(alertWith({}), noAbort);
    expect(result.ok).toBe(false);
    expect(result.error).toContain("cannot start");
  });
});

describe("restart container", () => {
  const socketPath = path.join(dir, "docker.sock");
  const requests: string[] = [];
  let server: Server;
  beforeAll(async () => {
    // Answers like the Docker Engine: 204 for a known container, 404 with a JSON message otherwise.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith("/containers/web/restart")) {
        res.writeHead(204).end();
        return;
      }
      const name = decodeURIComponent(req.url?.split("/")[2] ?? "");
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: `No such container: ${name}` }));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    requests.length = 0;
  });

  it("POSTs /containers/NAME/restart?t=GRACE_S and takes 204 as success", async () => {
    const action = restart({ type: "restart", container: "web", docker_socket: socketPath, grace: "2500ms" });
    expect(await action.run(alertWith({}), noAbort)).toMatchObject({ ok: true, details: { container: "web", status: 204 } });
    expect(requests).toEqual(["POST /containers/web/restart?t=3"]);
    expect(action.target?.(alertWith({}))).toBe("container:web");
  });

  it("gives Docker's message for an error status", async () => {
    const result = await restart({ type: "restart", container: "gone", docker_socket: socketPath }).run(alertWith({}), noAbort);
    expect(result).toMatchObject({ ok: false, error: "Docker answered 404: No such container: gone", details: { status: 404 } });
    expect(requests).toEqual(["POST /containers/gone/restart?t=10"]);
  });

  it("takes an allowed container from the tag; refuses a hostile one without a request", async () => {
    const action = restart({ type: "restart", container_from_tag: "container_id", allow: ["web", "\\.\\..*"], docker_socket: socketPath });
    expect(await action.run(alertWith({ container_id: "web" }), noAbort)).toMatchObject({ ok: true });
    for (const value of ["../../v1.41/containers/x/kill", "web?t=0", "web/../x", "..", "other"]) {
      expect((await action.run(alertWith({ container_id: value }), noAbort)).ok).toBe(false);
    }
    expect(requests).toEqual(["POST /containers/web/restart?t=10"]);
  });

  it("says when Docker cannot be reached", async () => {
    const result = await restart({ type: "restart", container: "web", docker_socket: path.join(dir, "absent.sock") }).run(alertWith({}), noAbort);
    expect(result.ok).toBe(false);
    expect(result.error).toContain(`cannot reach Docker at ${path.join(dir, "absent.sock")}`);
  });
});

describe("restartActionSchema", () => {
  it.each([
    { input: { type: "restart" }, message: "set exactly one of process, unit" },
    { input: { type: "restart", unit: "a.service", container: "web" }, message: "set exactly one of process, unit" },
    { input: { type: "restart", unit_from_tag: "systemd_unit" }, message: "needs allow" },
    { input: { type: "restart", container_from_tag: "container_id" }, message: "needs allow" },
    { input: { type: "restart", unit: "a.service", allow: ["a"] }, message: "allow applies only with" },
    { input: { type: "restart", unit: "nginx" }, message: "full systemd unit name" },
    { input: { type: "restart", process: { pattern: "x", pidfile: "/run/x.pid" } }, message: "exactly one of pattern and pidfile" },
    { input: { type: "restart", process: { pidfile: "run/x.pid" } }, message: "absolute path" },
    { input: { type: "restart", process: { pattern: "(" } }, message: "valid regular expression" },
    { input: { type: "restart", process: { pattern: "x", signal: "SIGSTOP" } }, message: "Invalid option" },
    { input: { type: "restart", unit: "a.service", name: "common keys belong to the wrapper" }, message: "Unrecognized key" },
  ])("rejects $input", ({ input, message }) => {
    const parsed = restartActionSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join("\n")).toContain(message);
  });

  it("fills defaults", () => {
    expect(restartActionSchema.parse({ type: "restart", process: { pattern: "x" } })).toEqual({
      type: "restart",
      process: { pattern: "x", signal: "SIGTERM", grace: "10s", confirm_within: "10s" },
      systemctl: "systemctl",
      docker_socket: "/var/run/docker.sock",
      grace: "10s",
      timeout: "2m",
    });
  });

  it("keeps its checks when the common keys are added with extend (not when only .shape is taken)", () => {
    const wrapped = restartActionSchema.extend({ name: z.string() });
    expect(wrapped.safeParse({ type: "restart", name: "r", unit_from_tag: "systemd_unit" }).error?.issues[0]?.message).toContain("needs allow");
    expect(wrapped.parse({ type: "restart", name: "r", unit: "a.service" }).name).toBe("r");
  });
});
