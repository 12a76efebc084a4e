import { readdir, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CollectContext, Collector } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import type { Point } from "../core/point.js";
import { hasOption, parseMountinfo } from "./mountinfo.js";
import { errnoCode, isGone, mapLimit, parseMeminfo, readText } from "./procfs.js";

/** Bytes per page for RSS: 4096 on Linux x86-64 and the default arm64 kernels; not read from the system. */
export const PAGE_SIZE_BYTES = 4096;
/** USER_HZ, the unit of utime/stime in /proc/PID/stat: fixed at 100 in the kernel ABI. */
export const CLOCK_TICKS_PER_S = 100;
/** cgroup v1 reports "no limit" as a huge page-aligned number near 2^63; anything this big is unlimited. */
const V1_UNLIMITED_BYTES = 2 ** 62;
/** The kernel truncates comm to 15 characters (TASK_COMM_LEN - 1). */
const COMM_MAX_CHARS = 15;
/** Concurrent /proc reads per pass: enough to hide latency, few enough not to exhaust fds. */
const READ_CONCURRENCY = 32;

/** Which processes one configured entry watches. Exactly one of pattern, exe, pidfile is set. */
export interface ProcessMatch {
  /** Value of the `process_name` tag. */
  name: string;
  /** Regular expression searched in the full command line (arguments joined by spaces), like `pgrep -f`. */
  pattern?: string;
  /** Exact executable name: the comm or the basename of /proc/PID/exe. */
  exe?: string;
  /** File holding the pid, as daemons write under /run. */
  pidfile?: string;
  /** Memory the process may use (bytes); overrides the cgroup limit and MemTotal. */
  memoryLimitBytes?: number;
}

/** Options of the procstat collector. */
export interface ProcstatCollectorOptions {
  /** Default "/proc". */
  procRoot?: string;
  /** Where the host's /sys/fs/cgroup is visible; cgroup mounts found in mountinfo are resolved under it. Default "/sys/fs/cgroup". */
  cgroupRoot?: string;
  /** Mount table used to find the cgroup hierarchies. Default `<procRoot>/self/mountinfo`. */
  mountinfoPath?: string;
  /** Also emit the N processes with the largest RSS (0 = none). */
  top: number;
  match: readonly ProcessMatch[];
}

/** The fields of /proc/PID/stat this collector uses. */
export interface PidStat {
  pid: number;
  /** Executable name, at most 15 characters; may contain spaces and parentheses. */
  comm: string;
  numThreads: number;
  /** Start time after boot in clock ticks: tells a reused pid from the process seen before. */
  startTicks: number;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
  vsizeBytes: number;
  rssBytes: number;
}

/** Parses /proc/PID/stat; undefined when the text is not one. */
export function parsePidStat(pid: number, text: string): PidStat | undefined {
  // comm is free text: it ends at the LAST ")" even if it contains one itself.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open === -1 || close < open) return undefined;
  // rest[0] is field 3 (state), so proc(5) field n is rest[n - 3].
  const rest = text.slice(close + 2).split(" ");
  if (rest.length < 22) return undefined;
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid,
    comm: text.slice(open + 1, close),
    numThreads: field(20),
    startTicks: field(22),
    cpuTicks: field(14) + field(15),
    vsizeBytes: field(23),
    rssBytes: field(24) * PAGE_SIZE_BYTES,
  };
}

/** A process's memory cgroup: the v1 memory hierarchy path, the v2 unified path, or both (hybrid). */
export interface CgroupMembership {
  v1MemoryPath?: string;
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
  }
  return out;
}

/** Parses memory.max (v2) or memory.limit_in_bytes (v1); undefined means no limit. */
export function parseCgroupLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === "max") return undefined;
  const v = Number(t);
  return Number.isFinite(v) && v < V1_UNLIMITED_BYTES ? v : undefined;
}

type Selector =
  | { kind: "pattern"; value: string; re: RegExp }
  | { kind: "exe"; value: string }
  | { kind: "pidfile"; value: string };

interface CompiledMatch {
  match: ProcessMatch;
  sel: Selector;
}

/** Validates one match entry once, at construction; a bad entry is a configuration error. */
function compileMatch(m: ProcessMatch): CompiledMatch {
  const set = (["pattern", "exe", "pidfile"] as const).filter((k) => m[k] !== undefined);
  const kind = set[0];
  if (set.length !== 1 || kind === undefined) {
    throw new AnsaiError(
      ErrorCodes.CONFIG_INVALID,
      `procstat match "${m.name}" sets ${set.length === 0 ? "none" : set.join(" and ")} of pattern, exe, pidfile`,
      "Set exactly one of pattern, exe or pidfile for each procstat match.",
    );
  }
  const value = m[kind] ?? "";
  if (kind === "exe") return { match: m, sel: { kind, value } };
  if (kind === "pidfile") return { match: m, sel: { kind, value } };
  try {
    return { match: m, sel: { kind, value, re: new RegExp(value) } };
  } catch (err) {
    throw new AnsaiError(
      ErrorCodes.CONFIG_INVALID,
      `procstat match "${m.name}" has an invalid pattern ${JSON.stringify(value)}`,
      "Write pattern as a JavaScript regular expression searched in the command line.",
      { cause: err },
    );
  }
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

/** One process chosen for a point, with its identifying tags. */
interface Selected {
  stat: PidStat;
  tags: Record<string, string>;
  match?: ProcessMatch;
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
 * Collects Telegraf's `procstat` per watched process (tags process_name, pid and the selector
 * `pattern`/`exe`/`pidfile`; fields memory_rss, memory_vms, memory_limit, memory_usage in bytes,
 * cpu_usage in percent of one core, num_threads, num_fds), `procstat_lookup` per match
 * (pid_count, running, result_code), and the `top` largest processes by RSS.
 * CPU percent is omitted on the first sighting of a pid; the previous sample lives in this instance.
 */
export function createProcstatCollector(opts: ProcstatCollectorOptions): Collector {
  const procRoot = opts.procRoot ?? "/proc";
  const cgroupRoot = opts.cgroupRoot ?? "/sys/fs/cgroup";
  const mountinfoPath = opts.mountinfoPath ?? join(procRoot, "self/mountinfo");
  const matches = opts.match.map(compileMatch);
  const top = Math.max(0, Math.floor(opts.top));
  const needScan = top > 0 || matches.some((m) => m.sel.kind !== "pidfile");
  const needCmdline = matches.some((m) => m.sel.kind === "pattern");
  let prevCpu = new Map<number, CpuSample>();

  return {
    name: "procstat",
    async collect(ctx) {
      const pass = createPass(ctx, { procRoot, cgroupRoot, mountinfoPath });
      const stats = needScan ? await pass.scanAll() : new Map<number, PidStat>();
      const selected: Selected[] = [];
      const lookups: Array<{ m: CompiledMatch; pids: number[]; ok: boolean }> = [];

      for (const m of matches) {
        const found = await findMatching(pass, m, stats, needCmdline);
        if (found === undefined) {
          lookups.push({ m, pids: [], ok: false });
          continue;
        }
        lookups.push({ m, pids: found.map((s) => s.pid), ok: true });
        for (const stat of found) selected.push({ stat, tags: matchTags(m, stat.pid), match: m.match });
      }
      selected.push(...topByRss(stats, top, new Set(selected.map((s) => s.stat.pid))));

      const built = await mapLimit(selected, READ_CONCURRENCY, (s) => pass.buildFields(s, prevCpu.get(s.stat.pid)));
      const points: Point[] = [];
      const emitted = new Set<number>();
      built.forEach((fields, i) => {
        const s = selected[i];
        if (fields === GONE || s === undefined) return;
        emitted.add(s.stat.pid);
        points.push({ measurement: "procstat", tags: { ...s.tags, host: ctx.host }, fields, timeMs: ctx.nowMs });
      });
      for (const l of lookups) points.push(lookupPoint(ctx, l.m, l.ok, l.pids.filter((p) => emitted.has(p)).length, l.pids.length));

      prevCpu = nextCpuState(stats, selected, ctx.nowMs);
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
    .map((stat) => ({ stat, tags: { process_name: stat.comm, pid: String(stat.pid) } }));
}

/** Telegraf's `procstat_lookup`: how many processes a match found, so "not running" is a series too. */
function lookupPoint(ctx: CollectContext, m: CompiledMatch, ok: boolean, running: number, pidCount: number): Point {
  return {
    measurement: "procstat_lookup",
    tags: {
      process_name: m.match.name,
      [m.sel.kind]: m.sel.value,
      pid_finder: "native",
      result: ok ? "success" : "lookup_error",
      host: ctx.host,
    },
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

/** Finds a match's processes, ascending by pid; undefined when the lookup itself failed (reported). */
async function findMatching(
  pass: Pass,
  m: CompiledMatch,
  stats: ReadonlyMap<number, PidStat>,
  needCmdline: boolean,
): Promise<PidStat[] | undefined> {
  const sel = m.sel;
  if (sel.kind === "pidfile") {
    const pid = await pass.readPidfile(sel.value);
    if (pid === undefined) return undefined;
    const stat = stats.get(pid) ?? (await pass.readStat(pid));
    return stat === undefined ? [] : [stat];
  }
  const all = [...stats.values()].sort((a, b) => a.pid - b.pid);
  if (sel.kind === "exe") {
    const hits = await mapLimit(all, READ_CONCURRENCY, (s) => pass.exeMatches(s, sel.value));
    return all.filter((_, i) => hits[i]);
  }
  if (!needCmdline) return [];
  const re = sel.re;
  const cmdlines = await mapLimit(all, READ_CONCURRENCY, (s) => pass.cmdline(s.pid));
  // The collector's own command line never counts: a pattern in its argv would match itself.
  return all.filter((s, i) => {
    const c = cmdlines[i];
    return s.pid !== process.pid && c !== undefined && c !== "" && re.test(c);
  });
}

interface PassPaths {
  procRoot: string;
  cgroupRoot: string;
  mountinfoPath: string;
}

type Pass = ReturnType<typeof createPass>;

/** Readers for one collection pass; caches (cmdlines, cgroup limits, MemTotal) live only this long. */
function createPass(ctx: CollectContext, paths: PassPaths) {
  const { procRoot } = paths;
  const pidPath = (pid: number, file: string): string => join(procRoot, String(pid), file);
  const cmdlineCache = new Map<number, Promise<string | undefined>>();
  const limitCache = new Map<string, Promise<CgroupLimit | undefined>>();
  let memTotal: Promise<number | undefined> | undefined;
  let mounts: Promise<CgroupMounts> | undefined;

  // Reads a per-process file; undefined when the process is gone, others reported.
  const readPidFile = async (pid: number, file: string): Promise<string | undefined> => {
    try {
      return await readText(pidPath(pid, file));
    } catch (err) {
      if (!isGone(err)) ctx.reportError(pidPath(pid, file), err);
      return undefined;
    }
  };

  const readStat = async (pid: number): Promise<PidStat | undefined> => {
    const text = await readPidFile(pid, "stat");
    return text === undefined ? undefined : parsePidStat(pid, text);
  };

  const scanAll = async (): Promise<Map<number, PidStat>> => {
    let names: string[];
    try {
      names = await readdir(procRoot);
    } catch (err) {
      ctx.reportError(procRoot, err);
      return new Map();
    }
    const pids = names.filter(isDigits).map(Number);
    const stats = await mapLimit(pids, READ_CONCURRENCY, readStat);
    const out = new Map<number, PidStat>();
    for (const s of stats) if (s !== undefined) out.set(s.pid, s);
    return out;
  };

  const cmdline = (pid: number): Promise<string | undefined> => {
    let p = cmdlineCache.get(pid);
    if (p === undefined) {
      // Arguments are NUL-terminated; joined by spaces as `ps` and `pgrep -f` show them.
      p = readPidFile(pid, "cmdline").then((t) => t?.split("\u0000").join(" ").trimEnd());
      cmdlineCache.set(pid, p);
    }
    return p;
  };

  const exeMatches = async (s: PidStat, exe: string): Promise<boolean> => {
    if (s.comm === exe) return true;
    // comm is truncated: a long name can only be confirmed from the executable's path.
    if (exe.length <= COMM_MAX_CHARS || s.comm !== exe.slice(0, COMM_MAX_CHARS)) return false;
    try {
      return basename(await readlink(pidPath(s.pid, "exe"))) === exe;
    } catch {
      return false;
    }
  };

  const readPidfile = async (file: string): Promise<number | undefined> => {
    try {
      const text = (await readText(file)).trim();
      if (isDigits(text)) return Number(text);
      ctx.reportError(file, new Error(`pidfile ${file} does not hold a pid (read ${JSON.stringify(text.slice(0, 40))})`));
    } catch (err) {
      ctx.reportError(file, err);
    }
    return undefined;
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

  const cgroupLimit = async (pid: number): Promise<CgroupLimit | undefined | typeof GONE> => {
    let text: string;
    try {
      text = await readText(pidPath(pid, "cgroup"));
    } catch (err) {
      if (isGone(err)) return GONE;
      ctx.reportError(pidPath(pid, "cgroup"), err);
      return undefined;
    }
    const member = parseCgroupMembership(text);
    const m = await getMounts();
    // In hybrid mode the memory controller is on v1 and the unified tree has no memory.max.
    if (member.v1MemoryPath !== undefined && m.v1Memory !== undefined) {
      return cachedLimit(`v1:${member.v1MemoryPath}`, m.v1Memory, member.v1MemoryPath, true);
    }
    if (member.v2Path !== undefined && m.v2 !== undefined) {
      return cachedLimit(`v2:${member.v2Path}`, m.v2, member.v2Path, false);
    }
    return undefined;
  };

  const buildFields = async (s: Selected, prev: CpuSample | undefined): Promise<Record<string, number> | typeof GONE> => {
    const { stat } = s;
    const fields: Record<string, number> = {
      memory_rss: stat.rssBytes,
      memory_vms: stat.vsizeBytes,
      num_threads: stat.numThreads,
    };
    const cpu = cpuPercent(prev, stat, ctx.nowMs);
    if (cpu !== undefined) fields.cpu_usage = cpu;
    const fds = await countFds(stat.pid);
    if (fds === GONE) return GONE;
    if (fds !== undefined) fields.num_fds = fds;

    if (s.match?.memoryLimitBytes !== undefined) {
      fields.memory_limit = s.match.memoryLimitBytes;
      return fields;
    }
    const cg = await cgroupLimit(stat.pid);
    if (cg === GONE) return GONE;
    if (cg !== undefined) {
      fields.memory_limit = cg.limitBytes;
      if (cg.usageBytes !== undefined) fields.memory_usage = cg.usageBytes;
      return fields;
    }
    const total = await getMemTotal();
    if (total !== undefined) fields.memory_limit = total;
    return fields;
  };

  return { scanAll, readStat, cmdline, exeMatches, readPidfile, buildFields };
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
  const rel = mount.root !== "/" && cgPath.startsWith(mount.root) ? cgPath.slice(mount.root.length) : cgPath;
  const parts = rel.split("/").filter((p) => p !== "");
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

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
