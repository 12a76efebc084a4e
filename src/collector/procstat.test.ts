import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AnsaiError } from "../core/errors.js";
import type { Point } from "../core/point.js";
import { parseMountinfo } from "./mountinfo.js";
import {
  cgroupIdentity,
  createProcstatCollector,
  findCgroupMounts,
  membershipIdentity,
  parseMaxOpenFiles,
  parseOomKills,
  parseCgroupLimit,
  parseCgroupMembership,
  type ProcessMatch,
} from "./procstat.js";
import { PAGE_SIZE_BYTES, parsePidStat } from "./processes.js";
import { onePoint, testContext } from "./test-helpers.js";

const FIXTURE = new URL("../../test/fixtures/proc-procstat/", import.meta.url).pathname;
const PROC = join(FIXTURE, "proc");
const CGROUP = join(FIXTURE, "cgroup");
const RUN = join(FIXTURE, "run");
const MIB = 1024 * 1024;
const FIXTURE_MEMTOTAL_BYTES = 24684084 * 1024;

describe("parsePidStat", () => {
  const tail = "S 1 2 2 0 -1 4194560 1 0 0 0 150 50 0 0 20 0 4 0 12345 524288000 25600 18446744073709551615";
  it.each([
    ["my (weird) proc", "my (weird) proc"],
    ["a) b", "a) b"],
    ["(sd-pam)", "(sd-pam)"],
    ["with space", "with space"],
    ["", ""],
  ])("comm %j", (comm, want) => {
    const s = parsePidStat(7, `7 (${comm}) ${tail}\n`);
    expect(s).toEqual({
      pid: 7,
      comm: want,
      numThreads: 4,
      startTicks: 12345,
      cpuTicks: 200,
      vsizeBytes: 524288000,
      rssBytes: 25600 * PAGE_SIZE_BYTES,
    });
  });

  it.each(["", "7 no parens S 1", "7 (short) S 1 2 3"])("rejects %j", (text) => expect(parsePidStat(7, text)).toBeUndefined());
});

describe("cgroup parsing", () => {
  it.each([
    ["hybrid", "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n", { v1MemoryPath: "/process_api/abc", v1SystemdPath: "/", v2Path: "/" }],
    ["v2 only", "0::/system.slice/nginx.service\n", { v2Path: "/system.slice/nginx.service" }],
    ["v1 with co-mounted controllers", "5:cpuacct,memory,cpu:/docker/x\n", { v1MemoryPath: "/docker/x" }],
    ["v1 without memory", "3:cpuset:/\n2:memsomething:/x\n", {}],
    ["a path with colons", "0::/a:b:c\n", { v2Path: "/a:b:c" }],
  ])("membership: %s", (_what, text, want) => expect(parseCgroupMembership(text)).toEqual(want));

  it.each([
    ["max\n", undefined],
    ["9223372036854771712\n", undefined],
    ["4611686018427387904\n", undefined],
    ["268435456\n", 268435456],
    ["garbage", undefined],
  ])("limit %j", (text, want) => expect(parseCgroupLimit(text)).toBe(want));

  it("finds the hierarchies in this machine's (hybrid) mount table, re-rooted", async () => {
    const text = await readFile(join(PROC, "self/mountinfo"), "utf8");
    expect(findCgroupMounts(text, "/x/cg")).toEqual({
      v1Memory: { dir: "/x/cg/memory", root: "/" },
      v2: { dir: "/x/cg/unified", root: "/" },
    });
  });

  it("finds a pure v2 host and a container's non-/ root", () => {
    const text = "35 23 0:29 /kubepods/pod1 /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    expect(findCgroupMounts(text, "/sys/fs/cgroup")).toEqual({ v2: { dir: "/sys/fs/cgroup", root: "/kubepods/pod1" } });
  });
});

describe("match validation", () => {
  it.each<[string, ProcessMatch]>([
    ["none", { name: "x" }],
    ["two", { name: "x", exe: "a", pidfile: "/run/a.pid" }],
    ["bad regex", { name: "x", pattern: "([" }],
  ])("rejects %s with ANSAI_CONFIG_INVALID", (_what, m) => {
    expect(() => createProcstatCollector({ top: 0, match: [m] })).toThrow(AnsaiError);
    try {
      createProcstatCollector({ top: 0, match: [m] });
    } catch (err) {
      expect((err as AnsaiError).code).toBe("ANSAI_CONFIG_INVALID");
      expect((err as AnsaiError).message).toContain('"x"');
    }
  });

  it("accepts absent selectors given as undefined", () => {
    expect(createProcstatCollector({ top: 0, match: [{ name: "x", pattern: undefined, exe: "nginx", pidfile: undefined }] }).name).toBe("procstat");
  });
});

describe("procstat collector over a fixture /proc", () => {
  const matches: ProcessMatch[] = [
    { name: "worker", pattern: "worker\\.py --queue" },
    { name: "api", exe: "api-server-long-name" },
    { name: "nginx", exe: "nginx" },
    { name: "sleepy", pidfile: join(RUN, "sleepy.pid"), memory_limit: 123_456_789 },
    { name: "dead", pidfile: join(RUN, "dead.pid") },
    { name: "bad", pidfile: join(RUN, "garbage.pid") },
    { name: "stopped", pidfile: join(RUN, "no-such.pid") },
  ];
  const collector = () => createProcstatCollector({ top: 0, match: matches }, { procRoot: PROC, cgroupRoot: CGROUP });

  it.each([
    {
      what: "pattern on the cmdline, cgroup v1 limit of its own cgroup",
      tags: { process_name: "worker", pid: "4242", pattern: "worker\\.py --queue" },
      fields: {
        memory_rss: 25600 * 4096,
        memory_vms: 524288000,
        num_threads: 4,
        num_fds: 4,
        fd_limit: 1024,
        fd_used_percent: (100 * 4) / 1024,
        memory_oom_kills: 2,
        memory_limit: 536870912,
        memory_usage: 104857600,
      },
    },
    {
      what: "exe longer than comm, confirmed from /proc/PID/exe; cgroup v2 memory.max and memory.events; its systemd unit",
      tags: { process_name: "api", pid: "4243", exe: "api-server-long-name", systemd_unit: "api.service" },
      fields: {
        memory_rss: 12800 * 4096,
        memory_vms: 1073741824,
        num_threads: 12,
        num_fds: 2,
        fd_limit: 65536,
        fd_used_percent: (100 * 2) / 65536,
        memory_oom_kills: 3,
        memory_limit: 268435456,
        memory_usage: 52428800,
      },
    },
    {
      what: "unlimited cgroup falls back to MemTotal, without usage; unlimited fds; a docker container from the name=systemd path",
      tags: { process_name: "nginx", pid: "4245", exe: "nginx", container_id: "3f4e8a2b9c1d" },
      fields: { memory_rss: 2560 * 4096, memory_vms: 60000000, num_threads: 1, num_fds: 6, memory_limit: FIXTURE_MEMTOTAL_BYTES },
    },
    {
      what: "a parent's limit caps an unlimited child; usage is the parent's; a containerd container from the unified path",
      tags: { process_name: "nginx", pid: "4246", exe: "nginx", container_id: "0123456789ab" },
      fields: {
        memory_rss: 5120 * 4096,
        memory_vms: 61000000,
        num_threads: 1,
        num_fds: 9,
        fd_limit: 1024,
        fd_used_percent: (100 * 9) / 1024,
        memory_limit: 1073741824,
        memory_usage: 300000000,
      },
    },
    {
      what: "pidfile with a configured limit",
      tags: { process_name: "sleepy", pid: "4247", pidfile: join(RUN, "sleepy.pid") },
      fields: { memory_rss: 1000 * 4096, memory_vms: 8000000, num_threads: 1, num_fds: 3, fd_limit: 1024, fd_used_percent: (100 * 3) / 1024, memory_limit: 123_456_789 },
    },
  ])("$what", async ({ tags, fields }) => {
    const ctx = testContext(1_000, "h1");
    const points = await collector().collect(ctx);
    const p = onePoint(points, "procstat", { pid: tags.pid });
    expect(p).toEqual({ measurement: "procstat", tags: { ...tags, host: "h1" }, fields, timeMs: 1_000 });
  });

  it("emits procstat_lookup per match and reports only the unreadable pidfile", async () => {
    const ctx = testContext(1_000, "h1");
    const points = await collector().collect(ctx);
    expect(points.filter((p) => p.measurement === "procstat")).toHaveLength(5);
    const lookup = (name: string): Point => onePoint(points, "procstat_lookup", { process_name: name });
    expect(lookup("nginx").fields).toEqual({ pid_count: 2, running: 2, result_code: 0 });
    expect(lookup("dead").fields).toEqual({ pid_count: 0, running: 0, result_code: 0 });
    expect(lookup("dead").tags).toEqual({
      process_name: "dead",
      pidfile: join(RUN, "dead.pid"),
      pid_finder: "native",
      result: "success",
      host: "h1",
    });
    expect(lookup("bad").tags.result).toBe("lookup_error");
    expect(lookup("bad").fields).toEqual({ pid_count: 0, running: 0, result_code: 1 });
    // No pidfile: the daemon is stopped (as the service collector reads it), not a failed lookup.
    expect(lookup("stopped").fields).toEqual({ pid_count: 0, running: 0, result_code: 0 });
    // pid 77 has no stat (it exited mid-scan) and is skipped silently.
    expect(ctx.errors.map((e) => e.item)).toEqual([join(RUN, "garbage.pid")]);
    expect(String(ctx.errors[0]?.err)).toContain("does not hold a pid");
  });

  it("top N by RSS skips kernel threads and processes already emitted by a match", async () => {
    const topOnly = createProcstatCollector({ top: 3, match: [] }, { procRoot: PROC, cgroupRoot: CGROUP });
    const points = await topOnly.collect(testContext(0));
    expect(points.map((p) => [p.tags.pid, p.tags.process_name])).toEqual([
      ["4242", "my (weird) proc"],
      ["4243", "api-server-long"],
      ["4246", "nginx"],
    ]);
    const both = createProcstatCollector({ top: 10, match: [{ name: "worker", pattern: "worker" }] }, { procRoot: PROC, cgroupRoot: CGROUP });
    const all = (await both.collect(testContext(0))).filter((p) => p.measurement === "procstat");
    // "worker" matches the python worker and the nginx worker; top adds the rest, none twice.
    expect(all.map((p) => [p.tags.pid, p.tags.process_name])).toEqual([
      ["4242", "worker"],
      ["4246", "worker"],
      ["4243", "api-server-long"],
      ["4245", "nginx"],
      ["4247", "sleepy"],
    ]);
  });

  describe("CPU between passes", () => {
    let root = "";
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), "ansai-procstat-"));
      await cp(FIXTURE, root, { recursive: true, verbatimSymlinks: true });
    });
    afterAll(() => rm(root, { recursive: true, force: true }));

    it("is omitted on first sighting, a percent of one core after, and reset by pid reuse", async () => {
      const proc = join(root, "proc");
      const c = createProcstatCollector({ top: 10, match: [] }, { procRoot: proc, cgroupRoot: join(root, "cgroup") });
      const first = await c.collect(testContext(10_000));
      expect(first.every((p) => p.fields.cpu_usage === undefined)).toBe(true);

      const edit = async (pid: number, from: string, to: string): Promise<void> => {
        const file = join(proc, String(pid), "stat");
        await writeFile(file, (await readFile(file, "utf8")).replace(from, to));
      };
      await edit(4242, " 150 50 ", " 250 150 "); // +200 ticks = 2 s of CPU in 10 s
      await edit(4243, " 22000 ", " 22999 "); // same pid, new process
      const second = await c.collect(testContext(20_000));
      expect(onePoint(second, "procstat", { pid: "4242" }).fields.cpu_usage).toBeCloseTo(20, 10);
      expect(onePoint(second, "procstat", { pid: "4243" }).fields.cpu_usage).toBeUndefined();
      expect(onePoint(second, "procstat", { pid: "4246" }).fields.cpu_usage).toBe(0);
    });
  });
});

describe("procstat collector on this machine", () => {
  const children: ChildProcess[] = [];
  const marker = `ansai-test-marker-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  async function spawnMarked(code: string, tag: string): Promise<ChildProcess & { pid: number }> {
    const child = spawn(process.execPath, ["-e", code, `${marker}-${tag}`], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
    if (child.pid === undefined) throw new Error("child has no pid");
    return child as ChildProcess & { pid: number };
  }

  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }

  afterEach(async () => {
    await Promise.all(children.splice(0).map(stop));
  });

  it("finds a spawned child by pattern with its RSS, fds and a memory limit", async () => {
    const child = await spawnMarked("setInterval(()=>{},1000)", "idle");
    const c = createProcstatCollector({ top: 0, match: [{ name: "idle-child", pattern: `${marker}-idle` }] });
    const ctx = testContext(Date.now());
    const points = await c.collect(ctx);
    expect(ctx.errors).toEqual([]);
    const p = onePoint(points, "procstat");
    expect(p.tags).toMatchObject({ process_name: "idle-child", pid: String(child.pid), pattern: `${marker}-idle` });
    expect(Number(p.fields.memory_rss)).toBeGreaterThan(0);
    expect(Number(p.fields.memory_vms)).toBeGreaterThan(Number(p.fields.memory_rss));
    expect(Number(p.fields.num_fds)).toBeGreaterThanOrEqual(3);
    expect(Number(p.fields.num_threads)).toBeGreaterThanOrEqual(1);
    expect(Number(p.fields.memory_limit)).toBeGreaterThan(0);
    expect(onePoint(points, "procstat_lookup").fields).toEqual({ pid_count: 1, running: 1, result_code: 0 });
  });

  it("never matches its own process", async () => {
    const points = await createProcstatCollector({ top: 0, match: [{ name: "all", pattern: "." }] }).collect(testContext(0));
    expect(points.length).toBeGreaterThan(1);
    expect(points.some((p) => p.tags.pid === String(process.pid))).toBe(false);
  });

  it("lists the top processes by RSS, largest first", async () => {
    const points = await createProcstatCollector({ top: 5, match: [] }).collect(testContext(0));
    expect(points.length).toBeGreaterThan(0);
    expect(points.length).toBeLessThanOrEqual(5);
    const rss = points.map((p) => Number(p.fields.memory_rss));
    expect(rss.every((r) => r > 0)).toBe(true);
    expect([...rss].sort((a, b) => b - a)).toEqual(rss);
  });

  it("skips a pid that has exited, without an error", async () => {
    const child = await spawnMarked("setInterval(()=>{},1000)", "gone");
    const dir = await mkdtemp(join(tmpdir(), "ansai-pidfile-"));
    const pidfile = join(dir, "gone.pid");
    await writeFile(pidfile, `${child.pid}\n`);
    try {
      await stop(child);
      const ctx = testContext(0);
      const c = createProcstatCollector({ top: 0, match: [{ name: "gone", pidfile }, { name: "gone2", pattern: `${marker}-gone` }] });
      const points = await c.collect(ctx);
      expect(ctx.errors).toEqual([]);
      expect(points.filter((p) => p.measurement === "procstat")).toEqual([]);
      expect(onePoint(points, "procstat_lookup", { process_name: "gone" }).fields).toEqual({ pid_count: 0, running: 0, result_code: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("measures a busy child above 20 % of a core on the second pass", async () => {
    const child = await spawnMarked("for(;;){}", "busy");
    const c = createProcstatCollector({ top: 0, match: [{ name: "busy", pattern: `${marker}-busy` }] });
    const first = await c.collect(testContext(Date.now()));
    expect(onePoint(first, "procstat", { pid: String(child.pid) }).fields.cpu_usage).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1_000));
    const second = await c.collect(testContext(Date.now()));
    const cpu = Number(onePoint(second, "procstat", { pid: String(child.pid) }).fields.cpu_usage);
    expect(cpu).toBeGreaterThan(20);
    expect(cpu).toBeLessThan(150);
  });

  describe("in a cgroup v1 memory cgroup limited to 256 MiB", () => {
    let cgDir = "";
    beforeAll(async () => {
      cgDir = await createTestMemoryCgroup(256 * MIB);
    });
    afterAll(async () => {
      await Promise.all(children.splice(0).map(stop));
      if (cgDir !== "") await rmdir(cgDir);
    });

    it("reports memory_limit = 268435456 and the cgroup's usage", async () => {
      // v1 charges a cgroup only for memory touched after joining it: keep touching a little.
      const child = await spawnMarked("const k=[];setInterval(()=>{if(k.length<20)k.push(Buffer.alloc(1<<20).fill(1))},50)", "cg");
      await writeFile(join(cgDir, "cgroup.procs"), String(child.pid));
      await new Promise((r) => setTimeout(r, 500));
      const c = createProcstatCollector({ top: 0, match: [{ name: "limited", pattern: `${marker}-cg` }] });
      const ctx = testContext(Date.now());
      const p = onePoint(await c.collect(ctx), "procstat");
      expect(ctx.errors).toEqual([]);
      expect(p.tags.pid).toBe(String(child.pid));
      expect(p.fields.memory_limit).toBe(256 * MIB);
      expect(Number(p.fields.memory_usage)).toBeGreaterThan(0);
      expect(Number(p.fields.memory_usage)).toBeLessThan(256 * MIB);
    });
  });

  describe("in a cgroup v1 memory cgroup limited to 128 MiB where a hog is OOM-killed", () => {
    let cgDir = "";
    beforeAll(async () => {
      cgDir = await createTestMemoryCgroup(128 * MIB);
    });
    afterAll(async () => {
      await Promise.all(children.splice(0).map(stop));
      if (cgDir !== "") await rmdir(cgDir);
    });

    it("reports memory_oom_kills >= 1 on the survivor, as the cgroup's memory.oom_control says", async () => {
      const survivor = await spawnMarked("setInterval(()=>{},1000)", "survivor");
      // The hog waits on stdin so it is inside the cgroup before it allocates.
      const hog = spawn(process.execPath, ["-e", "process.stdin.once('data',()=>{const a=[];for(;;)a.push(Buffer.alloc(8<<20,1))})", `${marker}-hog`], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      children.push(hog);
      await once(hog, "spawn");
      await writeFile(join(cgDir, "cgroup.procs"), String(survivor.pid));
      await writeFile(join(cgDir, "cgroup.procs"), String(hog.pid));
      const exited = once(hog, "exit");
      hog.stdin?.write("go\n");
      const [, signal] = (await exited) as [number | null, string | null];
      expect(signal).toBe("SIGKILL");

      const ctx = testContext(Date.now());
      const p = onePoint(await createProcstatCollector({ top: 0, match: [{ name: "survivor", pattern: `${marker}-survivor` }] }).collect(ctx), "procstat");
      expect(ctx.errors).toEqual([]);
      const fromFile = parseOomKills(await readFile(join(cgDir, "memory.oom_control"), "utf8"));
      expect(fromFile).toBeGreaterThanOrEqual(1);
      expect(p.fields.memory_oom_kills).toBe(fromFile);
      expect(p.fields.memory_limit).toBe(128 * MIB);
    });
  });

  it("reports fd_limit = 100 for a child started with prlimit --nofile=100:100", async () => {
    const child = spawn("prlimit", ["--nofile=100:100", "--", process.execPath, "-e", "setInterval(()=>{},1000)", `${marker}-fds`], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
    const c = createProcstatCollector({ top: 0, match: [{ name: "fds", pattern: `${marker}-fds` }] });
    // prlimit execs node in place: wait until the pid's command line is node's.
    let p: Point | undefined;
    for (let i = 0; i < 100 && p === undefined; i++) {
      p = (await c.collect(testContext(0))).find((x) => x.measurement === "procstat");
      if (p === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(p?.tags.pid).toBe(String(child.pid));
    expect(p?.fields.fd_limit).toBe(100);
    expect(p?.fields.fd_used_percent).toBe(Number(p?.fields.num_fds));
  });

  it("keeps one tags object per process from pass to pass", async () => {
    await spawnMarked("setInterval(()=>{},1000)", "stable");
    const c = createProcstatCollector({ top: 3, match: [{ name: "stable", pattern: `${marker}-stable` }] });
    const first = await c.collect(testContext(0));
    const second = await c.collect(testContext(1));
    expect(first.length).toBeGreaterThan(1);
    // The top-3 set may change between passes on a busy machine (a process exits or grows);
    // every process seen in both passes, and always the matched child, keeps its tags object.
    let both = 0;
    for (const p of first) {
      const again = second.find((q) => q.measurement === p.measurement && q.tags.pid === p.tags.pid && q.tags.process_name === p.tags.process_name);
      if (again === undefined) continue;
      both++;
      expect(again.tags).toBe(p.tags);
    }
    const stable = first.find((p) => p.measurement === "procstat" && p.tags.process_name === "stable");
    expect(stable).toBeDefined();
    expect(second.find((q) => q.measurement === "procstat" && q.tags.process_name === "stable")?.tags).toBe(stable?.tags);
    expect(both).toBeGreaterThan(1);
  });
});

/** A v1 memory cgroup under this process's own, limited to `limitBytes`; the caller removes it. */
async function createTestMemoryCgroup(limitBytes: number): Promise<string> {
  const mounts = findCgroupMounts(await readFile("/proc/self/mountinfo", "utf8"), "/sys/fs/cgroup");
  const v1 = mounts.v1Memory;
  if (v1 === undefined) {
    const types = parseMountinfo(await readFile("/proc/self/mountinfo", "utf8")).map((m) => m.fsType);
    throw new Error(`no cgroup v1 memory hierarchy in /proc/self/mountinfo (fs types: ${[...new Set(types)].join(", ")})`);
  }
  const own = parseCgroupMembership(await readFile("/proc/self/cgroup", "utf8")).v1MemoryPath ?? "/";
  const dir = join(v1.dir, own, `ansai-test-${Math.random().toString(36).slice(2, 10)}`);
  try {
    await mkdir(dir);
    await writeFile(join(dir, "memory.limit_in_bytes"), String(limitBytes));
  } catch (err) {
    throw new Error(`cannot create the test memory cgroup ${dir} (needs root and a writable v1 memory hierarchy): ${String(err)}`, { cause: err });
  }
  return dir;
}

describe("cgroup identity, OOM kills and fd limits", () => {
  const id = "3f4e8a2b9c1d0e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";
  it.each([
    ["a system service", "/system.slice/nginx.service", { systemdUnit: "nginx.service" }],
    ["a template instance", "/system.slice/system-getty.slice/getty@tty1.service", { systemdUnit: "getty@tty1.service" }],
    ["a user service: the innermost service wins", "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", { systemdUnit: "foo.service" }],
    ["docker, cgroupfs driver", `/docker/${id}`, { containerId: "3f4e8a2b9c1d" }],
    ["docker, systemd driver", `/system.slice/docker-${id}.scope`, { containerId: "3f4e8a2b9c1d" }],
    ["kubernetes with containerd", `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7a1b.slice/cri-containerd-${id}.scope`, { containerId: "3f4e8a2b9c1d" }],
    ["kubernetes, cgroupfs driver", `/kubepods/burstable/pod7a1b/${id}`, { containerId: "3f4e8a2b9c1d" }],
    ["CRI-O", `/kubepods.slice/crio-${id}.scope`, { containerId: "3f4e8a2b9c1d" }],
    ["rootless podman under the user manager: not the manager's unit", `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope/container`, { containerId: "3f4e8a2b9c1d" }],
    ["podman's conmon is not in the container", `/machine.slice/libpod-conmon-${id}.scope`, {}],
    ["systemd inside a container keeps both", `/docker/${id}/system.slice/nginx.service`, { systemdUnit: "nginx.service", containerId: "3f4e8a2b9c1d" }],
    ["a session scope", "/user.slice/user-0.slice/session-3.scope", {}],
    ["a 32-hex id is not a container", "/process_api/6016d31edcb65b23bf6f4a81f7dac54c", {}],
    ["the root", "/", {}],
  ])("%s", (_what, path, want) => expect(cgroupIdentity(path)).toEqual(want));

  it("merges unified, name=systemd and memory paths, first hierarchy first", () => {
    expect(membershipIdentity({ v2Path: "/", v1SystemdPath: "/system.slice/a.service", v1MemoryPath: `/docker/${id}` })).toEqual({
      systemdUnit: "a.service",
      containerId: "3f4e8a2b9c1d",
    });
    expect(membershipIdentity({ v2Path: "/system.slice/b.service", v1SystemdPath: "/system.slice/a.service" })).toEqual({ systemdUnit: "b.service" });
    expect(membershipIdentity({})).toEqual({});
  });

  it.each([
    ["v1 memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7],
    ["v2 memory.events", "low 0\nhigh 0\nmax 41\noom 3\noom_kill 3\noom_group_kill 0\n", 3],
    ["a kernel before 4.13", "oom_kill_disable 0\nunder_oom 0\n", undefined],
  ])("oom kills from %s", (_what, text, want) => expect(parseOomKills(text)).toBe(want));

  it.each([
    ["Max open files            1024                 4096                 files     \n", 1024],
    ["Max open files            unlimited            unlimited            files     \n", undefined],
    ["Max processes             96365                96365                processes \n", undefined],
  ])("fd limit of %j", (text, want) => expect(parseMaxOpenFiles(`Limit                     Soft Limit           Hard Limit           Units     \n${text}`)).toBe(want));
});
