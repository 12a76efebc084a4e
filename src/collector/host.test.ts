import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHostCollector,
  cpuUsagePercent,
  fileNrFields,
  memFields,
  parseDiskstats,
  parseLoadavg,
  parseLoadavgThreads,
  parseNetDev,
  parseProcStat,
  parseStatState,
  parseUptimeS,
  swapFields,
} from "./host.js";
import { parseMeminfo } from "./procfs.js";
import { onePoint, testContext } from "./test-helpers.js";

const FIXTURE = new URL("../../test/fixtures/proc-host/", import.meta.url).pathname;
const KIB = 1024;

describe("host collector over a recorded /proc", () => {
  let root: string;
  beforeAll(async () => {
    // A private copy: the second pass swaps in stat.next, recorded 3 s after stat on a busy core.
    root = await mkdtemp(join(tmpdir(), "ansai-host-"));
    await cp(FIXTURE, root, { recursive: true });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("emits mem, swap and system on the first pass and cpu only from the second", async () => {
    const c = createHostCollector({}, { procRoot: root });
    expect(c.name).toBe("host");
    const ctx1 = testContext(1_000);
    const first = await c.collect(ctx1);
    expect(ctx1.errors).toEqual([]);
    expect([...new Set(first.map((p) => p.measurement))].sort()).toEqual(["diskio", "linux_sysctl_fs", "mem", "net", "processes", "swap", "system"]);
    for (const p of first) {
      expect(p.tags.host).toBe("test-host");
      expect(p.timeMs).toBe(1_000);
    }

    const total = 24684084 * KIB;
    const available = 24091900 * KIB;
    expect(onePoint(first, "mem").fields).toEqual({
      total,
      available,
      used: total - available,
      free: 23815404 * KIB,
      buffers: 9996 * KIB,
      cached: (460920 + 39024) * KIB,
      used_percent: (100 * (total - available)) / total,
      available_percent: (100 * available) / total,
    });
    expect(onePoint(first, "swap").fields).toEqual({ total: 0, used: 0, free: 0, used_percent: 0 });
    expect(onePoint(first, "system").fields).toEqual({ load1: 0.73, load5: 0.27, load15: 0.1, n_cpus: 2, uptime: 272 });

    await rename(join(root, "stat.next"), join(root, "stat"));
    const second = await c.collect(testContext(11_000));
    const cpu = onePoint(second, "cpu", { cpu: "cpu-total" });
    expect(cpu.tags).toEqual({ cpu: "cpu-total", host: "test-host" });
    // Deltas: user 461, system 17, idle 99, iowait 23 of 600 ticks.
    expect(cpu.fields.usage_user).toBeCloseTo((100 * 461) / 600, 10);
    expect(cpu.fields.usage_system).toBeCloseTo((100 * 17) / 600, 10);
    expect(cpu.fields.usage_idle).toBeCloseTo((100 * 99) / 600, 10);
    expect(cpu.fields.usage_iowait).toBeCloseTo((100 * 23) / 600, 10);
    expect(cpu.fields.usage_nice).toBe(0);
    expect(cpu.fields.usage_steal).toBe(0);
    // Per core, as Telegraf's percpu: cpu0 moved user 178, system 7, idle 98, iowait 17 of 300 ticks.
    expect(second.filter((p) => p.measurement === "cpu").map((p) => p.tags.cpu)).toEqual(["cpu0", "cpu1", "cpu-total"]);
    const cpu0 = onePoint(second, "cpu", { cpu: "cpu0" });
    expect(cpu0.tags).toEqual({ cpu: "cpu0", host: "test-host" });
    expect(cpu0.fields.usage_user).toBeCloseTo((100 * 178) / 300, 10);
    expect(cpu0.fields.usage_idle).toBeCloseTo((100 * 98) / 300, 10);
    // The same tags object as the first pass, so the analyzer's identity fast path hits.
    expect(onePoint(second, "net", { interface: "eth0" }).tags).toBe(onePoint(first, "net", { interface: "eth0" }).tags);
  });

  it("emits net per interface without lo, diskio per device without loop, processes and linux_sysctl_fs", async () => {
    const points = await createHostCollector({}, { procRoot: FIXTURE }).collect(testContext(1_000));
    expect(points.filter((p) => p.measurement === "net").map((p) => p.tags.interface)).toEqual(["ifb0", "ifb1", "eth0"]);
    expect(onePoint(points, "net", { interface: "eth0" })).toEqual({
      measurement: "net",
      tags: { interface: "eth0", host: "test-host" },
      fields: { bytes_recv: 314559845, packets_recv: 9766, err_in: 0, drop_in: 0, bytes_sent: 994182, packets_sent: 7134, err_out: 0, drop_out: 0 },
      timeMs: 1_000,
    });
    expect(points.filter((p) => p.measurement === "diskio").map((p) => p.tags.name)).toEqual(["vda", "zram0", "vda1"]);
    expect(onePoint(points, "diskio", { name: "vda" }).fields).toEqual({
      reads: 69428,
      merged_reads: 9814,
      read_bytes: 2461178 * 512,
      read_time: 40089,
      writes: 353717,
      merged_writes: 42355,
      write_bytes: 14129456 * 512,
      write_time: 260275,
      iops_in_progress: 0,
      io_time: 15540,
      weighted_io_time: 303570,
    });
    // The cheap count: pid directories, procs_running/procs_blocked of /proc/stat, threads of loadavg.
    expect(onePoint(points, "processes").fields).toEqual({ total: 4, running: 2, blocked: 0, total_threads: 118 });
    expect(onePoint(points, "linux_sysctl_fs").fields).toEqual({ "file-nr": 455, "file-max": 2466170, file_used_percent: (100 * 455) / 2466170 });
  });

  it.each([
    { what: "percpu off", config: { percpu: false }, measurement: "cpu", tag: "cpu", want: ["cpu-total"] },
    { what: "only listed interfaces, lo included", config: { net: { interfaces: ["lo", "eth0"] } }, measurement: "net", tag: "interface", want: ["lo", "eth0"] },
    { what: "a custom ignore list", config: { net: { ignore_interfaces: ["ifb0", "ifb1"] } }, measurement: "net", tag: "interface", want: ["lo", "eth0"] },
    { what: "only listed devices", config: { diskio: { devices: ["loop3", "vda"] } }, measurement: "diskio", tag: "name", want: ["loop3", "vda"] },
    { what: "a custom device pattern", config: { diskio: { ignore_devices: "^(loop|zram)" } }, measurement: "diskio", tag: "name", want: ["vda", "vda1"] },
    { what: "net off", config: { net: { enabled: false } }, measurement: "net", tag: "interface", want: [] },
  ])("honours $what", async ({ config, measurement, tag, want }) => {
    const own = await mkdtemp(join(tmpdir(), "ansai-host-"));
    await cp(FIXTURE, own, { recursive: true });
    const c = createHostCollector(config, { procRoot: own });
    await c.collect(testContext(0));
    await rename(join(own, "stat.next"), join(own, "stat"));
    const points = await c.collect(testContext(1));
    await rm(own, { recursive: true, force: true });
    expect(points.filter((p) => p.measurement === measurement).map((p) => p.tags[tag])).toEqual(want);
  });

  it("counts every process by state when asked, as Telegraf's processes", async () => {
    const points = await createHostCollector({ processes: { states: true } }, { procRoot: FIXTURE }).collect(testContext(0));
    expect(onePoint(points, "processes").fields).toEqual({
      blocked: 0,
      zombies: 1,
      stopped: 1,
      running: 0,
      sleeping: 2,
      total: 4,
      unknown: 0,
      dead: 0,
      paging: 0,
      idle: 0,
      parked: 0,
      total_threads: 13 + 1 + 1 + 2,
    });
  });

  it("reports each unreadable file and emits nothing", async () => {
    const ctx = testContext(0);
    const points = await createHostCollector({}, { procRoot: join(FIXTURE, "no-such-dir") }).collect(ctx);
    expect(points).toEqual([]);
    expect(ctx.errors.map((e) => e.item).sort()).toEqual(
      ["", "diskstats", "loadavg", "meminfo", "net/dev", "stat", "sys/fs/file-max", "sys/fs/file-nr", "uptime"].map((f) => join(FIXTURE, "no-such-dir", f)),
    );
  });
});

describe("cpuUsagePercent", () => {
  const line = (v: number[]): string => `cpu  ${v.join(" ")}\ncpu0 ${v.join(" ")}\nintr 1 2\n`;
  const times = (v: number[]) => {
    const s = parseProcStat(line(v));
    if (s === undefined) throw new Error("no cpu line");
    return s.total;
  };

  it.each([
    {
      what: "guest time is taken out of user, as Telegraf does",
      prev: [100, 10, 50, 800, 5, 1, 2, 0, 20, 0],
      cur: [200, 10, 100, 1050, 5, 1, 2, 0, 70, 0],
      want: { usage_user: 12.5, usage_system: 12.5, usage_idle: 62.5, usage_guest: 12.5, usage_nice: 0 },
    },
    {
      what: "older kernels with 4 columns",
      prev: [0, 0, 0, 0],
      cur: [30, 0, 10, 60],
      want: { usage_user: 30, usage_system: 10, usage_idle: 60, usage_steal: 0 },
    },
  ])("$what", ({ prev, cur, want }) => {
    const got = cpuUsagePercent(times(prev), times(cur));
    expect(got).toMatchObject(want);
  });

  it.each([
    ["no time passed", [1, 1, 1, 1], [1, 1, 1, 1]],
    ["counters went backwards", [9, 9, 9, 9], [1, 1, 1, 1]],
  ])("is undefined when %s", (_what, prev, cur) => {
    expect(cpuUsagePercent(times(prev), times(cur))).toBeUndefined();
  });

  it("parseProcStat is undefined without a cpu line", () => {
    expect(parseProcStat("intr 1 2\nctxt 3\n")).toBeUndefined();
  });
});

describe("memory parsing", () => {
  it.each([
    {
      what: "swap in use",
      text: "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nSwapTotal: 2000 kB\nSwapFree: 500 kB\n",
      mem: { total: 1000 * KIB, available: 400 * KIB, used: 600 * KIB, used_percent: 60, available_percent: 40 },
      swap: { total: 2000 * KIB, free: 500 * KIB, used: 1500 * KIB, used_percent: 75 },
    },
    {
      what: "a kernel without MemAvailable estimates it from free and caches",
      text: "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\nSReclaimable: 50 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
      mem: { available: 400 * KIB, cached: 250 * KIB, used: 600 * KIB },
      swap: { total: 0, used_percent: 0 },
    },
  ])("$what", ({ text, mem, swap }) => {
    const mi = parseMeminfo(text);
    expect(memFields(mi)).toMatchObject(mem);
    expect(swapFields(mi)).toMatchObject(swap);
  });

  it("keeps unit-less counts as counts", () => {
    expect(parseMeminfo("HugePages_Total:       3\nHugepagesize:    2048 kB\n")).toEqual(
      new Map([
        ["HugePages_Total", 3],
        ["Hugepagesize", 2048 * KIB],
      ]),
    );
  });

  it("has no mem point without MemTotal", () => {
    expect(memFields(parseMeminfo("MemFree: 1 kB\n"))).toBeUndefined();
  });
});

describe("loadavg and uptime", () => {
  it.each([
    ["0.73 0.27 0.10 2/118 3826\n", { load1: 0.73, load5: 0.27, load15: 0.1 }],
    ["12.00 8.50 4.25 9/1000 1\n", { load1: 12, load5: 8.5, load15: 4.25 }],
    ["garbage\n", undefined],
  ])("parses %j", (text, want) => expect(parseLoadavg(text)).toEqual(want));

  it.each([
    ["272.19 458.01\n", 272],
    ["0.99 1.00\n", 0],
    ["", undefined],
  ])("uptime of %j is %s s", (text, want) => expect(parseUptimeS(text)).toBe(want));
});

describe("host collector on this machine", () => {
  it("reports CPU percentages that sum to 100 and plausible memory", async () => {
    const c = createHostCollector();
    const ctx = testContext(Date.now());
    await c.collect(ctx);
    const until = Date.now() + 300;
    while (Date.now() < until); // burn a little CPU so the interval has ticks in it
    const points = await c.collect(testContext(Date.now()));
    expect(ctx.errors).toEqual([]);
    const cpu = onePoint(points, "cpu", { cpu: "cpu-total" }).fields;
    const sum = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
      .reduce((s, k) => s + Number(cpu[k]), 0);
    // Guest moves out of user into its own field, so all the parts still add up to 100.
    expect(sum).toBeCloseTo(100, 6);
    const mem = onePoint(points, "mem").fields;
    expect(Number(mem.total)).toBeGreaterThan(0);
    expect(Number(mem.used_percent)).toBeGreaterThan(0);
    expect(Number(mem.used_percent)).toBeLessThan(100);
    expect(Number(onePoint(points, "system").fields.n_cpus)).toBeGreaterThanOrEqual(1);
  });
});

describe("host parsers", () => {
  it.each([
    ["no space after the colon", "h1\nh2\n  wlan0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", ["wlan0"], { bytes_recv: 1, packets_recv: 2, err_in: 3, drop_in: 4, bytes_sent: 9, packets_sent: 10, err_out: 11, drop_out: 12 }],
    ["a truncated line is skipped", "h1\nh2\n  eth9: 1 2 3\n", [], undefined],
  ])("net/dev: %s", (_what, text, names, first) => {
    const got = parseNetDev(text);
    expect([...got.keys()]).toEqual(names);
    expect(got.get(names[0] ?? "")).toEqual(first);
  });

  it.each([
    ["a 2.6 kernel's 14 columns", "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n", { reads: 1, merged_reads: 2, read_bytes: 1536, read_time: 4, writes: 5, merged_writes: 6, write_bytes: 3584, write_time: 8, iops_in_progress: 9, io_time: 10, weighted_io_time: 11 }],
    ["a 5.5 kernel's 20 columns", " 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", { reads: 1, weighted_io_time: 11 }],
    ["a malformed line", " 8 0 sdz 1 2 x\n", undefined],
  ])("diskstats: %s", (_what, text, want) => {
    const [first] = parseDiskstats(text).values();
    if (want === undefined) expect(first).toBeUndefined();
    else expect(first).toMatchObject(want);
  });

  it.each([
    ["1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 23 1 2\n", { state: "S", threads: 1 }],
    ["9 (a) b) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 7 0 23 0 0\n", { state: "Z", threads: 7 }],
    ["garbage", undefined],
  ])("stat state of %j", (text, want) => expect(parseStatState(text)).toEqual(want));

  it.each([
    ["1024\t0\t4096\n", "4096\n", { "file-nr": 1024, "file-max": 4096, file_used_percent: 25 }],
    ["1024\t24\t4096\n", undefined, { "file-nr": 1024, "file-max": 4096, file_used_percent: (100 * 1000) / 4096 }],
    ["oops\n", "4096\n", undefined],
  ])("file-nr %j with file-max %j", (nr, max, want) => expect(fileNrFields(nr, max)).toEqual(want));

  it.each([
    ["0.73 0.27 0.10 2/118 3826\n", 118],
    ["0.73 0.27 0.10\n", undefined],
  ])("threads of loadavg %j", (text, want) => expect(parseLoadavgThreads(text)).toBe(want));
});

describe("host collector's breadth on this machine", () => {
  const veth = `ansai-v${process.pid % 10000}`;
  beforeAll(() => {
    try {
      execFileSync("ip", ["link", "add", veth, "type", "veth", "peer", "name", `${veth}p`], { stdio: "pipe" });
    } catch (err) {
      throw new Error(`cannot create the veth pair ${veth} (these tests need root and iproute2): ${String(err)}`, { cause: err });
    }
  });
  afterAll(() => {
    execFileSync("ip", ["link", "del", veth], { stdio: "pipe" });
  });

  it("has one cpu point per core plus cpu-total, net for a real interface, diskio for a real disk", async () => {
    const c = createHostCollector();
    await c.collect(testContext(Date.now()));
    const until = Date.now() + 100;
    while (Date.now() < until); // some ticks for the interval
    const ctx = testContext(Date.now());
    const points = await c.collect(ctx);
    expect(ctx.errors).toEqual([]);
    const cores = points.filter((p) => p.measurement === "cpu" && p.tags.cpu !== "cpu-total").map((p) => p.tags.cpu);
    expect(cores).toHaveLength(os.cpus().length);
    expect(cores).toEqual(cores.map((_, i) => `cpu${i}`));

    const interfaces = points.filter((p) => p.measurement === "net").map((p) => p.tags.interface);
    expect(interfaces).toContain(veth);
    expect(interfaces).toContain(`${veth}p`);
    expect(interfaces).not.toContain("lo");
    const real = (await readdir("/sys/class/net")).filter((n) => n !== "lo" && !n.startsWith(veth));
    for (const n of real) expect(interfaces).toContain(n);

    // Every whole disk the kernel lists, minus loop and ram devices.
    const disks = (await readdir("/sys/block")).filter((n) => !/^(loop|ram)\d+$/.test(n));
    expect(disks.length).toBeGreaterThan(0);
    const names = points.filter((p) => p.measurement === "diskio").map((p) => p.tags.name);
    for (const d of disks) expect(names).toContain(d);
    expect(names.some((n) => n?.startsWith("loop"))).toBe(false);
    const busiest = points.filter((p) => p.measurement === "diskio").sort((a, b) => Number(b.fields.reads) - Number(a.fields.reads))[0];
    expect(Number(busiest?.fields.read_bytes)).toBeGreaterThan(0);

    const fs = onePoint(points, "linux_sysctl_fs").fields;
    expect(fs["file-max"]).toBe(Number((await readFile("/proc/sys/fs/file-max", "utf8")).trim()));
    expect(Number(fs["file-nr"])).toBeGreaterThan(0);
    expect(Number(fs.file_used_percent)).toBeGreaterThan(0);
    const procs = onePoint(points, "processes").fields;
    expect(Number(procs.total)).toBeGreaterThan(1);
    expect(Number(procs.total_threads)).toBeGreaterThanOrEqual(Number(procs.total));
  });

  it("counts a real zombie when counting states", async () => {
    // The forked child exits at once and its parent never waits for it: a zombie until the parent dies.
    const parent = spawn("python3", ["-c", "import os,time\nif os.fork() == 0: os._exit(0)\ntime.sleep(60)"], { stdio: "ignore" });
    await once(parent, "spawn");
    try {
      const c = createHostCollector({ processes: { states: true } });
      let zombies = 0;
      for (let i = 0; i < 100 && zombies === 0; i++) {
        zombies = Number(onePoint(await c.collect(testContext(0)), "processes").fields.zombies);
        if (zombies === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(zombies).toBeGreaterThanOrEqual(1);
    } finally {
      parent.kill("SIGKILL");
      await once(parent, "exit");
    }
  });
});
