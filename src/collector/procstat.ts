import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { regex } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { parseSection } from "./config-section.js";
import { hasOption, parseMountinfo } from "./mountinfo.js";
import { createTagsCache, errnoCode, forEachLine, isGone, mapLimit, parseMeminfo, readProcFile, readText } from "./procfs.js";
import { createProcessScan, findProcesses, READ_CONCURRENCY, selectorOf, type PidStat, type ProcessSelector } from "./processes.js";

/** USER_HZ, the unit of utime/stime in /proc/PID/stat: fixed at 100 in the kernel ABI. */
export const CLOCK_TICKS_PER_S = 100;
/** cgroup v1 reports "no limit" as a huge page-aligned number near 2^63; anything this big is unlimited. */
const V1_UNLIMITED_BYTES = 2 ** 62;

/** Which processes one configured entry watches (`collectors.procstat.match[]`). */
export const processMatchSchema = z
  .strictObject({
    name: z.string().min(1).describe("Name for this process in the `process_name` tag, e.g. worker."),
    pattern: regex.optional().describe("Regular expression searched in the full command line (arguments joined by spaces), like pgrep -f."),
    exe: z.string().min(1).optional().describe("Exact executable name: the comm or the basename of /proc/PID/exe."),
    pidfile: z.string().min(1).optional().describe("Path of a file holding the pid, as daemons write under /run."),
    memory_limit: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Memory limit in bytes; default: the process's cgroup limit, else the host's MemTotal."),
  })
  .refine((m) => [m.pattern, m.exe, m.pidfile].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of pattern, exe or pidfile",
  });

/** One configured match as written in the config (exactly one of pattern, exe, pidfile). */
export type ProcessMatch = z.input<typeof processMatchSchema>;

/** The procstat collector's config section (`collectors.procstat`). */
export const procstatConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect procstat for matched processes and the largest ones."),
  top: z.number().int().min(0).default(10).describe("Also watch the N processes using the most memory."),
  match: z.array(processMatchSchema).default([]).describe("Processes to watch by command line, executable or pidfile."),
});

/** Effective procstat collector config. */
export type ProcstatConfig = z.output<typeof procstatConfigSchema>;

/** Where the procstat collector reads from; tests point it at fixture trees. */
export interface ProcstatCollectorDeps {
  /** Default "/proc". */
  procRoot?: string;
  /** Where the host's /sys/fs/cgroup is visible; cgroup mounts found in mountinfo are resolved under it. Default "/sys/fs/cgroup". */
  cgroupRoot?: string;
  /** Mount table used to find the cgroup hierarchies. Default `<procRoot>/self/mountinfo`. */
  mountinfoPath?: string;
}


/** A process's cgroups: the v1 memory and name=systemd hierarchy paths, the v2 unified path (hybrid hosts have several). */
export interface CgroupMembership {
  v1MemoryPath?: string;
  /** systemd's own v1 hierarchy (`name=systemd`), where units show on v1-only hosts. */
  v1SystemdPath?: string;
  v2Path?: string;
}

/** Parses /proc/PID/cgroup (`id:controllers:path` lines). */
export function parseCgroupMembership(text: string): CgroupMembership {
  const out: CgroupMembership = {};
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = a === -1 ? -1 : line.indexOf(":", a + 1);
    if (b === -1) continue;
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (line.startsWith("0::")) out.v2Path = path;
    else if (hasOption(controllers, "memory")) out.v1MemoryPath = path;
    else if (controllers === "name=systemd") out.v1SystemdPath = path;
  }
  return out;
}

/** Stable identity of a process from its cgroup path: the systemd service and the container it runs in. */
export interface CgroupIdentity {
  /** e.g. `nginx.service`. */
  systemdUnit?: string;
  /** First 12 hex digits of the container id, as `docker ps` shows it. */
  containerId?: string;
}

// docker (cgroupfs: /docker/ID; systemd: docker-ID.scope), containerd/CRI (kubepods/.../ID, cri-containerd-ID.scope),
// CRI-O (crio-ID.scope) and podman (libpod-ID.scope). conmon's own scopes (libpod-conmon-ID) do not match.
const CONTAINER_SEGMENT = /^(?:docker-|cri-containerd-|crio-|libpod-)?([0-9a-f]{64})(?:\.scope)?$/;

/**
 * Reads the service and the container from a cgroup path, leaf first. A service above the
 * container (the user manager podman runs under) is the container's host, not the process's
 * unit, so units are only taken below any container; a container above a unit (systemd
 * inside a container) keeps both.
 */
export function cgroupIdentity(path: string): CgroupIdentity {
  const out: CgroupIdentity = {};
  const parts = path.split("/");
  for (let i = parts.length - 1; i >= 0; i--) {
    const seg = parts[i] ?? "";
    const container = CONTAINER_SEGMENT.exec(seg);
    if (container !== null) {
      out.containerId = (container[1] ?? "").slice(0, 12);
      return out;
    }
    if (out.systemdUnit === undefined && seg.length > ".service".length && seg.endsWith(".service")) out.systemdUnit = seg;
  }
  return out;
}

/** The identity from the first hierarchy that tells it: unified, then name=systemd, then memory. */
export function membershipIdentity(m: CgroupMembership): CgroupIdentity {
  const out: CgroupIdentity = {};
  for (const path of [m.v2Path, m.v1SystemdPath, m.v1MemoryPath]) {
    if (path === undefined) continue;
    const id = cgroupIdentity(path);
    out.systemdUnit ??= id.systemdUnit;
    out.containerId ??= id.containerId;
  }
  if (out.systemdUnit === undefined) delete out.systemdUnit;
  if (out.containerId === undefined) delete out.containerId;
  return out;
}

/** The `oom_kill N` line of v2 memory.events or v1 memory.oom_control; undefined when absent (kernels before 4.13). */
export function parseOomKills(text: string): number | undefined {
  let kills: number | undefined;
  forEachLine(text, (line) => {
    if (line.startsWith("oom_kill ")) kills = Number(line.slice(9));
  });
  return kills !== undefined && Number.isFinite(kills) ? kills : undefined;
}

/** The soft "Max open files" of /proc/PID/limits; undefined when unlimited or absent. */
export function parseMaxOpenFiles(text: string): number | undefined {
  let soft: number | undefined;
  forEachLine(text, (line) => {
    if (!line.startsWith("Max open files")) return;
    const value = line.slice("Max open files".length).trim().split(" ", 1)[0];
    soft = value === undefined || value === "unlimited" ? undefined : Number(value);
  });
  return soft !== undefined && Number.isFinite(soft) ? soft : undefined;
}

/** Parses memory.max (v2) or memory.limit_in_bytes (v1); undefined means no limit. */
export function parseCgroupLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === "max") return undefined;
  const v = Number(t);
  return Number.isFinite(v) && v < V1_UNLIMITED_BYTES ? v : undefined;
}

interface CompiledMatch {
  match: MatchConfig;
  sel: ProcessSelector;
}

/** A validated match as the config holds it. */
type MatchConfig = z.output<typeof processMatchSchema>;

/** Builds one match's selector; the schema has already checked that exactly one is set and the regex compiles. */
function compileMatch(m: MatchConfig): CompiledMatch {
  return { match: m, sel: selectorOf(m) };
}

/** Where one cgroup hierarchy is reachable. */
export interface CgroupMount {
  /** Directory where the hierarchy is reachable (under cgroupRoot). */
  dir: string;
  /** The hierarchy's directory that is mounted there ("/" outside containers). */
  root: string;
}

/** The hierarchies that can hold a memory limit. */
export interface CgroupMounts {
  v1Memory?: CgroupMount;
  v2?: CgroupMount;
}

/** A finite cgroup memory limit and the usage of the cgroup that sets it (bytes). */
interface CgroupLimit {
  limitBytes: number;
  usageBytes?: number;
}

/** What a process's cgroups tell about it in one pass. */
interface CgroupInfo {
  identity: CgroupIdentity;
  limit?: CgroupLimit;
  /** OOM kills in the process's memory cgroup (v2: and its descendants) since it was created. */
  oomKills?: number;
}

/** One process chosen for a point, with its identifying tags (host and cgroup tags are added later). */
interface Selected {
  stat: PidStat;
  tags: Record<string, string>;
  /** Identifies `tags` for the tags cache. */
  key: string;
  match?: MatchConfig;
}

/** What one process's point is made of. */
interface Built {
  fields: Record<string, number>;
  identity: CgroupIdentity;
}

/** CPU counters of one process at one pass. */
export interface CpuSample {
  startTicks: number;
  cpuTicks: number;
  atMs: number;
}

/** Marks a process that exited while its point was being built. */
const GONE = Symbol("gone");

/**
 * Collects Telegraf's `procstat` per watched process (tags process_name, pid, the selector
 * `pattern`/`exe`/`pidfile`, and `systemd_unit`/`container_id` when the cgroup tells them;
 * fields memory_rss, memory_vms, memory_limit, memory_usage in bytes, memory_oom_kills,
 * cpu_usage in percent of one core, num_threads, num_fds, fd_limit, fd_used_percent),
 * `procstat_lookup` per match (pid_count, running, result_code), and the `top` largest
 * processes by RSS. CPU percent is omitted on the first sighting of a pid; the previous sample
 * lives in this instance, as do the tags objects reused from pass to pass.
 * Throws AnsaiError (ANSAI_CONFIG_INVALID) for an invalid config.
 */
export function createProcstatCollector(input: z.input<typeof procstatConfigSchema> = {}, deps: ProcstatCollectorDeps = {}): Collector {
  const config: ProcstatConfig = parseSection("procstat", procstatConfigSchema, input);
  const procRoot = deps.procRoot ?? "/proc";
  const cgroupRoot = deps.cgroupRoot ?? "/sys/fs/cgroup";
  const mountinfoPath = deps.mountinfoPath ?? join(procRoot, "self/mountinfo");
  const matches = config.match.map(compileMatch);
  const top = config.top;
  const needScan = top > 0 || matches.some((m) => m.sel.kind !== "pidfile");
  const tagsCache = createTagsCache();
  let prevCpu = new Map<number, CpuSample>();

  const processTags = (ctx: CollectContext, s: Selected, id: CgroupIdentity): Readonly<Record<string, string>> =>
    tagsCache.get(`${s.key}\u0000${id.systemdUnit ?? ""}\u0000${id.containerId ?? ""}\u0000${ctx.host}`, () => {
      const tags: Record<string, string> = { ...s.tags };
      if (id.systemdUnit !== undefined) tags.systemd_unit = id.systemdUnit;
      if (id.containerId !== undefined) tags.container_id = id.containerId;
      tags.host = ctx.host;
      return tags;
    });

  return {
    name: "procstat",
    async collect(ctx) {
      const pass = createPass(ctx, { procRoot, cgroupRoot, mountinfoPath });
      const stats = needScan ? await pass.scanAll() : new Map<number, PidStat>();
      const selected: Selected[] = [];
      const lookups: Array<{ m: CompiledMatch; index: number; pids: number[]; ok: boolean }> = [];

      for (const [index, m] of matches.entries()) {
        const found = await findProcesses(ctx, pass, m.sel, stats);
        if (found === undefined) {
          lookups.push({ m, index, pids: [], ok: false });
          continue;
        }
        lookups.push({ m, index, pids: found.map((s) => s.pid), ok: true });
        for (const stat of found) selected.push({ stat, tags: matchTags(m, stat.pid), key: `m${index}\u0000${stat.pid}`, match: m.match });
      }
      selected.push(...topByRss(stats, top, new Set(selected.map((s) => s.stat.pid))));

      const built = await mapLimit(selected, READ_CONCURRENCY, (s) => pass.buildProcess(s, prevCpu.get(s.stat.pid)));
      const points: Point[] = [];
      const emitted = new Set<number>();
      built.forEach((b, i) => {
        const s = selected[i];
        if (b === GONE || s === undefined) return;
        emitted.add(s.stat.pid);
        points.push({ measurement: "procstat", tags: processTags(ctx, s, b.identity), fields: b.fields, timeMs: ctx.nowMs });
      });
      for (const l of lookups) {
        const tags = tagsCache.get(`lookup\u0000${l.index}\u0000${l.ok}\u0000${ctx.host}`, () => lookupTags(ctx, l.m, l.ok));
        points.push(lookupPoint(ctx, tags, l.ok, l.pids.filter((p) => emitted.has(p)).length, l.pids.length));
      }

      prevCpu = nextCpuState(stats, selected, ctx.nowMs);
      tagsCache.endPass();
      return points;
    },
  };
}

function matchTags(m: CompiledMatch, pid: number): Record<string, string> {
  return { process_name: m.match.name, pid: String(pid), [m.sel.kind]: m.sel.value };
}

/** The N largest processes by RSS not already selected; kernel threads (RSS 0) never count. */
function topByRss(stats: ReadonlyMap<number, PidStat>, n: number, taken: ReadonlySet<number>): Selected[] {
  if (n === 0) return [];
  const biggest = [...stats.values()]
    .filter((s) => s.rssBytes > 0)
    .sort((a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid)
    .slice(0, n);
  return biggest
    .filter((s) => !taken.has(s.pid))
    .map((stat) => ({ stat, tags: { process_name: stat.comm, pid: String(stat.pid) }, key: `top\u0000${stat.comm}\u0000${stat.pid}` }));
}

function lookupTags(ctx: CollectContext, m: CompiledMatch, ok: boolean): Record<string, string> {
  return {
    process_name: m.match.name,
    [m.sel.kind]: m.sel.value,
    pid_finder: "native",
    result: ok ? "success" : "lookup_error",
    host: ctx.host,
  };
}

/** Telegraf's `procstat_lookup`: how many processes a match found, so "not running" is a series too. */
function lookupPoint(ctx: CollectContext, tags: Readonly<Record<string, string>>, ok: boolean, running: number, pidCount: number): Point {
  return {
    measurement: "procstat_lookup",
    tags,
    fields: { pid_count: pidCount, running, result_code: ok ? 0 : 1 },
    timeMs: ctx.nowMs,
  };
}

/** Keeps CPU counters of every process seen this pass; pids gone since are dropped. */
function nextCpuState(stats: ReadonlyMap<number, PidStat>, selected: readonly Selected[], atMs: number): Map<number, CpuSample> {
  const next = new Map<number, CpuSample>();
  const keep = (s: PidStat): void => {
    next.set(s.pid, { startTicks: s.startTicks, cpuTicks: s.cpuTicks, atMs });
  };
  stats.forEach(keep);
  for (const s of selected) keep(s.stat);
  return next;
}

/** Percent of one core used since `prev`; undefined on a first sighting or a reused pid. */
export function cpuPercent(prev: CpuSample | undefined, stat: PidStat, nowMs: number): number | undefined {
  if (prev === undefined || prev.startTicks !== stat.startTicks || nowMs <= prev.atMs) return undefined;
  const cpuS = (stat.cpuTicks - prev.cpuTicks) / CLOCK_TICKS_PER_S;
  return (100 * cpuS * 1000) / (nowMs - prev.atMs);
}

interface PassPaths {
  procRoot: string;
  cgroupRoot: string;
  mountinfoPath: string;
}

/** Readers for one collection pass; caches (cmdlines, cgroup limits, MemTotal) live only this long. */
function createPass(ctx: CollectContext, paths: PassPaths) {
  const { procRoot } = paths;
  const pidPath = (pid: number, file: string): string => join(procRoot, String(pid), file);
  const scan = createProcessScan(ctx, procRoot);
  const limitCache = new Map<string, Promise<CgroupLimit | undefined>>();
  const oomCache = new Map<string, Promise<number | undefined>>();
  let memTotal: Promise<number | undefined> | undefined;
  let mounts: Promise<CgroupMounts> | undefined;

  const readFdLimit = async (pid: number): Promise<number | undefined | typeof GONE> => {
    try {
      return parseMaxOpenFiles(await readProcFile(pidPath(pid, "limits"), 2048));
    } catch (err) {
      if (isGone(err)) return GONE;
      ctx.reportError(pidPath(pid, "limits"), err);
      return undefined;
    }
  };

  const countFds = async (pid: number): Promise<number | undefined | typeof GONE> => {
    try {
      return (await readdir(pidPath(pid, "fd"))).length;
    } catch (err) {
      if (isGone(err)) return GONE;
      ctx.reportError(pidPath(pid, "fd"), err);
      return undefined;
    }
  };

  const getMemTotal = (): Promise<number | undefined> => {
    memTotal ??= readText(join(procRoot, "meminfo")).then(
      (t) => parseMeminfo(t).get("MemTotal"),
      (err: unknown) => {
        ctx.reportError(join(procRoot, "meminfo"), err);
        return undefined;
      },
    );
    return memTotal;
  };

  const getMounts = (): Promise<CgroupMounts> => {
    mounts ??= readText(paths.mountinfoPath).then(
      (t) => findCgroupMounts(t, paths.cgroupRoot),
      (err: unknown) => {
        ctx.reportError(paths.mountinfoPath, err);
        return {};
      },
    );
    return mounts;
  };

  // One lookup per cgroup per pass: many processes share a cgroup.
  const cachedLimit = (key: string, mount: CgroupMount, cgPath: string, v1: boolean): Promise<CgroupLimit | undefined> => {
    let p = limitCache.get(key);
    if (p === undefined) {
      p = readCgroupLimit(ctx, mount, cgPath, v1);
      limitCache.set(key, p);
    }
    return p;
  };

  // OOM kills are counted per cgroup: one read per cgroup per pass, like the limit.
  const cachedOomKills = (key: string, dir: string, v1: boolean): Promise<number | undefined> => {
    let p = oomCache.get(key);
    if (p === undefined) {
      p = readOomKills(ctx, dir, v1);
      oomCache.set(key, p);
    }
    return p;
  };

  const cgroupInfo = async (pid: number, needLimit: boolean): Promise<CgroupInfo | typeof GONE> => {
    let text: string;
    try {
      text = await readProcFile(pidPath(pid, "cgroup"));
    } catch (err) {
      if (isGone(err)) return GONE;
      ctx.reportError(pidPath(pid, "cgroup"), err);
      return { identity: {} };
    }
    const member = parseCgroupMembership(text);
    const info: CgroupInfo = { identity: membershipIdentity(member) };
    const m = await getMounts();
    // In hybrid mode the memory controller is on v1 and the unified tree has no memory.max.
    const [key, mount, path, v1] =
      member.v1MemoryPath !== undefined && m.v1Memory !== undefined
        ? [`v1:${member.v1MemoryPath}`, m.v1Memory, member.v1MemoryPath, true]
        : member.v2Path !== undefined && m.v2 !== undefined
          ? [`v2:${member.v2Path}`, m.v2, member.v2Path, false]
          : [undefined, undefined, undefined, false];
    if (key === undefined || mount === undefined || path === undefined) return info;
    const [limit, oomKills] = await Promise.all([
      needLimit ? cachedLimit(key, mount, path, v1) : undefined,
      cachedOomKills(key, cgroupDir(mount, path), v1),
    ]);
    if (limit !== undefined) info.limit = limit;
    if (oomKills !== undefined) info.oomKills = oomKills;
    return info;
  };

  const buildProcess = async (s: Selected, prev: CpuSample | undefined): Promise<Built | typeof GONE> => {
    const { stat } = s;
    const fields: Record<string, number> = {
      memory_rss: stat.rssBytes,
      memory_vms: stat.vsizeBytes,
      num_threads: stat.numThreads,
    };
    const cpu = cpuPercent(prev, stat, ctx.nowMs);
    if (cpu !== undefined) fields.cpu_usage = cpu;
    const configuredLimit = s.match?.memory_limit;
    const [fds, fdLimit, cg] = await Promise.all([countFds(stat.pid), readFdLimit(stat.pid), cgroupInfo(stat.pid, configuredLimit === undefined)]);
    if (fds === GONE || fdLimit === GONE || cg === GONE) return GONE;
    if (fds !== undefined) fields.num_fds = fds;
    if (fdLimit !== undefined) {
      fields.fd_limit = fdLimit;
      if (fds !== undefined && fdLimit > 0) fields.fd_used_percent = (100 * fds) / fdLimit;
    }
    if (cg.oomKills !== undefined) fields.memory_oom_kills = cg.oomKills;

    if (configuredLimit !== undefined) {
      fields.memory_limit = configuredLimit;
    } else if (cg.limit !== undefined) {
      fields.memory_limit = cg.limit.limitBytes;
      if (cg.limit.usageBytes !== undefined) fields.memory_usage = cg.limit.usageBytes;
    } else {
      const total = await getMemTotal();
      if (total !== undefined) fields.memory_limit = total;
    }
    return { fields, identity: cg.identity };
  };

  return { ...scan, buildProcess };

}

/** Locates the cgroup v2 and v1 memory hierarchies in a mount table, re-rooted under `cgroupRoot`. */
export function findCgroupMounts(mountinfoText: string, cgroupRoot: string): CgroupMounts {
  const out: CgroupMounts = {};
  for (const m of parseMountinfo(mountinfoText)) {
    const mount = { dir: reroot(m.mountPoint, cgroupRoot), root: m.root };
    if (m.fsType === "cgroup2") out.v2 ??= mount;
    else if (m.fsType === "cgroup" && hasOption(m.superOptions, "memory")) out.v1Memory ??= mount;
  }
  return out;
}

// The mount table names /sys/fs/cgroup; a container or a test sees that tree at cgroupRoot.
function reroot(mountPoint: string, cgroupRoot: string): string {
  const std = "/sys/fs/cgroup";
  if (mountPoint === std || mountPoint.startsWith(`${std}/`)) return cgroupRoot + mountPoint.slice(std.length);
  return mountPoint;
}

/** The cgroup path's parts below the mount's root (a container sees its own cgroup as "/"). */
function relativeParts(mount: CgroupMount, cgPath: string): string[] {
  const rel = mount.root !== "/" && cgPath.startsWith(mount.root) ? cgPath.slice(mount.root.length) : cgPath;
  return rel.split("/").filter((p) => p !== "");
}

/** Directory of a cgroup where its mount is reachable. */
function cgroupDir(mount: CgroupMount, cgPath: string): string {
  return join(mount.dir, ...relativeParts(mount, cgPath));
}

/** OOM kills of one cgroup; undefined without the file (v2 root, memory controller off, old kernels). */
async function readOomKills(ctx: CollectContext, dir: string, v1: boolean): Promise<number | undefined> {
  const file = join(dir, v1 ? "memory.oom_control" : "memory.events");
  try {
    return parseOomKills(await readText(file));
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") ctx.reportError(file, err);
    return undefined;
  }
}

/**
 * The tightest finite limit from the process's cgroup up to the hierarchy root (a parent's
 * limit caps its children), with the usage of the cgroup that sets it. Errors are reported.
 */
async function readCgroupLimit(
  ctx: CollectContext,
  mount: CgroupMount,
  cgPath: string,
  v1: boolean,
): Promise<CgroupLimit | undefined> {
  const limitFile = v1 ? "memory.limit_in_bytes" : "memory.max";
  const usageFile = v1 ? "memory.usage_in_bytes" : "memory.current";
  const parts = relativeParts(mount, cgPath);
  let best: { dir: string; limitBytes: number } | undefined;
  for (let depth = parts.length; depth >= 0; depth--) {
    const dir = join(mount.dir, ...parts.slice(0, depth));
    let text: string;
    try {
      text = await readText(join(dir, limitFile));
    } catch (err) {
      // The v2 root has no memory.max; a missing file means no limit at this level.
      if (errnoCode(err) === "ENOENT") continue;
      ctx.reportError(join(dir, limitFile), err);
      return undefined;
    }
    const limit = parseCgroupLimit(text);
    if (limit !== undefined && (best === undefined || limit < best.limitBytes)) best = { dir, limitBytes: limit };
  }
  if (best === undefined) return undefined;
  try {
    const usage = Number((await readText(join(best.dir, usageFile))).trim());
    return Number.isFinite(usage) ? { limitBytes: best.limitBytes, usageBytes: usage } : { limitBytes: best.limitBytes };
  } catch (err) {
    ctx.reportError(join(best.dir, usageFile), err);
    return { limitBytes: best.limitBytes };
  }
}

