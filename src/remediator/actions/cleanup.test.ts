import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Alert } from "../../core/contracts.js";
import { cleanupActionSchema, createCleanupAction } from "./cleanup.js";

const alert = { id: "disk/x", rule: "disk_full", tags: {} } as unknown as Alert;
const noAbort = new AbortController().signal;
const DAY_MS = 86_400_000;
const cleanup = (input: unknown) => createCleanupAction(cleanupActionSchema.parse(input), { baseEnv: process.env });

let base: string;
beforeAll(() => {
  base = mkdtempSync(path.join(tmpdir(), "ansai-cleanup-"));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
/** A fresh directory per test, so tests do not see each other's files. */
function freshDir(name: string): string {
  const d = path.join(base, `${++n}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Writes a file whose mtime lies `ageDays` in the past. */
function put(file: string, content: string | Buffer, ageDays: number): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  const t = new Date(Date.now() - ageDays * DAY_MS);
  utimesSync(file, t, t);
  return file;
}

/** Every path under dir (lstat, not following symlinks), relative, sorted. */
function tree(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(name);
    if (e.isDirectory()) out.push(...tree(dir, name));
  }
  return out.sort();
}

describe("cleanup files", () => {
  it("deletes exactly the old matching files, the ones preview listed, and counts the bytes", async () => {
    const root = freshDir("delete");
    const old = [put(path.join(root, "a.log"), "x".repeat(1000), 10), put(path.join(root, "sub/deep/b.log"), "y".repeat(234), 30)];
    put(path.join(root, "new.log"), "fresh", 1);
    put(path.join(root, "old.txt"), "not matched", 30);
    put(path.join(root, ".hidden.log"), "dot files only when named", 30);
    const action = cleanup({ type: "cleanup", roots: [root], paths: ["**/*.log"], older_than: "7d" });

    const preview = await action.preview?.(alert, noAbort);
    expect([...(preview ?? [])].sort()).toEqual([...old].sort());
    const result = await action.run(alert, noAbort);

    expect(result).toMatchObject({ ok: true, details: { filesSelected: 2, filesDeleted: 2, filesCompressed: 0, filesFailed: 0, bytesFreed: 1234 } });
    expect(tree(root)).toEqual([".hidden.log", "new.log", "old.txt", "sub", "sub/deep"]);
    expect(action.target?.(alert)).toBe(`path:${root}`);
  });

  it("compresses to FILE.gz with the same content and mtime, and never compresses a .gz again", async () => {
    const root = freshDir("compress");
    const content = "line of a log\n".repeat(500);
    const file = put(path.join(root, "app.log.1"), content, 10);
    chmodSync(file, 0o640);
    const mtimeMs = statSync(file).mtimeMs;
    put(path.join(root, "app.log.2.gz"), "already compressed", 20);
    const action = cleanup({ type: "cleanup", roots: [root], paths: ["app.log.*"], older_than: "1d", mode: "compress" });

    expect(await action.preview?.(alert, noAbort)).toEqual([file]);
    const result = await action.run(alert, noAbort);

    const gz = statSync(`${file}.gz`);
    expect(result).toMatchObject({ ok: true, details: { filesCompressed: 1, filesDeleted: 0, bytesFreed: content.length - gz.size } });
    expect(gunzipSync(readFileSync(`${file}.gz`)).toString()).toBe(content);
    expect(gz.mtimeMs).toBe(mtimeMs);
    expect(gz.mode & 0o777).toBe(0o640);
    expect(tree(root)).toEqual(["app.log.1.gz", "app.log.2.gz"]);
  });

  it("leaves symlinks alone: a link to a file outside, its target, a linked directory and what it holds", async () => {
    const root = freshDir("links-root");
    const outside = freshDir("links-outside");
    const secret = put(path.join(outside, "secret.log"), "keep me", 30);
    put(path.join(outside, "dir/inner.log"), "keep me too", 30);
    symlinkSync(secret, path.join(root, "link.log"));
    symlinkSync(path.join(outside, "dir"), path.join(root, "linked-dir"));
    const inside = put(path.join(root, "real.log"), "go", 30);
    symlinkSync(inside, path.join(root, "link-to-inside.log"));
    linkSync(secret, path.join(root, "hardlink.log"));
    const action = cleanup({ type: "cleanup", roots: [root], paths: ["**/*.log"], older_than: "1d" });

    expect(await action.preview?.(alert, noAbort)).toEqual([inside]);
    const result = await action.run(alert, noAbort);

    expect(result).toMatchObject({ ok: true, details: { filesDeleted: 1 } });
    expect(readFileSync(secret, "utf8")).toBe("keep me");
    expect(readFileSync(path.join(outside, "dir/inner.log"), "utf8")).toBe("keep me too");
    expect(tree(root)).toEqual(["hardlink.log", "link-to-inside.log", "link.log", "linked-dir"]);
  });

  it("refuses a root that is a symlink and touches nothing through it", async () => {
    const real = freshDir("real-root");
    const file = put(path.join(real, "old.log"), "keep", 30);
    const linkRoot = path.join(freshDir("link-root"), "root");
    symlinkSync(real, linkRoot);
    const action = cleanup({ type: "cleanup", roots: [linkRoot], paths: ["*.log"], older_than: "1d" });

    expect(await action.preview?.(alert, noAbort)).toEqual([]);
    const result = await action.run(alert, noAbort);

    expect(result.ok).toBe(false);
    expect(result.error).toContain(`root ${linkRoot} is a symlink; refused`);
    expect(existsSync(file)).toBe(true);
  });

  it.each([
    { mode: "delete", expected: [] },
    { mode: "compress", expected: ["$(touch pwned).log.gz", "; rm -rf x.log.gz", "a\nb.log.gz", "q'\"`id`.log.gz"] },
  ])("$mode treats names with newlines and shell syntax as plain names", async ({ mode, expected }) => {
    const root = freshDir(`names-${mode}`);
    for (const name of ["a\nb.log", "$(touch pwned).log", "; rm -rf x.log", "q'\"`id`.log"]) put(path.join(root, name), name, 30);
    const victim = put(path.join(root, "x"), "what rm -rf would hit", 30);
    const action = cleanup({ type: "cleanup", roots: [root], paths: ["*.log"], older_than: "1d", mode });

    expect(await action.preview?.(alert, noAbort)).toHaveLength(4);
    expect(await action.run(alert, noAbort)).toMatchObject({ ok: true, details: { filesSelected: 4 } });

    expect(tree(root)).toEqual([...expected, "x"].sort());
    expect(readFileSync(victim, "utf8")).toBe("what rm -rf would hit");
    for (const place of [root, process.cwd()]) expect(readdirSync(place)).not.toContain("pwned");
  });

  it("caps a run at max_files, oldest first; absolute globs apply inside their root only", async () => {
    const root = freshDir("cap");
    const other = freshDir("cap-other");
    const files = [40, 30, 20, 10].map((age) => put(path.join(root, `f${age}.log`), "z", age));
    put(path.join(other, "f50.log"), "z", 50);
    const action = cleanup({ type: "cleanup", roots: [root, other], paths: [`${root}/*.log`], older_than: "1d", max_files: 2 });
    expect(await action.preview?.(alert, noAbort)).toEqual(files.slice(0, 2));
    expect(await action.run(alert, noAbort)).toMatchObject({ ok: true, details: { filesDeleted: 2, bytesFreed: 2 } });
    expect(tree(root)).toEqual(["f10.log", "f20.log"]);
    expect(tree(other)).toEqual(["f50.log"]);
  });
});

describe("cleanup on a real filesystem (tmpfs)", () => {
  let mountDir: string;
  beforeAll(() => {
    mountDir = mkdtempSync(path.join(tmpdir(), "ansai-tmpfs-"));
    // Needs root (CAP_SYS_ADMIN); a failure here fails the test loudly.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountDir]);
  });
  afterAll(() => {
    execFileSync("umount", [mountDir]);
    rmSync(mountDir, { recursive: true, force: true });
  });

  it("frees the space it reports", async () => {
    const mib = Buffer.alloc(1 << 20, 7);
    for (const name of ["a.log", "b.log", "c.log"]) put(path.join(mountDir, name), mib, 10);
    put(path.join(mountDir, "today.log"), mib, 0);
    const freeBytes = async (): Promise<number> => {
      const s = await statfs(mountDir);
      return s.bavail * s.bsize;
    };
    const before = await freeBytes();
    expect(before).toBeLessThan(1 << 20);

    const result = await cleanup({ type: "cleanup", roots: [mountDir], paths: ["*.log"], older_than: "1d" }).run(alert, noAbort);

    expect(result).toMatchObject({ ok: true, details: { filesDeleted: 3, bytesFreed: 3 << 20 } });
    expect((await freeBytes()) - before).toBe(3 << 20);
  });
});

describe("cleanup with programs", () => {
  const record = (): string => path.join(base, "argv");
  /** A stand-in program that records the argv it got (no systemd journal or APT cache is touched). */
  function recorder(name: string): string {
    const file = path.join(base, name);
    writeFileSync(file, `#!/bin/sh\nprintf '%s\\0' "$@" > '${record()}'\n`);
    chmodSync(file, 0o755);
    return file;
  }
  afterEach(() => rmSync(record(), { force: true }));
  const recorded = (): string[] => readFileSync(record(), "utf8").split("\u0000").slice(0, -1);

  it("vacuums the journal by size and age", async () => {
    const action = cleanup({ type: "cleanup", journal_vacuum: { max_size: "500M", max_age: "7d" }, journalctl: recorder("journalctl") });
    expect(await action.preview?.(alert, noAbort)).toEqual([JSON.stringify([path.join(base, "journalctl"), "--vacuum-size=500M", "--vacuum-time=604800s"])]);
    expect(await action.run(alert, noAbort)).toMatchObject({ ok: true, exitCode: 0 });
    expect(recorded()).toEqual(["--vacuum-size=500M", "--vacuum-time=604800s"]);
    expect(action.target?.(alert)).toBe("journal");
  });

  it("empties the package cache", async () => {
    const action = cleanup({ type: "cleanup", package_cache: true, apt_get: recorder("apt-get") });
    expect(await action.run(alert, noAbort)).toMatchObject({ ok: true, exitCode: 0 });
    expect(recorded()).toEqual(["clean"]);
    expect(action.target?.(alert)).toBe("package_cache");
  });
});

describe("cleanupActionSchema", () => {
  it.each([
    { input: { paths: ["/etc/*.conf"], roots: ["/var/log"] }, message: '"/etc/*.conf" is outside every root' },
    { input: { paths: ["/var/log2/*.log"], roots: ["/var/log"] }, message: "outside every root" },
    { input: { paths: ["/var/*/x.log"], roots: ["/var/log"] }, message: "outside every root" },
    { input: { paths: ["/var/log"], roots: ["/var/log"] }, message: "outside every root" },
    { input: { paths: ["../etc/*"], roots: ["/var/log"] }, message: 'must not contain ".."' },
    { input: { paths: ["!keep.log"], roots: ["/var/log"] }, message: "negated globs" },
    { input: { paths: ["*.log"], roots: ["/"] }, message: "too wide" },
    { input: { paths: ["*.log"], roots: ["var/log"] }, message: "absolute directory" },
    { input: { paths: ["*.log"], roots: ["/var/log/../../etc"] }, message: 'must not contain ".."' },
    { input: { paths: ["*.log"], roots: [] }, message: "Too small" },
    { input: { paths: ["*.log"] }, message: "paths needs roots" },
    { input: { roots: ["/var/log"], package_cache: true }, message: "roots applies only with paths" },
    { input: {}, message: "set exactly one of paths, journal_vacuum and package_cache" },
    { input: { package_cache: true, journal_vacuum: { max_age: "7d" } }, message: "set exactly one of" },
    { input: { journal_vacuum: {} }, message: "set max_size, max_age or both" },
    { input: { journal_vacuum: { max_size: "500 MB" } }, message: 'expected a size such as "500M"' },
    { input: { package_cache: true, name: "common keys belong to the wrapper" }, message: "Unrecognized key" },
  ])("rejects $input", ({ input, message }) => {
    const parsed = cleanupActionSchema.safeParse({ type: "cleanup", ...input });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join("\n")).toContain(message);
  });

  it("accepts an absolute glob inside a root and fills defaults", () => {
    expect(cleanupActionSchema.parse({ type: "cleanup", roots: ["/var/log/app"], paths: ["/var/log/app/**/*.gz", "*.log.1"] })).toEqual({
      type: "cleanup",
      roots: ["/var/log/app"],
      paths: ["/var/log/app/**/*.gz", "*.log.1"],
      older_than: "7d",
      mode: "delete",
      max_files: 1000,
      journalctl: "journalctl",
      apt_get: "apt-get",
      timeout: "5m",
    });
  });

  it("keeps its checks when the common keys are added with extend", () => {
    const wrapped = cleanupActionSchema.extend({ name: z.string() });
    expect(wrapped.safeParse({ type: "cleanup", name: "c", roots: ["/var/log"], paths: ["/etc/*"] }).error?.issues[0]?.message).toContain("outside every root");
  });
});
