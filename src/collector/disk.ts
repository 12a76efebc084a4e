import type { Dirent } from "node:fs";
import { lstat, readdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { duration, durationMs } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { parseSection } from "./config-section.js";
import { hasOption, type MountEntry, parseMountinfo } from "./mountinfo.js";
import { createTagsCache, isGone, mapLimit, readText } from "./procfs.js";

/**
 * Filesystem types the disk collector skips when it discovers mounts: kernel pseudo
 * filesystems, memory-backed ones, container layers and read-only images, none of which
 * fill up the way a disk does.
 */
export const DEFAULT_IGNORE_FS: readonly string[] = Object.freeze([
  "autofs",
  "binfmt_misc",
  "bpf",
  "cgroup",
  "cgroup2",
  "configfs",
  "debugfs",
  "devpts",
  "devtmpfs",
  "efivarfs",
  "fuse.gvfsd-fuse",
  "fuse.lxcfs",
  "fuse.portal",
  "fusectl",
  "hugetlbfs",
  "iso9660",
  "mqueue",
  "nsfs",
  "overlay",
  "proc",
  "pstore",
  "ramfs",
  "rpc_pipefs",
  "securityfs",
  "selinuxfs",
  "squashfs",
  "sysfs",
  "tmpfs",
  "tracefs",
]);

/** One directory whose size is measured (`collectors.disk.dirs[]`). */
export const dirSizeSchema = z.strictObject({
  path: z.string().min(1).describe("Directory to measure, e.g. /var/log; the walk never follows symlinks nor leaves its filesystem."),
  max_depth: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("Levels of subdirectories to descend (0: only the directory's own files); default: all."),
  interval: duration.default("5m").describe("How often the directory is walked; the walk runs in the background between passes."),
});

/** The disk collector's config section (`collectors.disk`). */
export const diskConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect disk usage per mount (and dir_size for the listed directories)."),
  mounts: z.array(z.string().min(1)).default([]).describe("Mount points to watch; empty: every real mount."),
  ignore_fs: z.array(z.string()).default([...DEFAULT_IGNORE_FS]).describe("Filesystem types skipped when mounts is empty."),
  dirs: z.array(dirSizeSchema).default([]).describe("Directories whose size and file count are measured, so growth can be attributed."),
  dir_max_entries: z
    .number()
    .int()
    .positive()
    .default(200_000)
    .describe("Entries one directory walk may visit; a bigger tree is reported and emits no dir_size point (narrow the path or raise this)."),
});

/** Effective disk collector config. */
export type DiskConfig = z.output<typeof diskConfigSchema>;

/** What the disk collector reads besides its config; tests point it at fixture files. */
export interface DiskCollectorDeps {
  /** Mount table to read. Default "/proc/self/mountinfo". */
  mountinfoPath?: string;
}


/**
 * Mounts worth watching: not an ignored fs type, and not a second mount of the same
 * device and root (bind mounts, mounts repeated in a namespace); the first one wins.
 */
export function listRealMounts(mountinfoText: string, ignoreFs: readonly string[] = DEFAULT_IGNORE_FS): MountEntry[] {
  const ignored = new Set(ignoreFs);
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const m of parseMountinfo(mountinfoText)) {
    if (ignored.has(m.fsType)) continue;
    const key = `${m.devNo}\u0000${m.root}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
  }
  return out;
}

/** Explicitly listed mount points found in the table, and the listed paths that are not mount points. */
export function findMounts(
  mountinfoText: string,
  paths: readonly string[],
): { found: MountEntry[]; missing: string[] } {
  // A later entry for the same mount point is mounted over the earlier one: that is what a path shows.
  const byPoint = new Map<string, MountEntry>();
  for (const m of parseMountinfo(mountinfoText)) byPoint.set(m.mountPoint, m);
  const found: MountEntry[] = [];
  const missing: string[] = [];
  for (const p of paths) {
    const m = byPoint.get(normalizeMountPath(p));
    if (m === undefined) missing.push(p);
    else found.push(m);
  }
  return { found, missing };
}

function normalizeMountPath(p: string): string {
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  return p.slice(0, end);
}

/** The block and inode counts of statfs(2) that the disk fields are made from. */
export interface FsCounts {
  /** Block size in bytes (Linux reports f_bsize equal to the fragment size for disk filesystems). */
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/**
 * Telegraf's `disk` fields, computed as df does. Bytes: total, free (available to unprivileged
 * users), used; percent: used_percent = used / (used + free), so a disk whose non-reserved
 * space is exhausted reads 100. Percentages are omitted when their denominator is 0.
 */
export function diskFields(s: FsCounts): Record<string, number> {
  const total = s.blocks * s.bsize;
  const free = s.bavail * s.bsize;
  const used = (s.blocks - s.bfree) * s.bsize;
  const inodesUsed = s.files - s.ffree;
  const fields: Record<string, number> = {
    total,
    free,
    used,
    inodes_total: s.files,
    inodes_free: s.ffree,
    inodes_used: inodesUsed,
  };
  if (used + free > 0) fields.used_percent = (100 * used) / (used + free);
  if (s.files > 0) fields.inodes_used_percent = (100 * inodesUsed) / s.files;
  return fields;
}

/** Telegraf's `disk` tags: the device without its /dev/ prefix, and rw/ro from the mount options. */
export function diskTags(m: MountEntry): Record<string, string> {
  return {
    path: m.mountPoint,
    device: m.source.startsWith("/dev/") ? m.source.slice(5) : m.source,
    fstype: m.fsType,
    mode: hasOption(m.mountOptions, "ro") ? "ro" : "rw",
  };
}

/**
 * True when writes to the mount fail: the mount itself or its filesystem (superblock) is
 * read-only. Since Linux 6.x an ext4 error under errors=remount-ro leaves the superblock rw and
 * adds `emergency_ro` to its options (statfs does not show ST_RDONLY then either).
 */
export function isReadOnly(m: MountEntry): boolean {
  return hasOption(m.mountOptions, "ro") || hasOption(m.superOptions, "ro") || hasOption(m.superOptions, "emergency_ro");
}

/**
 * The `read_only` field: 1 when a filesystem that should be writable is not. That is a
 * superblock turned read-only under a mount still marked rw (how an ext4 error remount shows
 * in mountinfo: the `mode` tag stays rw, so the series does not split), or a mount this
 * collector saw writable earlier. A mount read-only from the start (an ro /boot) reads 0.
 */
export function readOnlyField(m: MountEntry, seenWritable: boolean): number {
  if (!isReadOnly(m)) return 0;
  return !hasOption(m.mountOptions, "ro") || seenWritable ? 1 : 0;
}

/** What a directory walk found. */
export interface DirSize {
  /** Sum of the apparent sizes of regular files (bytes), hard links counted once. */
  sizeBytes: number;
  /** Space the regular files occupy on disk (st_blocks × 512), as du counts it. */
  allocatedBytes: number;
  /** Regular files. */
  files: number;
  /** Subdirectories walked (same filesystem). */
  dirs: number;
  /** Directory entries visited, symlinks and skipped mounts included. */
  entries: number;
  /** True when the walk stopped at maxEntries: the sums are then too small. */
  capped: boolean;
  /** Entries that could not be read (permission); the first error is kept. */
  unreadable: number;
  firstError?: unknown;
}

/** Limits of one directory walk. */
export interface DirWalkLimits {
  maxEntries: number;
  /** Levels of subdirectories to descend; undefined: all. */
  maxDepth?: number;
}

/** Directories read at once, and lstat calls in flight per directory: enough to overlap I/O, few enough not to flood the thread pool. */
const WALK_DIR_CONCURRENCY = 4;
const WALK_LSTAT_BATCH = 64;
const BLOCK_BYTES = 512;

/**
 * Measures a directory tree with lstat: symlinks are never followed nor counted, directories
 * on another device (nested mounts) are not entered, hard-linked files count once. Walks one
 * level at a time with bounded concurrency, so the event loop keeps turning. Throws when
 * `root` itself cannot be read or is not a directory.
 */
export async function walkDirSize(root: string, limits: DirWalkLimits): Promise<DirSize> {
  const top = await lstat(root);
  if (!top.isDirectory()) throw new Error(`${root} is not a directory (dir_size measures directories; symlinks are not followed)`);
  const out: DirSize = { sizeBytes: 0, allocatedBytes: 0, files: 0, dirs: 0, entries: 0, capped: false, unreadable: 0 };
  const linked = new Set<number>();
  const fail = (err: unknown): void => {
    if (isGone(err)) return; // removed while walking: normal churn
    out.unreadable++;
    out.firstError ??= err;
  };

  const visitEntry = async (dir: string, d: Dirent, next: string[], descend: boolean): Promise<void> => {
    if (out.entries >= limits.maxEntries) {
      out.capped = true;
      return;
    }
    out.entries++;
    if (!d.isDirectory() && !d.isFile()) return; // symlinks, sockets, fifos, devices hold no data here
    const path = join(dir, d.name);
    try {
      const st = await lstat(path);
      if (st.dev !== top.dev) return; // a nested mount: its space belongs to another filesystem
      if (st.isDirectory()) {
        out.dirs++;
        if (descend) next.push(path);
        return;
      }
      if (st.nlink > 1) {
        if (linked.has(st.ino)) return;
        linked.add(st.ino);
      }
      out.files++;
      out.sizeBytes += st.size;
      out.allocatedBytes += st.blocks * BLOCK_BYTES;
    } catch (err) {
      fail(err);
    }
  };

  const visitDir = async (dir: string, depth: number, next: string[]): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      fail(err);
      return;
    }
    const descend = limits.maxDepth === undefined || depth < limits.maxDepth;
    for (let i = 0; i < entries.length && !out.capped; i += WALK_LSTAT_BATCH) {
      await Promise.all(entries.slice(i, i + WALK_LSTAT_BATCH).map((d) => visitEntry(dir, d, next, descend)));
    }
  };

  let level = [root];
  for (let depth = 0; level.length > 0 && !out.capped; depth++) {
    const next: string[] = [];
    await mapLimit(level, WALK_DIR_CONCURRENCY, (dir) => visitDir(dir, depth, next));
    level = next;
  }
  return out;
}

/** A configured directory and its background walk. */
interface DirState {
  path: string;
  maxDepth?: number;
  intervalMs: number;
  running: boolean;
  lastStartMs?: number;
  /** A finished walk not yet emitted. */
  done?: { size: DirSize } | { error: unknown };
}

/**
 * Collects Telegraf's `disk` measurement per mount (tags path, device, fstype, mode; fields in
 * bytes, inode counts, percent and `read_only`) and `dir_size` per configured directory (tag
 * path; fields size_bytes, allocated_bytes, files). A mount that cannot be statfs'd is
 * reported and skipped. Directory walks run in the background: a pass starts the walks that
 * are due and emits the ones finished since the last pass, so a big tree never holds up
 * collection.
 */
export function createDiskCollector(input: z.input<typeof diskConfigSchema> = {}, deps: DiskCollectorDeps = {}): Collector {
  const config: DiskConfig = parseSection("disk", diskConfigSchema, input);
  const mountinfoPath = deps.mountinfoPath ?? "/proc/self/mountinfo";
  const explicit = config.mounts.length > 0 ? config.mounts : undefined;
  const tagsCache = createTagsCache();
  // Mounts seen writable, by device and mount point: a later ro is then a change, not the design.
  const writable = new Set<string>();
  const dirs: DirState[] = config.dirs.map((d) => ({
    path: d.path,
    maxDepth: d.max_depth,
    intervalMs: durationMs(d.interval),
    running: false,
  }));

  const selectMounts = (ctx: CollectContext, text: string): MountEntry[] => {
    if (explicit === undefined) return listRealMounts(text, config.ignore_fs);
    const { found, missing } = findMounts(text, explicit);
    for (const p of missing) {
      ctx.reportError(p, new Error(`${p} is not a mount point (not in ${mountinfoPath}); list mount points as shown by findmnt in disk.mounts`));
    }
    return found;
  };

  const statMount = async (ctx: CollectContext, m: MountEntry): Promise<Point | undefined> => {
    let s: FsCounts;
    try {
      s = await statfs(m.mountPoint);
    } catch (err) {
      ctx.reportError(m.mountPoint, err);
      return undefined;
    }
    const key = `${m.devNo}\u0000${m.mountPoint}`;
    const fields = { ...diskFields(s), read_only: readOnlyField(m, writable.has(key)) };
    if (!isReadOnly(m)) writable.add(key);
    const t = diskTags(m);
    const tags = tagsCache.get(`${t.path}\u0000${t.device}\u0000${t.fstype}\u0000${t.mode}\u0000${ctx.host}`, () => ({ ...t, host: ctx.host }));
    return { measurement: "disk", tags, fields, timeMs: ctx.nowMs };
  };

  const startWalk = (d: DirState, nowMs: number): void => {
    d.running = true;
    d.lastStartMs = nowMs;
    walkDirSize(d.path, { maxEntries: config.dir_max_entries, maxDepth: d.maxDepth }).then(
      (size) => {
        d.done = { size };
        d.running = false;
      },
      (error: unknown) => {
        d.done = { error };
        d.running = false;
      },
    );
  };

  const dirPoints = (ctx: CollectContext): Point[] => {
    const points: Point[] = [];
    for (const d of dirs) {
      const p = d.done === undefined ? undefined : dirPoint(ctx, d, d.done, config.dir_max_entries);
      d.done = undefined;
      if (p !== undefined) {
        const tags = tagsCache.get(`dir_size\u0000${d.path}\u0000${ctx.host}`, () => ({ path: d.path, host: ctx.host }));
        points.push({ ...p, tags });
      }
      const due = d.lastStartMs === undefined || ctx.nowMs - d.lastStartMs >= d.intervalMs;
      if (!d.running && due) startWalk(d, ctx.nowMs);
    }
    return points;
  };

  return {
    name: "disk",
    async collect(ctx) {
      const walked = dirPoints(ctx);
      let text: string;
      try {
        text = await readText(mountinfoPath);
      } catch (err) {
        ctx.reportError(mountinfoPath, err);
        tagsCache.endPass();
        return walked;
      }
      const mounts = selectMounts(ctx, text);
      const points = await Promise.all(mounts.map((m) => statMount(ctx, m)));
      tagsCache.endPass();
      return [...points.filter((p): p is Point => p !== undefined), ...walked];
    },
  };
}

/** The dir_size point of a finished walk (tags added by the caller), or undefined after reporting why not. */
function dirPoint(
  ctx: CollectContext,
  d: DirState,
  done: { size: DirSize } | { error: unknown },
  maxEntries: number,
): Omit<Point, "tags"> | undefined {
  if ("error" in done) {
    ctx.reportError(d.path, done.error);
    return undefined;
  }
  const s = done.size;
  if (s.capped) {
    ctx.reportError(
      d.path,
      new Error(`${d.path} has more than ${maxEntries} entries; no dir_size point (partial sums would look like shrinkage). Narrow the path, set max_depth, or raise disk.dir_max_entries.`),
    );
    return undefined;
  }
  if (s.unreadable > 0) {
    const first = s.firstError instanceof Error ? s.firstError.message : String(s.firstError);
    ctx.reportError(d.path, new Error(`${s.unreadable} entries under ${d.path} could not be read and are not counted; first: ${first}`));
  }
  return {
    measurement: "dir_size",
    fields: { size_bytes: s.sizeBytes, allocated_bytes: s.allocatedBytes, files: s.files },
    timeMs: ctx.nowMs,
  };
}
