import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { open, readdir, readFile, type FileHandle } from "node:fs/promises";
import { request } from "node:http";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { duration, durationMs, regex } from "../../config/zod-types.js";
import type { Action, ActionResult, Alert } from "../../core/contracts.js";
import { programEnv, runProgram } from "./exec.js";

/**
 * Unit names a tag may name: plain characters and one of the restartable suffixes. Rules out
 * paths (`../x.service`), options (`-x`), whitespace, quotes and shell syntax.
 */
const UNIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,250}\.(service|socket|timer|target|mount)$/;
/** Docker's own rule for container names; ids (hex) fit it too. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
const POLL_MS = 50;
/** After SIGKILL the kernel needs only moments; longer means an uninterruptible process. */
const KILL_WAIT_MS = 5_000;
const DOCKER_BODY_BYTES = 65_536;

const absolutePath = z.string().refine(isAbsolute, { message: "expected an absolute path" });

const processSchema = z
  .strictObject({
    pattern: regex.optional().describe("Regular expression matched against the whole command line (arguments joined by spaces), as procstat's `pattern`."),
    pidfile: absolutePath.optional().describe("Absolute path of a file holding the process's pid."),
    signal: z.enum(STOP_SIGNALS).default("SIGTERM").describe("Signal that asks the process to stop."),
    grace: duration.default("10s").describe("How long to wait for the process to exit after `signal`; what is left then gets SIGKILL."),
    start: z
      .array(z.string())
      .min(1)
      .refine((argv) => argv[0] !== "", { message: "the program (first item) must not be empty" })
      .optional()
      .describe("Program and arguments that start the process again: no shell, detached in its own session, cwd /. Without it a supervisor is expected to start it."),
    log_file: absolutePath.optional().describe("File the started program's stdout and stderr are appended to; without it they are discarded."),
    confirm_within: duration.default("10s").describe("How long to wait for a new matching process after the stop (and start); the run fails if none appears."),
  })
  .superRefine((p, ctx) => {
    if ((p.pattern === undefined) === (p.pidfile === undefined)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of pattern and pidfile" });
    }
  });

/** The `restart` action's own keys; the remediator's config adds the common ones (name, on, dry_run…). */
export const restartActionSchema = z
  .strictObject({
    type: z.literal("restart"),
    process: processSchema.optional().describe("Restart a process found by command line or pidfile: signal, wait, SIGKILL, start, confirm."),
    unit: z
      .string()
      .regex(UNIT_NAME, { message: 'expected a full systemd unit name such as "nginx.service"' })
      .optional()
      .describe("systemd unit to restart with `systemctl restart -- UNIT`."),
    unit_from_tag: z
      .string()
      .min(1)
      .optional()
      .describe("Alert tag naming the unit to restart, e.g. `systemd_unit` (procstat sets it); needs `allow`."),
    container: z
      .string()
      .regex(CONTAINER_NAME, { message: "expected a Docker container name or id" })
      .optional()
      .describe("Docker container (name or id) to restart through the Engine API."),
    container_from_tag: z
      .string()
      .min(1)
      .optional()
      .describe("Alert tag naming the container to restart, e.g. `container_id` (procstat sets it); needs `allow`."),
    allow: z
      .array(regex)
      .min(1)
      .optional()
      .describe("With unit_from_tag or container_from_tag: regular expressions, each matched against the whole tag value; the value must match one."),
    systemctl: z.string().min(1).default("systemctl").describe("systemctl program (name on PATH or absolute path)."),
    docker_socket: absolutePath.default("/var/run/docker.sock").describe("Unix socket of the Docker Engine API."),
    grace: duration.default("10s").describe("Containers: how long Docker waits after SIGTERM before SIGKILL (sent in whole seconds)."),
    timeout: duration.default("2m").describe("Units: systemctl's process group is killed after this long. Containers: the Docker request may take `grace` plus this long."),
  })
  .superRefine((c, ctx) => {
    const chosen = [c.process, c.unit, c.unit_from_tag, c.container, c.container_from_tag].filter((v) => v !== undefined);
    if (chosen.length !== 1) {
      ctx.addIssue({ code: "custom", message: "set exactly one of process, unit, unit_from_tag, container and container_from_tag" });
    }
    const fromTag = c.unit_from_tag ?? c.container_from_tag;
    if (fromTag !== undefined && c.allow === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["allow"],
        message: `a name taken from the tag "${fromTag}" needs allow: a list of regular expressions it must match, e.g. ["^nginx\\\\.service$"]; tag values come from metric data`,
      });
    }
    if (fromTag === undefined && c.allow !== undefined) {
      ctx.addIssue({ code: "custom", path: ["allow"], message: "allow applies only with unit_from_tag or container_from_tag" });
    }
  });

export type RestartActionConfig = z.output<typeof restartActionSchema>;
type ProcessConfig = NonNullable<RestartActionConfig["process"]>;

export interface RestartActionDeps {
  /** Environment the started programs inherit a few variables from (PATH, HOME, LANG…). */
  baseEnv: Readonly<Record<string, string | undefined>>;
}

/** Restarts a process, a systemd unit or a Docker container. Metric data never reaches a shell. */
export function createRestartAction(config: RestartActionConfig, deps: RestartActionDeps): Action {
  const timeoutMs = durationMs(config.timeout);
  if (config.process !== undefined) return processAction(config.process, deps.baseEnv);
  if (config.unit !== undefined || config.unit_from_tag !== undefined) return unitAction(config, deps.baseEnv, timeoutMs);
  return containerAction(config, timeoutMs);
}

// ---- names from tags -------------------------------------------------------------------------

type Resolved = { ok: true; name: string } | { ok: false; error: string };

/** The fixed name, or the tag's value when it passes the strict name pattern and the allow-list. */
function nameResolver(fixed: string | undefined, tag: string | undefined, allow: readonly string[], namePattern: RegExp, kind: string): (alert: Alert) => Resolved {
  if (fixed !== undefined) return () => ({ ok: true, name: fixed });
  const allowed = allow.map((source) => new RegExp(`^(?:${source})$`));
  return (alert) => {
    const value = tagValue(alert, tag);
    if (value === undefined) return { ok: false, error: `the alert has no tag "${tag}"; nothing was run` };
    if (!namePattern.test(value)) return { ok: false, error: `tag ${tag}=${JSON.stringify(value)} is not a valid ${kind} name; nothing was run` };
    if (!allowed.some((re) => re.test(value))) {
      return { ok: false, error: `tag ${tag}=${JSON.stringify(value)} matches none of allow; nothing was run (add a pattern to allow if it should be restarted)` };
    }
    return { ok: true, name: value };
  };
}

function tagValue(alert: Alert, tag: string | undefined): string | undefined {
  return tag !== undefined && Object.hasOwn(alert.tags, tag) ? alert.tags[tag] : undefined;
}

function refused(error: string, started: number): ActionResult {
  return { ok: false, exitCode: null, durationMs: Date.now() - started, outputTail: "", error };
}

// ---- systemd unit ----------------------------------------------------------------------------

function unitAction(config: RestartActionConfig, baseEnv: RestartActionDeps["baseEnv"], timeoutMs: number): Action {
  const resolve = nameResolver(config.unit, config.unit_from_tag, config.allow ?? [], UNIT_NAME, "systemd unit");
  const argvFor = (unit: string): string[] => [config.systemctl, "restart", "--", unit];
  return namedRestart("unit", resolve, config.unit_from_tag, (unit) => `restart unit: ${JSON.stringify(argvFor(unit))}`, async (unit, signal) => {
    const result = await runProgram({ argv: argvFor(unit), timeoutMs, baseEnv }, {}, signal);
    return { ...result, details: { unit } };
  });
}

// ---- Docker container ------------------------------------------------------------------------

function containerAction(config: RestartActionConfig, timeoutMs: number): Action {
  const resolve = nameResolver(config.container, config.container_from_tag, config.allow ?? [], CONTAINER_NAME, "container");
  const graceS = Math.ceil(durationMs(config.grace) / 1000);
  const pathFor = (name: string): string => `/containers/${encodeURIComponent(name)}/restart?t=${graceS}`;
  return namedRestart("container", resolve, config.container_from_tag, (name) => `POST ${pathFor(name)} on ${config.docker_socket}`, async (name, signal, started) => {
    const answer = await dockerPost(config.docker_socket, pathFor(name), graceS * 1000 + timeoutMs, signal);
    const base = { exitCode: null, durationMs: Date.now() - started, outputTail: answer.body.slice(-4096), details: { container: name, status: answer.status } };
    if (answer.status === 204) return { ...base, ok: true };
    const why = answer.error ?? `Docker answered ${answer.status}: ${dockerMessage(answer.body)}`;
    return { ...base, ok: false, error: why };
  });
}

/**
 * A restart of something named (a unit, a container), fixed or taken from a tag: a name that
 * does not resolve is refused before planning, and never run.
 */
function namedRestart(
  kind: "unit" | "container",
  resolve: (alert: Alert) => Resolved,
  tag: string | undefined,
  describeName: (name: string) => string,
  runName: (name: string, signal: AbortSignal, startedMs: number) => Promise<ActionResult>,
): Action {
  const describe = (alert: Alert): string => {
    const r = resolve(alert);
    return r.ok ? describeName(r.name) : `restart ${kind} from tag ${tag}: refused (${r.error})`;
  };
  return {
    type: "restart",
    describe,
    target: (alert) => {
      const r = resolve(alert);
      return `${kind}:${r.ok ? r.name : (tagValue(alert, tag) ?? "")}`;
    },
    preview: (alert) => Promise.resolve([describe(alert)]),
    refusal: (alert) => {
      const r = resolve(alert);
      return r.ok ? undefined : r.error;
    },
    async run(alert, signal) {
      const started = Date.now();
      const r = resolve(alert);
      if (!r.ok) return refused(r.error, started);
      return runName(r.name, signal, started);
    },
  };
}

interface DockerAnswer {
  /** HTTP status, or 0 when no answer came. */
  status: number;
  body: string;
  error?: string;
}

/** One POST to the Engine API over its unix socket; never rejects. */
function dockerPost(socketPath: string, path: string, timeoutMs: number, signal: AbortSignal): Promise<DockerAnswer> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method: "POST", headers: { host: "docker", "content-length": "0" }, signal, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < DOCKER_BODY_BYTES) body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", (err) => resolve({ status: res.statusCode ?? 0, body, error: `reading Docker's answer failed: ${err.message}` }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ status: 0, body: "", error: `cannot reach Docker at ${socketPath}: ${err.message}` }));
    req.end();
  });
}

function dockerMessage(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && "message" in parsed && typeof parsed.message === "string") return parsed.message;
  } catch {
    // Not JSON: show the text.
  }
  return body.trim() || "(empty body)";
}

// ---- process ---------------------------------------------------------------------------------

/** A process as found: the pid and its start time, so a reused pid is never taken for it. */
interface ProcId {
  pid: number;
  startTicks: string;
}

function processAction(p: ProcessConfig, baseEnv: RestartActionDeps["baseEnv"]): Action {
  const what = p.pattern !== undefined ? `matching /${p.pattern}/` : `of pidfile ${p.pidfile}`;
  const find = p.pattern !== undefined ? patternFinder(new RegExp(p.pattern)) : pidfileFinder(p.pidfile ?? "");
  const startText = p.start ? `; start ${JSON.stringify(p.start)}` : "; no start (a supervisor must start it)";
  return {
    type: "restart",
    describe: () => `restart process ${what}: ${p.signal}, SIGKILL after ${p.grace}${startText}`,
    target: () => `process:${p.pattern ?? p.pidfile}`,
    async preview() {
      const found = await find();
      if (typeof found === "string") return [`refused: ${found}`];
      const lines = await Promise.all(found.map(async (id) => `${p.signal} pid ${id.pid}: ${(await readCmdline(id.pid)) ?? "?"}`));
      if (lines.length === 0) lines.push(`no process ${what} is running`);
      if (p.start) lines.push(`start ${JSON.stringify(p.start)}`);
      return lines;
    },
    run: (_alert, signal) => restartProcess(p, find, baseEnv, signal),
  };
}

type Finder = () => Promise<ProcId[] | string>;

async function restartProcess(p: ProcessConfig, find: Finder, baseEnv: RestartActionDeps["baseEnv"], signal: AbortSignal): Promise<ActionResult> {
  const started = Date.now();
  const done = (error: string | undefined, details: Record<string, string | number | null>): ActionResult => ({
    ok: error === undefined,
    exitCode: null,
    durationMs: Date.now() - started,
    outputTail: "",
    ...(error === undefined ? {} : { error }),
    details,
  });
  const old = await find();
  if (typeof old === "string") return done(old, {});
  if (old.length === 0 && p.start === undefined) return done("no matching process is running and no start is configured; nothing was done", {});
  const oldPids = old.map((id) => id.pid).join(",");

  const signalError = await signalAll(old, p.signal);
  if (signalError !== undefined) return done(signalError, { oldPids });
  if (!(await waitGone(old, durationMs(p.grace), signal))) return done("aborted while waiting for the process to exit", { oldPids });
  const leftovers = await filterAlive(old);
  const killError = await signalAll(leftovers, "SIGKILL");
  if (killError !== undefined) return done(killError, { oldPids, killed: leftovers.length });
  if (!(await waitGone(leftovers, KILL_WAIT_MS, signal))) return done("aborted while waiting for the process to exit", { oldPids });
  const stuck = await filterAlive(leftovers);
  if (stuck.length > 0) return done(`pid ${stuck.map((s) => s.pid).join(",")} still runs after SIGKILL (uninterruptible sleep?)`, { oldPids, killed: leftovers.length });

  if (p.start !== undefined) {
    const startError = await startDetached(p.start, p.log_file, baseEnv);
    if (startError !== undefined) return done(startError, { oldPids, killed: leftovers.length });
  }
  const newPid = await waitForNew(find, old, durationMs(p.confirm_within), signal);
  if (newPid === undefined) return done(`no new matching process within ${p.confirm_within}`, { oldPids, killed: leftovers.length, newPid: null });
  return done(undefined, { oldPids, killed: leftovers.length, newPid });
}

/** Pids that must never get a signal: init, ANSAI itself and the process that started it. */
function isProtected(pid: number): boolean {
  return pid <= 1 || pid === process.pid || pid === process.ppid;
}

async function readStat(pid: number): Promise<{ state: string; startTicks: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses; the fields after the last ")" do not.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", startTicks: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

async function readCmdline(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\u0000").join(" ").trimEnd();
  } catch {
    return undefined;
  }
}

/** The identity of a live (not zombie) process, or undefined. */
async function identify(pid: number): Promise<ProcId | undefined> {
  const stat = await readStat(pid);
  if (stat === undefined || stat.state === "Z") return undefined;
  return { pid, startTicks: stat.startTicks };
}

async function isAlive(id: ProcId): Promise<boolean> {
  const now = await identify(id.pid);
  return now !== undefined && now.startTicks === id.startTicks;
}

async function filterAlive(ids: readonly ProcId[]): Promise<ProcId[]> {
  const alive: ProcId[] = [];
  for (const id of ids) if (await isAlive(id)) alive.push(id);
  return alive;
}

function patternFinder(re: RegExp): Finder {
  return async () => {
    const found: ProcId[] = [];
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (isProtected(pid)) continue;
      const cmdline = await readCmdline(pid);
      // Kernel threads have an empty command line: never a match.
      if (!cmdline || !re.test(cmdline)) continue;
      const id = await identify(pid);
      if (id !== undefined) found.push(id);
    }
    return found;
  };
}

function pidfileFinder(path: string): Finder {
  return async () => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      return [];
    }
    const m = /^\s*(\d{1,10})\s*$/.exec(text);
    if (!m) return `pidfile ${path} does not hold a pid; nothing was done`;
    const pid = Number(m[1]);
    if (isProtected(pid)) return `pidfile ${path} names pid ${pid} (init, ANSAI or its parent); refusing to signal it`;
    const id = await identify(pid);
    return id === undefined ? [] : [id];
  };
}

/** Signals each process still alive; a process gone meanwhile is fine, a refusal (EPERM) is not. */
async function signalAll(ids: readonly ProcId[], sig: NodeJS.Signals): Promise<string | undefined> {
  for (const id of ids) {
    if (!(await isAlive(id))) continue;
    try {
      process.kill(id.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") continue;
      return `cannot send ${sig} to pid ${id.pid}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Resolves false when aborted, true after `ms`. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Waits until every process is gone or `ms` passed; false only when aborted. */
async function waitGone(ids: readonly ProcId[], ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms;
  while ((await filterAlive(ids)).length > 0 && Date.now() < deadline) {
    if (!(await sleep(POLL_MS, signal))) return false;
  }
  return true;
}

/** The pid of a matching process that is not one of `old`, once one appears within `ms`. */
async function waitForNew(find: Finder, old: readonly ProcId[], ms: number, signal: AbortSignal): Promise<number | undefined> {
  const deadline = Date.now() + ms;
  const isOld = (id: ProcId): boolean => old.some((o) => o.pid === id.pid && o.startTicks === id.startTicks);
  for (;;) {
    const found = await find();
    const fresh = typeof found === "string" ? undefined : found.find((id) => !isOld(id));
    if (fresh !== undefined) return fresh.pid;
    if (Date.now() >= deadline || !(await sleep(POLL_MS, signal))) return undefined;
  }
}

/** Starts the program in its own session, detached from ANSAI; resolves with an error text or undefined. */
async function startDetached(argv: readonly string[], logFile: string | undefined, baseEnv: RestartActionDeps["baseEnv"]): Promise<string | undefined> {
  let log: FileHandle | undefined;
  try {
    // O_NOFOLLOW: a symlink planted at the log path must not redirect writes.
    if (logFile !== undefined) log = await open(logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  } catch (err) {
    return `cannot open log_file ${logFile}: ${(err as Error).message}`;
  }
  const out = log?.fd ?? "ignore";
  const [program, ...args] = argv;
  try {
    const child = spawn(program ?? "", args, { detached: true, stdio: ["ignore", out, out], env: programEnv(baseEnv, {}), cwd: "/", shell: false });
    return await new Promise<string | undefined>((resolve) => {
      child.once("spawn", () => {
        child.unref();
        resolve(undefined);
      });
      child.on("error", (err) => resolve(`cannot start ${program}: ${err.message}`));
    });
  } finally {
    await log?.close();
  }
}
