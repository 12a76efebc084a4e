import { cp, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostCollector, cpuUsagePercent, memFields, parseLoadavg, parseProcStat, parseUptimeS, swapFields } from "./host.js";
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
    const c = createHostCollector({ procRoot: root });
    expect(c.name).toBe("host");
    const ctx1 = testContext(1_000);
    const first = await c.collect(ctx1);
    expect(ctx1.errors).toEqual([]);
    expect(first.map((p) => p.measurement).sort()).toEqual(["mem", "swap", "system"]);
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
    const cpu = onePoint(second, "cpu");
    expect(cpu.tags).toEqual({ cpu: "cpu-total", host: "test-host" });
    // Deltas: user 461, system 17, idle 99, iowait 23 of 600 ticks.
    expect(cpu.fields.usage_user).toBeCloseTo((100 * 461) / 600, 10);
    expect(cpu.fields.usage_system).toBeCloseTo((100 * 17) / 600, 10);
    expect(cpu.fields.usage_idle).toBeCloseTo((100 * 99) / 600, 10);
    expect(cpu.fields.usage_iowait).toBeCloseTo((100 * 23) / 600, 10);
    expect(cpu.fields.usage_nice).toBe(0);
    expect(cpu.fields.usage_steal).toBe(0);
  });

  it("reports an unreadable file and still emits the rest", async () => {
    const ctx = testContext(0);
    const points = await createHostCollector({ procRoot: join(FIXTURE, "no-such-dir") }).collect(ctx);
    expect(points).toEqual([]);
    expect(ctx.errors.map((e) => e.item).sort()).toEqual(
      ["loadavg", "meminfo", "stat", "uptime"].map((f) => join(FIXTURE, "no-such-dir", f)),
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
    const cpu = onePoint(points, "cpu").fields;
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
