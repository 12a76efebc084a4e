import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(REPO, "dist/cli/main.js");

/** The built CLI must exist: `npm test` builds it first. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it) before the end-to-end tests`);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `ansai-${prefix}-`));
}

/** Mounts a real tmpfs of `sizeMiB`; fails loudly when it cannot (these tests need root). */
export function mountTmpfs(dir: string, sizeMiB: number): () => void {
  mkdirSync(dir, { recursive: true });
  const res = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m`, "tmpfs", dir], { encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`cannot mount a tmpfs at ${dir} (${res.stderr.trim() || res.error?.message}): this end-to-end test needs root; run it as root (CI does)`);
  }
  return () => {
    spawnSync("umount", ["-l", dir]);
  };
}

/** A real memory cgroup (v1 or v2) with a limit, beneath this process's own. */
export function createMemoryCgroup(limitBytes: number): { addPid(pid: number): void; remove(): void; dir: string } {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const own = readFileSync("/proc/self/cgroup", "utf8").split("\n");
  const v1Mount = mountinfo.find((l) => / - cgroup \S+ .*\bmemory\b/.test(l))?.split(" ")[4];
  const v1Path = own.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))?.split(":")[2];
  const v2Mount = mountinfo.find((l) => / - cgroup2 /.test(l))?.split(" ")[4];
  const v2Path = own.find((l) => l.startsWith("0::"))?.slice(3);
  let dir: string;
  let limitFile: string;
  if (v1Mount && v1Path !== undefined) {
    dir = path.join(v1Mount, v1Path, `ansai-test-${process.pid}-${Date.now()}`);
    limitFile = "memory.limit_in_bytes";
  } else if (v2Mount && v2Path !== undefined) {
    dir = path.join(v2Mount, v2Path, `ansai-test-${process.pid}-${Date.now()}`);
    limitFile = "memory.max";
  } else {
    throw new Error("no cgroup memory controller found in /proc/self/mountinfo: this test needs cgroups (v1 memory or v2)");
  }
  try {
    mkdirSync(dir);
    writeFileSync(path.join(dir, limitFile), String(limitBytes));
  } catch (err) {
    throw new Error(`cannot create a memory cgroup at ${dir}: ${(err as Error).message}; this test needs root and a writable cgroup tree`, { cause: err });
  }
  return {
    dir,
    addPid: (pid) => writeFileSync(path.join(dir, "cgroup.procs"), String(pid)),
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // Still has a zombie member; the kernel drops it later.
      }
    },
  };
}

export interface RunningAnsai {
  url: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the built CLI with a config file and waits until it serves. */
export async function startAnsai(configFile: string, cwd: string): Promise<RunningAnsai> {
  requireBuiltCli();
  const proc = spawn(process.execPath, [CLI, "start", "--config", configFile], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const url = await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`ansai start exited with ${proc.exitCode}:\n${out}`);
      return /serving (http:\/\/\S+)/.exec(out)?.[1];
    },
    30_000,
    "ansai start to serve",
  );
  return {
    url,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

/** Polls `fn` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Runs the CLI to completion. */
export function runCli(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  requireBuiltCli();
  const res = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8", timeout: 30_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}
