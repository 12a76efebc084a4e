import { join } from "node:path";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { forEachLine, parseMeminfo, readText } from "./procfs.js";

/** Options of the host collector. */
export interface HostCollectorOptions {
  /** Where procfs is mounted; point it at a fixture tree or a host's /proc in a container. Default "/proc". */
  procRoot?: string;
}

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

/** Aggregate CPU times and the number of online CPUs (count of `cpuN` lines). */
export interface ProcStatSummary {
  total: CpuTimes;
  nCpus: number;
}

/** Parses /proc/stat; undefined when it has no `cpu ` line. */
export function parseProcStat(text: string): ProcStatSummary | undefined {
  let total: CpuTimes | undefined;
  let nCpus = 0;
  forEachLine(text, (line) => {
    if (!line.startsWith("cpu")) return;
    if (line.startsWith("cpu ")) total = parseCpuLine(line);
    else nCpus++;
  });
  return total === undefined ? undefined : { total, nCpus };
}

function parseCpuLine(line: string): CpuTimes {
  // Columns after the label; older kernels lack the trailing ones, which then read 0.
  const v = line.slice(4).trim().split(" ", 10).map(Number);
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

/**
 * Collects Telegraf's `cpu` (cpu-total, percent), `mem` and `swap` (bytes) and `system`
 * (load averages, n_cpus, uptime in seconds). The first pass has no `cpu` point: CPU percent
 * needs two samples, and the previous one lives in this instance.
 */
export function createHostCollector(opts: HostCollectorOptions = {}): Collector {
  const procRoot = opts.procRoot ?? "/proc";
  let prevCpu: CpuTimes | undefined;

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

  return {
    name: "host",
    async collect(ctx) {
      const [stat, meminfo, loadavg, uptime] = await Promise.all(
        ["stat", "meminfo", "loadavg", "uptime"].map((f) => read(ctx, f)),
      );
      const points: Point[] = [];
      const emit = (measurement: string, fields: Record<string, number> | undefined, tags: Record<string, string> = {}): void => {
        if (fields !== undefined) points.push({ measurement, tags: { ...tags, host: ctx.host }, fields, timeMs: ctx.nowMs });
      };

      const summary = stat === undefined ? undefined : parseProcStat(stat);
      if (summary !== undefined) {
        if (prevCpu !== undefined) emit("cpu", cpuUsagePercent(prevCpu, summary.total), { cpu: "cpu-total" });
        prevCpu = summary.total;
      }
      if (meminfo !== undefined) {
        const mi = parseMeminfo(meminfo);
        emit("mem", memFields(mi));
        emit("swap", swapFields(mi));
      }
      emit("system", systemFields(summary, loadavg, uptime));
      return points;
    },
  };
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
