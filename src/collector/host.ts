import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { regex } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { parseSection } from "./config-section.js";
import { createTagsCache, forEachLine, isDigits, isGone, mapLimit, parseMeminfo, readProcFile, readText } from "./procfs.js";

/** Cumulative CPU time of the `cpu` line of /proc/stat, in clock ticks (USER_HZ). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guestNice: number;
}

/** What the host collector reads from /proc/stat. */
export interface ProcStatSummary {
  /** The aggregate `cpu` line. */
  total: CpuTimes;
  /** Number of online CPUs (count of `cpuN` lines). */
  nCpus: number;
  /** Per-core times by name (`cpu0`, `cpu1`, ...), in file order. */
  perCpu: Map<string, CpuTimes>;
  /** `procs_running`: threads runnable right now; undefined on kernels without it. */
  procsRunning?: number;
  /** `procs_blocked`: threads in uninterruptible sleep (usually waiting for I/O). */
  procsBlocked?: number;
}

/** Parses /proc/stat; undefined when it has no `cpu ` line. */
export function parseProcStat(text: string): ProcStatSummary | undefined {
  let total: CpuTimes | undefined;
  const perCpu = new Map<string, CpuTimes>();
  let procsRunning: number | undefined;
  let procsBlocked: number | undefined;
  forEachLine(text, (line) => {
    if (line.startsWith("cpu ")) total = parseCpuLine(line);
    else if (line.startsWith("cpu")) {
      const space = line.indexOf(" ");
      if (space > 3) perCpu.set(line.slice(0, space), parseCpuLine(line));
    } else if (line.startsWith("procs_running ")) procsRunning = Number(line.slice(14));
    else if (line.startsWith("procs_blocked ")) procsBlocked = Number(line.slice(14));
  });
  if (total === undefined) return undefined;
  const out: ProcStatSummary = { total, nCpus: perCpu.size, perCpu };
  if (procsRunning !== undefined && Number.isFinite(procsRunning)) out.procsRunning = procsRunning;
  if (procsBlocked !== undefined && Number.isFinite(procsBlocked)) out.procsBlocked = procsBlocked;
  return out;
}

function parseCpuLine(line: string): CpuTimes {
  // Columns after the label; older kernels lack the trailing ones, which then read 0.
  const v = line.slice(line.indexOf(" ")).trim().split(" ", 10).map(Number);
  const at = (i: number): number => v[i] ?? 0;
  return {
    user: at(0),
    nice: at(1),
    system: at(2),
    idle: at(3),
    iowait: at(4),
    irq: at(5),
    softirq: at(6),
    steal: at(7),
    guest: at(8),
    guestNice: at(9),
  };
}

// Guest time is already counted in user (and guest_nice in nice), so it is not added again.
function totalTicks(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

/**
 * Telegraf's `cpu` fields: percent of all CPU time between two samples spent in each state.
 * Undefined when no time passed or the counters went backwards (CPU hot-unplug).
 */
export function cpuUsagePercent(prev: CpuTimes, cur: CpuTimes): Record<string, number> | undefined {
  const dt = totalTicks(cur) - totalTicks(prev);
  if (!(dt > 0)) return undefined;
  const pct = (k: keyof CpuTimes): number => (100 * (cur[k] - prev[k])) / dt;
  return {
    usage_user: pct("user") - pct("guest"),
    usage_system: pct("system"),
    usage_idle: pct("idle"),
    usage_nice: pct("nice") - pct("guestNice"),
    usage_iowait: pct("iowait"),
    usage_irq: pct("irq"),
    usage_softirq: pct("softirq"),
    usage_steal: pct("steal"),
    usage_guest: pct("guest"),
    usage_guest_nice: pct("guestNice"),
  };
}

/**
 * Telegraf's `mem` fields in bytes and percent. `used` is total - available (what can no longer
 * be had without swapping), and `cached` includes SReclaimable as gopsutil does.
 */
export function memFields(mi: ReadonlyMap<string, number>): Record<string, number> | undefined {
  const total = mi.get("MemTotal");
  if (total === undefined || total <= 0) return undefined;
  const free = mi.get("MemFree") ?? 0;
  const buffers = mi.get("Buffers") ?? 0;
  const cached = (mi.get("Cached") ?? 0) + (mi.get("SReclaimable") ?? 0);
  // Kernels before 3.14 lack MemAvailable; free + reclaimable caches is the old estimate.
  const available = mi.get("MemAvailable") ?? free + buffers + cached;
  const used = total - available;
  return {
    total,
    available,
    used,
    free,
    buffers,
    cached,
    used_percent: (100 * used) / total,
    available_percent: (100 * available) / total,
  };
}

/** Telegraf's `swap` fields in bytes; used_percent is 0 with no swap configured, as in Telegraf. */
export function swapFields(mi: ReadonlyMap<string, number>): Record<string, number> | undefined {
  const total = mi.get("SwapTotal");
  const free = mi.get("SwapFree");
  if (total === undefined || free === undefined) return undefined;
  const used = total - free;
  return { total, used, free, used_percent: total > 0 ? (100 * used) / total : 0 };
}

/** /proc/loadavg → load1, load5, load15 (runnable + uninterruptible tasks, averaged). */
export function parseLoadavg(text: string): Record<string, number> | undefined {
  const [l1, l5, l15] = text.trim().split(" ", 3).map(Number);
  if (l1 === undefined || l5 === undefined || l15 === undefined) return undefined;
  if (Number.isNaN(l1) || Number.isNaN(l5) || Number.isNaN(l15)) return undefined;
  return { load1: l1, load5: l5, load15: l15 };
}

/** /proc/uptime → whole seconds since boot (Telegraf's `uptime` is an integer). */
export function parseUptimeS(text: string): number | undefined {
  const s = Number.parseFloat(text);
  return Number.isNaN(s) ? undefined : Math.floor(s);
}

/** /proc/loadavg's `running/total` column → total scheduling entities (threads), Telegraf's `total_threads`. */
export function parseLoadavgThreads(text: string): number | undefined {
  const field = text.split(" ", 4)[3];
  const slash = field === undefined ? -1 : field.indexOf("/");
  if (field === undefined || slash === -1) return undefined;
  const n = Number(field.slice(slash + 1));
  return Number.isInteger(n) ? n : undefined;
}

/** Telegraf's `net` fields of one interface (cumulative counters since boot). */
export interface NetCounters {
  bytes_recv: number;
  packets_recv: number;
  err_in: number;
  drop_in: number;
  bytes_sent: number;
  packets_sent: number;
  err_out: number;
  drop_out: number;
}

/** Parses /proc/net/dev into interface → counters, in file order; the two header lines are skipped. */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  forEachLine(text, (line) => {
    const colon = line.indexOf(":");
    if (colon === -1) return;
    const v = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (v.length < 16 || v.some((x) => !Number.isFinite(x))) return;
    const at = (i: number): number => v[i] ?? 0;
    out.set(line.slice(0, colon).trim(), {
      bytes_recv: at(0),
      packets_recv: at(1),
      err_in: at(2),
      drop_in: at(3),
      bytes_sent: at(8),
      packets_sent: at(9),
      err_out: at(10),
      drop_out: at(11),
    });
  });
  return out;
}

/** The kernel counts diskstats sectors in 512-byte units whatever the device's block size. */
const SECTOR_BYTES = 512;

/** Parses /proc/diskstats into device name → Telegraf's `diskio` fields (cumulative; times in ms). */
export function parseDiskstats(text: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  forEachLine(text, (line) => {
    const f = line.trim().split(/\s+/);
    // major minor name + 11 counters at least (kernels since 2.6; 4.18 and 5.5 appended more).
    if (f.length < 14) return;
    const n = (i: number): number => Number(f[i]);
    const fields = {
      reads: n(3),
      merged_reads: n(4),
      read_bytes: n(5) * SECTOR_BYTES,
      read_time: n(6),
      writes: n(7),
      merged_writes: n(8),
      write_bytes: n(9) * SECTOR_BYTES,
      write_time: n(10),
      iops_in_progress: n(11),
      io_time: n(12),
      weighted_io_time: n(13),
    };
    if (Object.values(fields).every(Number.isFinite)) out.set(f[2] ?? "", fields);
  });
  return out;
}

/** Linux process states in /proc/PID/stat → Telegraf's `processes` field counting them. */
const STATE_FIELDS: Readonly<Record<string, string>> = {
  R: "running",
  S: "sleeping",
  D: "blocked",
  Z: "zombies",
  X: "dead",
  T: "stopped",
  t: "stopped",
  W: "paging",
  I: "idle",
  P: "parked",
};

/** The state letter and thread count of one /proc/PID/stat; undefined when malformed. */
export function parseStatState(text: string): { state: string; threads: number } | undefined {
  // comm may hold spaces and parentheses: the state follows the LAST ")".
  const close = text.lastIndexOf(")");
  if (close === -1) return undefined;
  const rest = text.slice(close + 2).split(" ", 18);
  const state = rest[0];
  const threads = Number(rest[17]);
  if (state === undefined || state === "" || !Number.isFinite(threads)) return undefined;
  return { state, threads };
}

/** Telegraf's `processes` fields from per-process states; unknown letters count as `unknown`. */
export function processStateFields(states: ReadonlyArray<{ state: string; threads: number }>): Record<string, number> {
  const fields: Record<string, number> = {
    blocked: 0,
    zombies: 0,
    stopped: 0,
    running: 0,
    sleeping: 0,
    total: states.length,
    unknown: 0,
    dead: 0,
    paging: 0,
    idle: 0,
    parked: 0,
    total_threads: 0,
  };
  for (const s of states) {
    const key = STATE_FIELDS[s.state] ?? "unknown";
    fields[key] = (fields[key] ?? 0) + 1;
    fields.total_threads = (fields.total_threads ?? 0) + s.threads;
  }
  return fields;
}

/**
 * Telegraf's `linux_sysctl_fs` fields from /proc/sys/fs/file-nr and file-max, plus
 * file_used_percent: handles in use (allocated minus free) over the system-wide maximum.
 */
export function fileNrFields(fileNr: string, fileMax: string | undefined): Record<string, number> | undefined {
  const [allocated, free, maxFromNr] = fileNr.trim().split(/\s+/).map(Number);
  if (allocated === undefined || !Number.isFinite(allocated)) return undefined;
  const max = fileMax === undefined ? maxFromNr : Number(fileMax.trim());
  const fields: Record<string, number> = { "file-nr": allocated };
  if (max === undefined || !Number.isFinite(max)) return fields;
  fields["file-max"] = max;
  if (max > 0) fields.file_used_percent = (100 * (allocated - (free ?? 0))) / max;
  return fields;
}

/** The host collector's config section (`collectors.host`). */
export const hostConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect cpu, mem, swap, system, net, diskio, processes and linux_sysctl_fs."),
  percpu: z.boolean().default(true).describe("Also emit one cpu point per core (tag cpu=cpu0, cpu1, ...), as Telegraf's percpu."),
  net: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Emit Telegraf's net counters per interface from /proc/net/dev."),
      interfaces: z.array(z.string().min(1)).default([]).describe("Interfaces to report; empty: every interface not ignored."),
      ignore_interfaces: z.array(z.string().min(1)).default(["lo"]).describe("Interfaces never reported (exact names)."),
    })
    .prefault({})
    .describe("Network interface counters."),
  diskio: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Emit Telegraf's diskio counters per block device from /proc/diskstats."),
      devices: z.array(z.string().min(1)).default([]).describe("Devices to report, e.g. [vda, nvme0n1]; empty: every device not ignored."),
      ignore_devices: regex
        .default("^(loop|ram)\\d+$")
        .describe("Regular expression of device names never reported; default: loop and ram devices."),
    })
    .prefault({})
    .describe("Block device I/O counters; partitions are kept, as in Telegraf."),
  processes: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Emit Telegraf's processes measurement."),
      states: z
        .boolean()
        .default(false)
        .describe(
          "Count every process by state (zombies, stopped, sleeping, ...) by reading each /proc/PID/stat; default: only total, running, blocked and total_threads from /proc/stat and /proc/loadavg.",
        ),
    })
    .prefault({})
    .describe("Process counts."),
  sysctl_fs: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Emit linux_sysctl_fs (file-nr, file-max, file_used_percent) from /proc/sys/fs."),
    })
    .prefault({})
    .describe("System-wide open file handles."),
});

/** Effective host collector config. */
export type HostConfig = z.output<typeof hostConfigSchema>;

/** What the host collector reads besides its config; tests point it at fixture trees. */
export interface HostCollectorDeps {
  /** Where procfs is mounted; point it at a fixture tree or a host's /proc in a container. Default "/proc". */
  procRoot?: string;
}


/** Concurrent /proc/PID/stat reads of the state count. */
const STATE_READ_CONCURRENCY = 32;

/**
 * Collects Telegraf's `cpu` (cpu-total and per core, percent), `mem` and `swap` (bytes),
 * `system` (load averages, n_cpus, uptime in seconds), `net` per interface and `diskio` per
 * block device (cumulative counters), `processes` and `linux_sysctl_fs`. The first pass has no
 * `cpu` point: CPU percent needs two samples, and the previous one lives in this instance.
 * Tags objects are reused from pass to pass for the analyzer's identity fast path.
 */
export function createHostCollector(input: z.input<typeof hostConfigSchema> = {}, deps: HostCollectorDeps = {}): Collector {
  const config: HostConfig = parseSection("host", hostConfigSchema, input);
  const procRoot = deps.procRoot ?? "/proc";
  const netWanted = nameFilter(config.net.interfaces, (n) => config.net.ignore_interfaces.includes(n));
  const ignoreDevice = new RegExp(config.diskio.ignore_devices);
  const diskWanted = nameFilter(config.diskio.devices, (n) => ignoreDevice.test(n));
  const tagsCache = createTagsCache();
  let prevCpu: ProcStatSummary | undefined;

  // Reads one file; a failure is reported against that file and the pass goes on without it.
  const read = async (ctx: CollectContext, name: string): Promise<string | undefined> => {
    const path = join(procRoot, name);
    try {
      return await readText(path);
    } catch (err) {
      ctx.reportError(path, err);
      return undefined;
    }
  };
  const readIf = (ctx: CollectContext, on: boolean, name: string): Promise<string | undefined> =>
    on ? read(ctx, name) : Promise.resolve(undefined);

  return {
    name: "host",
    async collect(ctx) {
      const [stat, meminfo, loadavg, uptime, netDev, diskstats, fileNr, fileMax, processes] = await Promise.all([
        read(ctx, "stat"),
        read(ctx, "meminfo"),
        read(ctx, "loadavg"),
        read(ctx, "uptime"),
        readIf(ctx, config.net.enabled, "net/dev"),
        readIf(ctx, config.diskio.enabled, "diskstats"),
        readIf(ctx, config.sysctl_fs.enabled, "sys/fs/file-nr"),
        readIf(ctx, config.sysctl_fs.enabled, "sys/fs/file-max"),
        config.processes.enabled && config.processes.states ? countStates(ctx, procRoot) : Promise.resolve(undefined),
      ]);
      const points: Point[] = [];
      const emit = (measurement: string, fields: Record<string, number> | undefined, tagKey = "", tagValue = ""): void => {
        if (fields === undefined) return;
        const tags = tagsCache.get(`${measurement}\u0000${tagKey}\u0000${tagValue}\u0000${ctx.host}`, () =>
          tagKey === "" ? { host: ctx.host } : { [tagKey]: tagValue, host: ctx.host },
        );
        points.push({ measurement, tags, fields, timeMs: ctx.nowMs });
      };

      const summary = stat === undefined ? undefined : parseProcStat(stat);
      if (summary !== undefined) {
        if (prevCpu !== undefined) emitCpu(emit, prevCpu, summary, config.percpu);
        prevCpu = summary;
      }
      if (meminfo !== undefined) {
        const mi = parseMeminfo(meminfo);
        emit("mem", memFields(mi));
        emit("swap", swapFields(mi));
      }
      emit("system", systemFields(summary, loadavg, uptime));
      if (netDev !== undefined) {
        for (const [name, c] of parseNetDev(netDev)) if (netWanted(name)) emit("net", { ...c }, "interface", name);
      }
      if (diskstats !== undefined) {
        for (const [name, f] of parseDiskstats(diskstats)) if (diskWanted(name)) emit("diskio", f, "name", name);
      }
      if (config.processes.enabled) {
        emit("processes", processes ?? (await cheapProcessFields(ctx, procRoot, summary, loadavg)));
      }
      if (fileNr !== undefined) emit("linux_sysctl_fs", fileNrFields(fileNr, fileMax));
      tagsCache.endPass();
      return points;
    },
  };
}

type Emit = (measurement: string, fields: Record<string, number> | undefined, tagKey?: string, tagValue?: string) => void;

function emitCpu(emit: Emit, prev: ProcStatSummary, cur: ProcStatSummary, percpu: boolean): void {
  if (percpu) {
    for (const [name, times] of cur.perCpu) {
      const before = prev.perCpu.get(name);
      // A core that came online since the last pass has no baseline yet.
      if (before !== undefined) emit("cpu", cpuUsagePercent(before, times), "cpu", name);
    }
  }
  emit("cpu", cpuUsagePercent(prev.total, cur.total), "cpu", "cpu-total");
}

/** An include list (empty: all) and an exclusion test, as one predicate. */
function nameFilter(include: readonly string[], ignored: (name: string) => boolean): (name: string) => boolean {
  const only = new Set(include);
  return (name) => (only.size > 0 ? only.has(name) : !ignored(name));
}

/** The cheap `processes` fields: pid directories counted, runnable/blocked threads from /proc/stat, threads from loadavg. */
async function cheapProcessFields(
  ctx: CollectContext,
  procRoot: string,
  summary: ProcStatSummary | undefined,
  loadavg: string | undefined,
): Promise<Record<string, number> | undefined> {
  const fields: Record<string, number> = {};
  try {
    fields.total = (await readdir(procRoot)).filter(isDigits).length;
  } catch (err) {
    ctx.reportError(procRoot, err);
  }
  if (summary?.procsRunning !== undefined) fields.running = summary.procsRunning;
  if (summary?.procsBlocked !== undefined) fields.blocked = summary.procsBlocked;
  const threads = loadavg === undefined ? undefined : parseLoadavgThreads(loadavg);
  if (threads !== undefined) fields.total_threads = threads;
  return Object.keys(fields).length === 0 ? undefined : fields;
}

/** Telegraf's full `processes` count: one /proc/PID/stat read per process; exited ones are skipped. */
async function countStates(ctx: CollectContext, procRoot: string): Promise<Record<string, number> | undefined> {
  let names: string[];
  try {
    names = (await readdir(procRoot)).filter(isDigits);
  } catch (err) {
    ctx.reportError(procRoot, err);
    return undefined;
  }
  const states = await mapLimit(names, STATE_READ_CONCURRENCY, async (pid) => {
    try {
      return parseStatState(await readProcFile(join(procRoot, pid, "stat")));
    } catch (err) {
      if (!isGone(err)) ctx.reportError(join(procRoot, pid, "stat"), err);
      return undefined;
    }
  });
  return processStateFields(states.filter((s) => s !== undefined));
}

function systemFields(
  summary: ProcStatSummary | undefined,
  loadavg: string | undefined,
  uptime: string | undefined,
): Record<string, number> | undefined {
  const fields: Record<string, number> = { ...(loadavg === undefined ? {} : parseLoadavg(loadavg)) };
  if (summary !== undefined) fields.n_cpus = summary.nCpus;
  const up = uptime === undefined ? undefined : parseUptimeS(uptime);
  if (up !== undefined) fields.uptime = up;
  return Object.keys(fields).length === 0 ? undefined : fields;
}
