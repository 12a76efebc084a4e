import { execFile } from "node:child_process";
import { request } from "node:http";
import { z } from "zod";
import { duration, durationMs, regex } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { createProcessScan, findProcesses, selectorOf, type PidStat } from "./processes.js";

// Enumerations of systemd's state tables as Telegraf's systemd_units numbers them
// (systemd src/basic/unit-def.c); a state this table does not know reads -1.
const LOAD_CODES: Readonly<Record<string, number>> = {
  loaded: 0,
  stub: 1,
  "not-found": 2,
  "bad-setting": 3,
  error: 4,
  merged: 5,
  masked: 6,
};

const ACTIVE_CODES: Readonly<Record<string, number>> = {
  active: 0,
  reloading: 1,
  inactive: 2,
  failed: 3,
  activating: 4,
  deactivating: 5,
};

const SUB_CODES: Readonly<Record<string, number>> = {
  // service
  running: 0x00,
  dead: 0x01,
  "start-pre": 0x02,
  start: 0x03,
  exited: 0x04,
  reload: 0x05,
  stop: 0x06,
  "stop-watchdog": 0x07,
  "stop-sigterm": 0x08,
  "stop-sigkill": 0x09,
  "stop-post": 0x0a,
  "final-sigterm": 0x0b,
  failed: 0x0c,
  "auto-restart": 0x0d,
  // automount
  waiting: 0x10,
  // device
  tentative: 0x20,
  plugged: 0x21,
  // mount
  mounting: 0x30,
  "mounting-done": 0x31,
  mounted: 0x32,
  remounting: 0x33,
  unmounting: 0x34,
  "remounting-sigterm": 0x35,
  "remounting-sigkill": 0x36,
  "unmounting-sigterm": 0x37,
  "unmounting-sigkill": 0x38,
  // scope
  abandoned: 0x50,
  // slice
  active: 0x60,
  // socket
  "start-chown": 0x70,
  "start-post": 0x71,
  listening: 0x72,
  "stop-pre": 0x73,
  "stop-pre-sigterm": 0x74,
  "stop-pre-sigkill": 0x75,
  "final-sigkill": 0x76,
  // swap
  activating: 0x80,
  "activating-done": 0x81,
  deactivating: 0x82,
  "deactivating-sigterm": 0x83,
  "deactivating-sigkill": 0x84,
  // timer
  elapsed: 0xa0,
};

/** Properties asked of `systemctl show`. */
export const SYSTEMCTL_PROPERTIES = ["Id", "LoadState", "ActiveState", "SubState", "MainPID", "NRestarts"] as const;

// A unit name never starts with "-", so none can be read as a systemctl option.
const unitName = z
  .string()
  .regex(/^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]*$/, "expected a systemd unit name such as nginx.service")
  .describe("A systemd unit, e.g. nginx.service (a name without a suffix means .service).");

const processCheck = z
  .strictObject({
    name: z.string().min(1).describe("Value of the `name` tag."),
    pattern: regex.optional().describe("Regular expression searched in the full command line, like `pgrep -f`."),
    exe: z.string().min(1).optional().describe("Exact executable name (comm, or the basename of /proc/PID/exe)."),
    pidfile: z.string().min(1).optional().describe("File holding the pid; a missing file means down."),
  })
  .refine((m) => [m.pattern, m.exe, m.pidfile].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of pattern, exe or pidfile",
  });

const containerCheck = z.strictObject({
  name: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "expected a container name or id")
    .describe("Docker container name or id."),
});

/** The `collectors.service` config section. */
export const serviceConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("Check systemd units, processes and containers."),
  units: z.array(unitName).default([]).describe("systemd units, read with `systemctl show` (measurement systemd_units)."),
  processes: z.array(processCheck).default([]).describe("Processes that must be running (measurement service, kind=process)."),
  containers: z.array(containerCheck).default([]).describe("Docker containers that must be running (measurement service, kind=container)."),
  systemctl_path: z.string().min(1).default("systemctl").describe("The systemctl program."),
  docker_socket: z.string().min(1).default("/var/run/docker.sock").describe("Unix socket of the Docker Engine API."),
  timeout: duration.default("5s").describe("Limit for one systemctl run or one Docker API call."),
});

export type ServiceConfig = z.output<typeof serviceConfigSchema>;

/** Options for tests and containers that see the host's /proc elsewhere. */
export interface ServiceCollectorDeps {
  /** Default "/proc". */
  procRoot?: string;
}

/** Parses `systemctl show` output: one property block per unit, blocks separated by blank lines. */
export function parseSystemctlShow(text: string): Array<Record<string, string>> {
  const units: Array<Record<string, string>> = [];
  let cur: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(cur).length > 0) units.push(cur);
      cur = {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0) cur[line.slice(0, eq)] = line.slice(eq + 1);
  }
  if (Object.keys(cur).length > 0) units.push(cur);
  return units;
}

const code = (table: Readonly<Record<string, number>>, state: string): number => (Object.hasOwn(table, state) ? (table[state] ?? -1) : -1);

/** Telegraf's systemd_units point for one unit's properties; undefined without an Id. */
export function unitPoint(props: Readonly<Record<string, string>>, ctx: CollectContext): Point | undefined {
  const name = props.Id;
  if (name === undefined || name === "") return undefined;
  const load = props.LoadState ?? "";
  const active = props.ActiveState ?? "";
  const sub = props.SubState ?? "";
  const fields: Record<string, number> = {
    load_code: code(LOAD_CODES, load),
    active_code: code(ACTIVE_CODES, active),
    sub_code: code(SUB_CODES, sub),
  };
  // "[not set]" (timers, old systemd) leaves the field out.
  const restarts = Number(props.NRestarts);
  if (props.NRestarts !== undefined && props.NRestarts !== "" && Number.isInteger(restarts)) fields.restarts = restarts;
  const pid = Number(props.MainPID);
  if (props.MainPID !== undefined && props.MainPID !== "" && Number.isInteger(pid)) fields.pid = pid;
  return { measurement: "systemd_units", tags: { name, load, active, sub, host: ctx.host }, fields, timeMs: ctx.nowMs };
}

function runSystemctl(path: string, units: readonly string[], timeoutMs: number): Promise<string> {
  const argv = ["show", `--property=${SYSTEMCTL_PROPERTIES.join(",")}`, "--", ...units];
  return new Promise((resolve, reject) => {
    execFile(path, argv, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path} ${argv.join(" ")} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

async function collectUnits(config: ServiceConfig, timeoutMs: number, ctx: CollectContext): Promise<Point[]> {
  if (config.units.length === 0) return [];
  let text: string;
  try {
    text = await runSystemctl(config.systemctl_path, config.units, timeoutMs);
  } catch (err) {
    ctx.reportError("systemctl", err);
    return [];
  }
  const points: Point[] = [];
  for (const props of parseSystemctlShow(text)) {
    const p = unitPoint(props, ctx);
    if (p !== undefined) points.push(p);
  }
  return points;
}

// --- processes -------------------------------------------------------------------------------

/** Per-check memory across passes: restarts live in the collector instance, not in module state. */
interface ProcessState {
  /** `pid:startTicks` of each process seen last pass; undefined before the first pass. */
  prev?: ReadonlySet<string>;
  restarts: number;
}

/** The next state: a pass that sees a process the previous pass did not is one restart. */
export function nextProcessState(state: ProcessState, seen: ReadonlySet<string>): ProcessState {
  if (state.prev === undefined) return { prev: seen, restarts: state.restarts };
  const started = [...seen].some((id) => !state.prev?.has(id));
  return { prev: seen, restarts: state.restarts + (started ? 1 : 0) };
}

// --- containers ------------------------------------------------------------------------------

interface DockerReply {
  status: number;
  body: string;
}

function dockerGet(socketPath: string, path: string, timeoutMs: number): Promise<DockerReply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", headers: { host: "docker" }, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`Docker API ${path} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

interface ContainerState {
  Running?: boolean;
  ExitCode?: number;
  OOMKilled?: boolean;
  Health?: { Status?: string };
}

async function containerPoint(name: string, config: ServiceConfig, timeoutMs: number, ctx: CollectContext): Promise<Point | undefined> {
  const tags = { name, kind: "container", host: ctx.host };
  let reply: DockerReply;
  try {
    reply = await dockerGet(config.docker_socket, `/containers/${encodeURIComponent(name)}/json`, timeoutMs);
  } catch (err) {
    ctx.reportError(`container:${name}`, err);
    return undefined;
  }
  if (reply.status === 404) return { measurement: "service", tags, fields: { up: 0, count: 0 }, timeMs: ctx.nowMs };
  if (reply.status !== 200) {
    ctx.reportError(`container:${name}`, new Error(`Docker API answered ${reply.status}: ${reply.body.slice(0, 200)}`));
    return undefined;
  }
  let info: { State?: ContainerState; RestartCount?: number };
  try {
    info = JSON.parse(reply.body) as typeof info;
  } catch (err) {
    ctx.reportError(`container:${name}`, err);
    return undefined;
  }
  const state = info.State ?? {};
  const up = state.Running === true ? 1 : 0;
  const fields: Record<string, number> = { up, count: up, restarts: info.RestartCount ?? 0 };
  if (typeof state.ExitCode === "number") fields.exit_code = state.ExitCode;
  if (typeof state.OOMKilled === "boolean") fields.oom_killed = state.OOMKilled ? 1 : 0;
  if (state.Health?.Status !== undefined) fields.healthy = state.Health.Status === "healthy" ? 1 : 0;
  return { measurement: "service", tags, fields, timeMs: ctx.nowMs };
}

/**
 * Service health. systemd units as Telegraf's `systemd_units` (tags name, load, active, sub;
 * fields load_code, active_code, sub_code, restarts = NRestarts, pid = MainPID) from one
 * `systemctl show` run. Processes and Docker containers as `service` (tags name, kind =
 * process | container): up 0/1, count of matching processes, restarts (processes: passes that saw
 * a process the previous pass did not, since this collector started; containers: Docker's
 * RestartCount), and for containers exit_code, oom_killed and healthy when Docker reports them.
 */
export function createServiceCollector(config: ServiceConfig, deps: ServiceCollectorDeps = {}): Collector {
  const procRoot = deps.procRoot ?? "/proc";
  const timeoutMs = durationMs(config.timeout);
  const states = config.processes.map((): ProcessState => ({ restarts: 0 }));
  const needScan = config.processes.some((p) => p.pidfile === undefined);
  const selectors = config.processes.map(selectorOf);

  const collectProcesses = async (ctx: CollectContext): Promise<Point[]> => {
    if (config.processes.length === 0) return [];
    const scan = createProcessScan(ctx, procRoot);
    const stats = needScan ? await scan.scanAll() : new Map<number, PidStat>();
    const points: Point[] = [];
    for (const [i, check] of config.processes.entries()) {
      const found = await findProcesses(ctx, scan, selectors[i]!, stats);
      if (found === undefined) continue;
      const state = nextProcessState(states[i] ?? { restarts: 0 }, new Set(found.map((s) => `${s.pid}:${s.startTicks}`)));
      states[i] = state;
      points.push({
        measurement: "service",
        tags: { name: check.name, kind: "process", host: ctx.host },
        fields: { up: found.length > 0 ? 1 : 0, count: found.length, restarts: state.restarts },
        timeMs: ctx.nowMs,
      });
    }
    return points;
  };

  const collectContainers = async (ctx: CollectContext): Promise<Point[]> => {
    const points = await Promise.all(config.containers.map((c) => containerPoint(c.name, config, timeoutMs, ctx)));
    return points.filter((p): p is Point => p !== undefined);
  };

  return {
    name: "service",
    async collect(ctx) {
      const parts = await Promise.all([collectUnits(config, timeoutMs, ctx), collectProcesses(ctx), collectContainers(ctx)]);
      return parts.flat();
    },
  };
}
