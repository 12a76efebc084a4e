import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, realpath, rm, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import picomatch from "picomatch";
import { z } from "zod";
import { duration, durationMs } from "../../config/zod-types.js";
import type { Action, ActionResult, Clock } from "../../core/contracts.js";
import { runProgram } from "./exec.js";

/** `**` walks at most this deep: enough for any log tree, bounded for a pathological one. */
const MAX_WALK_DEPTH = 32;
const OUTPUT_TAIL_CHARS = 4096;
const READ_CHUNK_BYTES = 65_536;
/** journalctl's size suffixes (base 1024). */
const JOURNAL_SIZE = /^\d+[KMGT]?$/;

const root = z
  .string()
  .refine((r) => path.isAbsolute(r), { message: "expected an absolute directory" })
  .refine((r) => !r.split("/").includes(".."), { message: 'a root must not contain ".."' })
  .refine((r) => path.resolve(r) !== "/", { message: 'the root "/" is too wide; name the directory to clean, such as /var/log/app' });

const glob = z
  .string()
  .min(1)
  .refine((g) => !g.startsWith("!"), { message: 'negated globs ("!x") would select everything else; list what to clean instead' })
  .refine((g) => !g.includes(".."), { message: 'a glob must not contain ".."' });

const journalVacuum = z
  .strictObject({
    max_size: z
      .string()
      .regex(JOURNAL_SIZE, { message: 'expected a size such as "500M" or "2G"' })
      .optional()
      .describe('Shrink archived journal files to this total size (journalctl --vacuum-size), e.g. "500M".'),
    max_age: duration.optional().describe('Remove archived journal entries older than this (journalctl --vacuum-time), e.g. "7d".'),
  })
  .refine((j) => j.max_size !== undefined || j.max_age !== undefined, { message: "set max_size, max_age or both" });

/** The `cleanup` action's own keys; the remediator's config adds the common ones (name, on, dry_run…). */
export const cleanupActionSchema = z
  .strictObject({
    type: z.literal("cleanup"),
    roots: z
      .array(root)
      .min(1)
      .optional()
      .describe("With paths: the directories files may be removed from (the allow-list). Absolute; symlinks are never followed, and a root that is itself a symlink is refused."),
    paths: z
      .array(glob)
      .min(1)
      .optional()
      .describe('Globs of files to clean (picomatch), relative to each root ("**/*.log.1") or absolute inside a root. Dot files match only when named so.'),
    older_than: duration.default("7d").describe("With paths: only files last modified longer ago than this."),
    mode: z.enum(["delete", "compress"]).default("delete").describe("With paths: delete the files, or gzip each to FILE.gz (keeping its mtime, owner and mode) and remove the original."),
    max_files: z.number().int().min(1).default(1000).describe("With paths: at most this many files per run, oldest first."),
    journal_vacuum: journalVacuum.optional().describe("Vacuum the systemd journal with journalctl."),
    journalctl: z.string().min(1).default("journalctl").describe("journalctl program (name on PATH or absolute path)."),
    package_cache: z.literal(true).optional().describe("Empty the APT package cache with `apt-get clean`."),
    apt_get: z.string().min(1).default("apt-get").describe("apt-get program (name on PATH or absolute path)."),
    timeout: duration.default("5m").describe("journalctl and apt-get: the process group is killed after this long. Files: no further file is started after this long."),
  })
  .superRefine((c, ctx) => {
    const chosen = [c.paths, c.journal_vacuum, c.package_cache].filter((v) => v !== undefined);
    if (chosen.length !== 1) ctx.addIssue({ code: "custom", message: "set exactly one of paths, journal_vacuum and package_cache" });
    if (c.paths !== undefined && c.roots === undefined) {
      ctx.addIssue({ code: "custom", path: ["roots"], message: "paths needs roots: the directories files may be removed from, e.g. [/var/log/app]" });
    }
    if (c.paths === undefined && c.roots !== undefined) ctx.addIssue({ code: "custom", path: ["roots"], message: "roots applies only with paths" });
    c.paths?.forEach((g, i) => {
      if (path.isAbsolute(g) && rootsHolding(g, c.roots ?? []).length === 0) {
        ctx.addIssue({ code: "custom", path: ["paths", i], message: `"${g}" is outside every root; add its directory to roots or write it relative to a root` });
      }
    });
  });

export type CleanupActionConfig = z.output<typeof cleanupActionSchema>;

export interface CleanupActionDeps {
  /** Environment journalctl and apt-get inherit a few variables from (PATH, HOME, LANG…). */
  baseEnv: Readonly<Record<string, string | undefined>>;
  /** Source of "now" for `older_than`; the system clock by default. */
  clock?: Clock;
}

/** Removes or compresses old files under allow-listed roots, vacuums the journal, or empties the APT cache. */
export function createCleanupAction(config: CleanupActionConfig, deps: CleanupActionDeps): Action {
  if (config.paths !== undefined) return filesAction(config, config.paths, config.roots ?? [], deps.clock ?? { nowMs: () => Date.now() });
  const argv = config.journal_vacuum !== undefined ? journalArgv(config.journalctl, config.journal_vacuum) : [config.apt_get, "clean"];
  const timeoutMs = durationMs(config.timeout);
  const describe = (): string => `cleanup: ${JSON.stringify(argv)}`;
  return {
    type: "cleanup",
    describe,
    target: () => (config.journal_vacuum !== undefined ? "journal" : "package_cache"),
    preview: () => Promise.resolve([JSON.stringify(argv)]),
    run: (_alert, signal) => runProgram({ argv, timeoutMs, baseEnv: deps.baseEnv }, {}, signal),
  };
}

function journalArgv(journalctl: string, j: NonNullable<CleanupActionConfig["journal_vacuum"]>): string[] {
  const argv = [journalctl];
  if (j.max_size !== undefined) argv.push(`--vacuum-size=${j.max_size}`);
  // Whole seconds: journalctl's own time syntax differs from ours ("m" is fine, "1h30m" less so).
  if (j.max_age !== undefined) argv.push(`--vacuum-time=${Math.floor(durationMs(j.max_age) / 1000)}s`);
  return argv;
}

// ---- files -----------------------------------------------------------------------------------

/** Roots (resolved) whose directory lexically holds the static start of an absolute glob. */
function rootsHolding(absGlob: string, roots: readonly string[]): string[] {
  const base = path.resolve(picomatch.scan(absGlob).base || "/");
  return roots.map((r) => path.resolve(r)).filter((r) => (base === r && absGlob.length > r.length + 1) || base.startsWith(`${r}/`));
}

/** One root with the globs that apply to it, relative to it. */
interface RootPlan {
  root: string;
  match: (relPath: string) => boolean;
  maxDepth: number;
}

interface Candidate {
  path: string;
  /** The root's real path: the candidate's real path must stay under it. */
  realRoot: string;
  ino: number;
  dev: number;
  sizeBytes: number;
  mtimeMs: number;
}

interface Selection {
  candidates: Candidate[];
  problems: string[];
}

function planRoots(globs: readonly string[], roots: readonly string[]): RootPlan[] {
  return [...new Set(roots.map((r) => path.resolve(r)))].flatMap((r) => {
    const rel = globs.flatMap((g) => {
      if (!path.isAbsolute(g)) return [g];
      return rootsHolding(g, [r]).length > 0 ? [g.slice(r.length + 1)] : [];
    });
    if (rel.length === 0) return [];
    const maxDepth = rel.some((g) => g.includes("**")) ? MAX_WALK_DEPTH : Math.max(...rel.map((g) => g.split("/").length - 1));
    return [{ root: r, match: picomatch(rel), maxDepth }];
  });
}

function filesAction(config: CleanupActionConfig, globs: readonly string[], roots: readonly string[], clock: Clock): Action {
  const plans = planRoots(globs, roots);
  const olderThanMs = durationMs(config.older_than);
  const select = (): Promise<Selection> =>
    selectFiles(plans, { cutoffMs: clock.nowMs() - olderThanMs, skipGz: config.mode === "compress", maxFiles: config.max_files });
  return {
    type: "cleanup",
    describe: () => `cleanup: ${config.mode} files matching ${JSON.stringify(globs)} under ${JSON.stringify(roots)} older than ${config.older_than} (at most ${config.max_files})`,
    target: () => `path:${roots.join(",")}`,
    preview: async () => (await select()).candidates.map((c) => c.path),
    async run(_alert, signal) {
      const started = Date.now();
      const selection = await select();
      return actOnFiles(selection, config.mode, { signal, deadlineMs: started + durationMs(config.timeout) }, started);
    },
  };
}

/** Every regular file under the roots that a run would act on now, oldest first. Reads only. */
async function selectFiles(plans: readonly RootPlan[], opts: { cutoffMs: number; skipGz: boolean; maxFiles: number }): Promise<Selection> {
  const problems: string[] = [];
  const byPath = new Map<string, Candidate>();
  for (const plan of plans) {
    const realRoot = await openRoot(plan.root, problems);
    if (realRoot === undefined) continue;
    await walk(plan, problems, async (abs, rel) => {
      if (byPath.has(abs) || !plan.match(rel) || (opts.skipGz && abs.endsWith(".gz"))) return;
      const st = await lstatOrReport(abs, problems);
      // Hard links: deleting one frees nothing, compressing one would copy a file from elsewhere.
      if (st === undefined || !st.isFile() || st.nlink !== 1 || st.mtimeMs >= opts.cutoffMs) return;
      byPath.set(abs, { path: abs, realRoot, ino: st.ino, dev: st.dev, sizeBytes: st.size, mtimeMs: st.mtimeMs });
    });
  }
  const candidates = [...byPath.values()].sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1)).slice(0, opts.maxFiles);
  return { candidates, problems };
}

/** The root's real path, or undefined (with a problem) when it is missing, not a directory or a symlink. */
async function openRoot(root: string, problems: string[]): Promise<string | undefined> {
  const st = await lstatOrReport(root, problems);
  if (st === undefined) return undefined;
  if (st.isSymbolicLink()) {
    problems.push(`root ${root} is a symlink; refused (name the directory it points to as the root if that is meant)`);
    return undefined;
  }
  if (!st.isDirectory()) {
    problems.push(`root ${root} is not a directory`);
    return undefined;
  }
  return realpath(root);
}

async function lstatOrReport(p: string, problems: string[]): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") problems.push(`${JSON.stringify(p)}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Visits regular files under the root; symlinks (to files or directories) are never visited or descended. */
async function walk(plan: RootPlan, problems: string[], visit: (abs: string, rel: string) => Promise<void>): Promise<void> {
  const stack: Array<{ dir: string; rel: string; depth: number }> = [{ dir: plan.root, rel: "", depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    let entries;
    try {
      entries = await readdir(next.dir, { withFileTypes: true });
    } catch (err) {
      problems.push(`${JSON.stringify(next.dir)}: ${(err as Error).message}`);
      continue;
    }
    for (const entry of entries) {
      const abs = path.join(next.dir, entry.name);
      const rel = next.rel === "" ? entry.name : `${next.rel}/${entry.name}`;
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory() && next.depth < plan.maxDepth) stack.push({ dir: abs, rel, depth: next.depth + 1 });
      if (entry.isFile()) await visit(abs, rel);
    }
  }
}

interface Tally {
  deleted: number;
  compressed: number;
  failed: number;
  bytesFreed: number;
  lines: string[];
}

async function actOnFiles(selection: Selection, mode: "delete" | "compress", stop: { signal: AbortSignal; deadlineMs: number }, started: number): Promise<ActionResult> {
  const tally: Tally = { deleted: 0, compressed: 0, failed: 0, bytesFreed: 0, lines: [] };
  const problems = [...selection.problems];
  for (const c of selection.candidates) {
    if (stop.signal.aborted || Date.now() > stop.deadlineMs) {
      problems.push(`${stop.signal.aborted ? "aborted" : "timed out"} before every selected file was done`);
      break;
    }
    try {
      await (mode === "delete" ? deleteFile(c, tally) : compressFile(c, tally));
    } catch (err) {
      tally.failed++;
      problems.push(`${JSON.stringify(c.path)}: ${(err as Error).message}`);
    }
  }
  const output = [...tally.lines, ...problems].join("\n");
  return {
    ok: problems.length === 0,
    exitCode: null,
    durationMs: Date.now() - started,
    outputTail: output.slice(-OUTPUT_TAIL_CHARS),
    ...(problems.length === 0 ? {} : { error: `${problems.length} problem(s): ${problems.slice(0, 3).join("; ")}` }),
    details: {
      filesSelected: selection.candidates.length,
      filesDeleted: tally.deleted,
      filesCompressed: tally.compressed,
      filesFailed: tally.failed,
      bytesFreed: tally.bytesFreed,
    },
  };
}

/**
 * Re-checks a candidate right before acting: still the same regular file, not a symlink, and its
 * real path (parents resolved) still under the root's real path, so a directory swapped for a
 * symlink since the walk cannot lead outside.
 */
async function recheck(c: Candidate): Promise<Stats> {
  const st = await lstat(c.path);
  if (!st.isFile() || st.ino !== c.ino || st.dev !== c.dev || st.nlink !== 1) throw new Error("changed since it was selected; left alone");
  const real = await realpath(c.path);
  if (!real.startsWith(`${c.realRoot}/`)) throw new Error(`resolves to ${JSON.stringify(real)}, outside its root; left alone`);
  return st;
}

async function deleteFile(c: Candidate, tally: Tally): Promise<void> {
  const st = await recheck(c);
  await unlink(c.path);
  tally.deleted++;
  tally.bytesFreed += st.size;
  tally.lines.push(`deleted ${JSON.stringify(c.path)} (${st.size} bytes)`);
}

async function compressFile(c: Candidate, tally: Tally): Promise<void> {
  await recheck(c);
  const gzPath = `${c.path}.gz`;
  // O_NOFOLLOW: the last component is never a symlink; O_NONBLOCK: a FIFO swapped in cannot hang the open.
  const src = await open(c.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  let gzBytes: number;
  let srcBytes: number;
  try {
    const st = await src.stat();
    if (!st.isFile() || st.ino !== c.ino || st.dev !== c.dev) throw new Error("changed since it was selected; left alone");
    srcBytes = st.size;
    gzBytes = await writeGzip(src, gzPath, st);
  } finally {
    await src.close();
  }
  try {
    await recheck(c);
    await unlink(c.path);
  } catch (err) {
    await rm(gzPath, { force: true });
    throw err;
  }
  tally.compressed++;
  tally.bytesFreed += srcBytes - gzBytes;
  tally.lines.push(`compressed ${JSON.stringify(c.path)} (${srcBytes} → ${gzBytes} bytes)`);
}

async function* readChunks(fh: FileHandle): AsyncGenerator<Buffer> {
  for (;;) {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(READ_CHUNK_BYTES), 0, READ_CHUNK_BYTES, null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Writes `gzPath` (which must not exist) from `src`, with the source's owner, mode and times; returns its size. */
async function writeGzip(src: FileHandle, gzPath: string, st: Stats): Promise<number> {
  const dst = await open(gzPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    // Plain reads and writes on the handles: fs streams would close them or wait for a close.
    await pipeline(readChunks(src), createGzip(), async (gzipped: AsyncIterable<Buffer>) => {
      for await (const chunk of gzipped) await dst.write(chunk);
    });
    // Owner first: chown clears set-id bits, and a non-root ANSAI may not chown at all.
    await dst.chown(st.uid, st.gid).catch(() => undefined);
    await dst.chmod(st.mode & 0o777);
    await dst.utimes(st.atime, st.mtime);
    const size = (await dst.stat()).size;
    await dst.close();
    return size;
  } catch (err) {
    await dst.close().catch(() => undefined);
    await rm(gzPath, { force: true });
    throw err;
  }
}
