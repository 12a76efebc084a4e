import { statfs } from "node:fs/promises";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { hasOption, type MountEntry, parseMountinfo } from "./mountinfo.js";
import { readText } from "./procfs.js";

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

/** Options of the disk collector. */
export interface DiskCollectorOptions {
  /** Mount table to read. Default "/proc/self/mountinfo". */
  mountinfoPath?: string;
  /** Mount points to watch, whatever their fs type; empty or absent means discover real mounts. */
  mounts?: readonly string[];
  /** Filesystem types skipped by discovery. Default {@link DEFAULT_IGNORE_FS}. */
  ignoreFs?: readonly string[];
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
 * Collects Telegraf's `disk` measurement per mount (tags path, device, fstype, mode; fields in
 * bytes, inode counts and percent). A mount that cannot be statfs'd is reported and skipped.
 */
export function createDiskCollector(opts: DiskCollectorOptions = {}): Collector {
  const mountinfoPath = opts.mountinfoPath ?? "/proc/self/mountinfo";
  const explicit = opts.mounts !== undefined && opts.mounts.length > 0 ? [...opts.mounts] : undefined;
  const ignoreFs = opts.ignoreFs ?? DEFAULT_IGNORE_FS;

  const selectMounts = (ctx: CollectContext, text: string): MountEntry[] => {
    if (explicit === undefined) return listRealMounts(text, ignoreFs);
    const { found, missing } = findMounts(text, explicit);
    for (const p of missing) {
      ctx.reportError(p, new Error(`${p} is not a mount point (not in ${mountinfoPath}); list mount points as shown by findmnt in disk.mounts`));
    }
    return found;
  };

  return {
    name: "disk",
    async collect(ctx) {
      let text: string;
      try {
        text = await readText(mountinfoPath);
      } catch (err) {
        ctx.reportError(mountinfoPath, err);
        return [];
      }
      const mounts = selectMounts(ctx, text);
      const points = await Promise.all(mounts.map((m) => statMount(ctx, m)));
      return points.filter((p): p is Point => p !== undefined);
    },
  };
}

async function statMount(ctx: CollectContext, m: MountEntry): Promise<Point | undefined> {
  try {
    const s = await statfs(m.mountPoint);
    return { measurement: "disk", tags: { ...diskTags(m), host: ctx.host }, fields: diskFields(s), timeMs: ctx.nowMs };
  } catch (err) {
    ctx.reportError(m.mountPoint, err);
    return undefined;
  }
}
