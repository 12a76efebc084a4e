import { readdir, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CollectContext } from "../core/contracts.js";
import { errnoCode, isDigits, isGone, mapLimit, readProcFile, readText } from "./procfs.js";

// Finding processes in /proc by command-line pattern, executable name or pidfile: one matcher
// for every collector that watches processes (procstat, service).

/** Bytes per page for RSS: 4096 on Linux x86-64 and the default arm64 kernels; not read from the system. */
export const PAGE_SIZE_BYTES = 4096;
/** The kernel truncates comm to 15 characters (TASK_COMM_LEN - 1). */
const COMM_MAX_CHARS = 15;
/** Concurrent /proc reads per pass: enough to hide latency, few enough not to exhaust fds. */
export const READ_CONCURRENCY = 32;

/** The fields of /proc/PID/stat the collectors use. */
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

/** How a configured entry names its processes (the schema has checked that exactly one is set). */
export type ProcessSelector = { kind: "pattern"; value: string; re: RegExp } | { kind: "exe"; value: string } | { kind: "pidfile"; value: string };

/** The selector of an entry with `pattern`, `exe` or `pidfile`. */
export function selectorOf(m: { pattern?: string | undefined; exe?: string | undefined; pidfile?: string | undefined }): ProcessSelector {
  if (m.pattern !== undefined) return { kind: "pattern", value: m.pattern, re: new RegExp(m.pattern) };
  if (m.exe !== undefined) return { kind: "exe", value: m.exe };
  return { kind: "pidfile", value: m.pidfile ?? "" };
}

/** /proc readers for one collection pass; command lines are read once per pid and pass. */
export interface ProcessScan {
  /** `file` of a process (e.g. "limits"); undefined when the process is gone, other errors reported. */
  readPidFile(pid: number, file: string): Promise<string | undefined>;
  readStat(pid: number): Promise<PidStat | undefined>;
  /** Every process's stat, by pid. */
  scanAll(): Promise<Map<number, PidStat>>;
  /** Arguments joined by spaces, as `ps` and `pgrep -f` show them. */
  cmdline(pid: number): Promise<string | undefined>;
  exeMatches(s: PidStat, exe: string): Promise<boolean>;
}

export function createProcessScan(ctx: CollectContext, procRoot: string): ProcessScan {
  const pidPath = (pid: number, file: string): string => join(procRoot, String(pid), file);
  const cmdlineCache = new Map<number, Promise<string | undefined>>();

  const readPidFile = async (pid: number, file: string): Promise<string | undefined> => {
    try {
      return await readProcFile(pidPath(pid, file));
    } catch (err) {
      if (!isGone(err)) ctx.reportError(pidPath(pid, file), err);
      return undefined;
    }
  };

  const readStat = async (pid: number): Promise<PidStat | undefined> => {
    const text = await readPidFile(pid, "stat");
    return text === undefined ? undefined : parsePidStat(pid, text);
  };

  return {
    readPidFile,
    readStat,
    async scanAll() {
      let names: string[];
      try {
        names = await readdir(procRoot);
      } catch (err) {
        ctx.reportError(procRoot, err);
        return new Map();
      }
      const stats = await mapLimit(names.filter(isDigits).map(Number), READ_CONCURRENCY, readStat);
      const out = new Map<number, PidStat>();
      for (const s of stats) if (s !== undefined) out.set(s.pid, s);
      return out;
    },
    cmdline(pid) {
      let p = cmdlineCache.get(pid);
      if (p === undefined) {
        // Arguments are NUL-terminated.
        p = readPidFile(pid, "cmdline").then((t) => t?.split("\u0000").join(" ").trimEnd());
        cmdlineCache.set(pid, p);
      }
      return p;
    },
    async exeMatches(s, exe) {
      if (s.comm === exe) return true;
      // comm is truncated: a long name can only be confirmed from the executable's path.
      if (exe.length <= COMM_MAX_CHARS || s.comm !== exe.slice(0, COMM_MAX_CHARS)) return false;
      try {
        return basename(await readlink(pidPath(s.pid, "exe"))) === exe;
      } catch {
        return false;
      }
    },
  };
}

/**
 * The processes a selector finds among `stats`, ascending by pid; undefined when the lookup itself
 * failed (reported). A missing pidfile means the daemon is stopped: no process, not an error.
 * The collector's own process never matches a pattern (its argv may hold the pattern itself).
 */
export async function findProcesses(ctx: CollectContext, scan: ProcessScan, sel: ProcessSelector, stats: ReadonlyMap<number, PidStat>): Promise<PidStat[] | undefined> {
  if (sel.kind === "pidfile") {
    const pid = await readPidfile(ctx, sel.value);
    if (pid === undefined) return undefined;
    if (pid === null) return [];
    const stat = stats.get(pid) ?? (await scan.readStat(pid));
    return stat === undefined ? [] : [stat];
  }
  const all = [...stats.values()].sort((a, b) => a.pid - b.pid);
  if (sel.kind === "exe") {
    const hits = await mapLimit(all, READ_CONCURRENCY, (s) => scan.exeMatches(s, sel.value));
    return all.filter((_, i) => hits[i]);
  }
  const cmdlines = await mapLimit(all, READ_CONCURRENCY, (s) => scan.cmdline(s.pid));
  return all.filter((s, i) => {
    const c = cmdlines[i];
    return s.pid !== process.pid && c !== undefined && c !== "" && sel.re.test(c);
  });
}

/** The pid in a pidfile; null when the file does not exist (stopped); undefined when unreadable or not a pid (reported). */
async function readPidfile(ctx: CollectContext, file: string): Promise<number | null | undefined> {
  let text: string;
  try {
    text = (await readText(file)).trim();
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    ctx.reportError(file, err);
    return undefined;
  }
  if (isDigits(text)) return Number(text);
  ctx.reportError(file, new Error(`pidfile ${file} does not hold a pid (read ${JSON.stringify(text.slice(0, 40))})`));
  return undefined;
}
