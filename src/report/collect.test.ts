import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectReport, isUnder, reportIdFor } from "./collect.js";
import { fitTrend } from "./forecast.js";
import { CERT_NOT_AFTER_MS, DAILY_CPU_PEAK_FULL_MS, DAY_MS, filledStore, FULL_AT_MS, NOW_MS, FILL_PER_DAY, type Fixture } from "./test-data.js";
import type { Report, ReportItem } from "./types.js";

let fx: Fixture;
let report: Report;
const progress: Array<[number, number]> = [];

beforeAll(async () => {
  fx = await filledStore();
  report = await collectReport({
    store: fx.store,
    nowMs: NOW_MS,
    horizonMs: 30 * DAY_MS,
    historyMs: 14 * DAY_MS,
    timezone: "Europe/Paris",
    onProgress: (done, total) => progress.push([done, total]),
  });
});
afterAll(async () => {
  await fx.close();
});

function item(kind: ReportItem["kind"], target: string): ReportItem {
  const found = report.hosts.flatMap((h) => h.items).find((i) => i.kind === kind && i.target === target);
  if (!found) throw new Error(`no ${kind} item ${target} in ${JSON.stringify(report.hosts.flatMap((h) => h.items.map((i) => [i.kind, i.target])))}`);
  return found;
}

describe("collectReport", () => {
  it("predicts a linearly filling disk's exhaustion with bounds around the truth", () => {
    const disk = item("disk", "/data");
    expect(disk.exhaustion).not.toBeNull();
    const e = disk.exhaustion!;
    expect(e.lowMs).not.toBeNull();
    expect(e.highMs).not.toBeNull();
    expect(e.lowMs!).toBeLessThanOrEqual(FULL_AT_MS);
    expect(e.highMs!).toBeGreaterThanOrEqual(FULL_AT_MS);
    expect(Math.abs(e.atMs - FULL_AT_MS)).toBeLessThan(DAY_MS);
    expect(disk.growthPerDay!).toBeCloseTo(FILL_PER_DAY, 1);
    expect(disk.growthPerWeek!).toBeCloseTo(7 * FILL_PER_DAY, 0);
    expect(disk.status).toBe("warning");
    // 21 days to full, 30-day horizon: no headroom left at the horizon's end.
    expect(disk.headroomAtHorizon).toBe(0);
    expect(disk.recommendation).toMatch(/^grow \/data or clean \/data\/logs: full around 2026-01-2\d \(\d+(–\d+)? Jan\)$/);
    expect(disk.forecast.length).toBeGreaterThan(2);
    for (const f of disk.forecast) {
      expect(f.low).toBeLessThanOrEqual(f.value);
      expect(f.high).toBeGreaterThanOrEqual(f.value);
    }
  });

  it("gives a flat disk no exhaustion date", () => {
    const root = item("disk", "/");
    expect(root.exhaustion).toBeNull();
    expect(root.status).toBe("ok");
    expect(root.current!).toBeGreaterThan(49);
    expect(Math.abs(root.growthPerDay!)).toBeLessThan(0.1);
    expect(root.headroomAtHorizon!).toBeGreaterThan(45);
    expect(root.recommendation).toMatch(/^no action: 5\d(\.\d)?% used/);
  });

  it("reports a certificate expiring in 9 days, exactly, as a warning", () => {
    const cert = item("certificate", "example.org (tcp://example.org:443)");
    expect(cert.exhaustion?.atMs).toBe(Math.floor(CERT_NOT_AFTER_MS / 1000) * 1000);
    expect(cert.current!).toBeCloseTo(9, 3);
    expect(cert.unit).toBe("days");
    expect(cert.status).toBe("warning");
    expect(cert.recommendation).toBe("renew example.org (tcp://example.org:443): expires 2026-01-14, in 9 d");
  });

  it("reads memory and CPU as percent used, flat", () => {
    const cpu = item("cpu", "cpu");
    expect(cpu.current!).toBeGreaterThan(10);
    expect(cpu.current!).toBeLessThan(30);
    expect(cpu.exhaustion).toBeNull();
    expect(item("memory", "memory").status).toBe("ok");
    expect(item("inodes", "/data").exhaustion).toBeNull();
  });

  it("ranks growers by bytes a day", () => {
    const g = report.hosts[0]!.topGrowers;
    expect(g.directories.map((d) => d.name)).toEqual(["/data/logs"]);
    expect(g.directories[0]!.growthBytesPerDay / 5e8).toBeCloseTo(1, 1);
    expect(g.processes[0]!.name).toBe("worker (pid 4242)");
    expect(g.processes[0]!.growthBytesPerDay / 3e7).toBeCloseTo(1, 1);
    // Only growing mounts: /data, not the flat /.
    expect(g.mounts.map((m) => m.name)).toEqual(["/data"]);
  });

  it("orders items by urgency and counts them", () => {
    const items = report.hosts[0]!.items;
    expect(items[0]!.kind).toBe("certificate");
    expect(items[1]!.target).toBe("/data");
    expect(report.summary).toMatchObject({ items: items.length, warning: 2, critical: 0 });
    expect(report.schema).toBe(1);
    expect(report.id).toBe("20260105T070000Z");
    expect(report.errors).toEqual([]);
    expect(progress.at(-1)).toEqual([progress.at(-1)![1], progress.at(-1)![1]]);
  });

  it("survives JSON unchanged", () => {
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe("collectReport on a daily rhythm", () => {
  it("dates CPU saturation by its busy hour (seasonal), weeks before the average gets there", async () => {
    const daily = await filledStore({ dailyCpu: true });
    try {
      const r = await collectReport({ store: daily.store, nowMs: NOW_MS, horizonMs: 30 * DAY_MS, historyMs: 14 * DAY_MS, timezone: "UTC" });
      const cpu = r.hosts[0]!.items.find((i) => i.kind === "cpu")!;
      expect(cpu.model).toBe("seasonal");
      // Three weeks out, within 15 %; hourly means of the history's 40-minute buckets blunt the peak a little, so it comes late.
      expect(Math.abs(cpu.exhaustion!.atMs - DAILY_CPU_PEAK_FULL_MS)).toBeLessThan(3 * DAY_MS);
      expect(cpu.exhaustion!.lowMs!).toBeLessThanOrEqual(DAILY_CPU_PEAK_FULL_MS);
      expect(cpu.status).toBe("warning");
      expect(cpu.recommendation).toMatch(/^add CPU or spread the load: saturated at the busy hour around 2026-01-2\d/);
      expect(cpu.headroomAtHorizon).toBe(0);
      // The forecast line keeps the daily swing: its highs and lows a day apart differ by tens of points.
      const lastDay = cpu.forecast.filter((p) => p.tMs >= NOW_MS + 29 * DAY_MS).map((p) => p.value);
      expect(Math.max(...lastDay) - Math.min(...lastDay)).toBeGreaterThan(30);
      // A straight trend through the same history sees the average, which is full only in ~8 weeks.
      const trend = fitTrend(cpu.history, NOW_MS, 100, 30 * DAY_MS, 14 * DAY_MS)!;
      expect(trend.etaMs === null || trend.etaMs > NOW_MS + 40 * DAY_MS).toBe(true);
      // Memory is flat: the seasonal fit gives it no date, as the trend would not either.
      const mem = r.hosts[0]!.items.find((i) => i.kind === "memory")!;
      expect(mem.model).toBe("seasonal");
      expect(mem.exhaustion).toBeNull();
      expect(mem.status).toBe("ok");
    } finally {
      await daily.close();
    }
  });
});

describe("helpers", () => {
  it.each([
    ["/var/log", "/var", true],
    ["/var", "/var", true],
    ["/var2/x", "/var", false],
    ["/anything", "/", true],
    ["/var/log", "", false],
  ])("isUnder(%s, %s) = %s", (dir, mount, want) => {
    expect(isUnder(dir, mount)).toBe(want);
  });

  it("makes ids from the time", () => {
    expect(reportIdFor(Date.UTC(2026, 11, 31, 23, 59, 58, 999))).toBe("20261231T235958Z");
  });
});
