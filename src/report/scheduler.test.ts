import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { reportsConfigSchema } from "./config.js";
import type { GeneratedReport, ReportService } from "./generate.js";
import { checkSchedule, createReportScheduler } from "./scheduler.js";

/** A service whose runs are counted; `fail` makes them throw as a full disk would. */
function countingService(fail = false): ReportService & { runs: number; first: Promise<void> } {
  let resolveFirst: () => void = () => {};
  const first = new Promise<void>((r) => (resolveFirst = r));
  const svc = {
    dir: "/nonexistent",
    runs: 0,
    first,
    busy: () => false,
    async generate(): Promise<GeneratedReport> {
      svc.runs++;
      resolveFirst();
      if (fail) throw new AnsaiError(ErrorCodes.REPORT_FAILED, "disk full", "free space in reports.dir");
      return { id: "x", formats: [], paths: [], report: {} as GeneratedReport["report"], delivery: {} };
    },
  };
  return svc;
}

describe("reports config", () => {
  it("has the documented defaults", () => {
    expect(reportsConfigSchema.parse(undefined)).toEqual({
      enabled: true,
      schedule: "0 7 * * 1",
      timezone: "UTC",
      horizon: "30d",
      history: "14d",
      formats: ["html", "markdown", "json"],
      keep: 12,
    });
  });

  it.each([
    [{ schedule: "every monday" }, "schedule"],
    [{ schedule: "0 25 * * *" }, "schedule"],
    [{ timezone: "Mars/Olympus" }, "timezone"],
    [{ horizon: "a month" }, "horizon"],
    [{ formats: ["pdf"] }, "formats"],
    [{ formats: [] }, "formats"],
    [{ keep: 0 }, "keep"],
    [{ webhook: { url: "ftp://x" } }, "webhook"],
    [{ email: { to: [] } }, "email"],
    [{ unknown: 1 }, ""],
  ])("rejects %j", (input, key) => {
    const r = reportsConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(String(r.error?.issues[0]?.path[0] ?? "")).toBe(key);
  });

  it.each([
    ["*/5 * * * *", "Europe/Paris"],
    ["30 6 1 * *", "America/New_York"],
    ["* * * * * *", "UTC"],
  ])("accepts %s in %s", (schedule, timezone) => {
    expect(() => checkSchedule(schedule, timezone)).not.toThrow();
    expect(reportsConfigSchema.safeParse({ schedule, timezone }).success).toBe(true);
  });

  it("refuses a bad schedule with a config error that shows a valid one", () => {
    const err = (() => {
      try {
        checkSchedule("61 * * * *", "UTC");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AnsaiError);
    expect((err as AnsaiError).code).toBe(ErrorCodes.CONFIG_INVALID);
    expect((err as AnsaiError).hint).toContain("0 7 * * 1");
  });
});

describe("report scheduler", () => {
  it("runs the report from node-cron and stops", async () => {
    const svc = countingService();
    const scheduler = createReportScheduler({ enabled: true, schedule: "* * * * * *", timezone: "Europe/Paris" }, svc, pino({ level: "silent" }));
    scheduler.start();
    expect(scheduler.nextRunMs()).not.toBeNull();
    await svc.first;
    await scheduler.stop();
    expect(svc.runs).toBeGreaterThanOrEqual(1);
    expect(scheduler.nextRunMs()).toBeNull();
  }, 20_000);

  it("schedules nothing when disabled", async () => {
    const scheduler = createReportScheduler({ enabled: false, schedule: "* * * * * *", timezone: "UTC" }, countingService(), pino({ level: "silent" }));
    scheduler.start();
    expect(scheduler.nextRunMs()).toBeNull();
    await scheduler.stop();
  });

  it("logs a failed run with what to do and never throws", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "error" }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
    const scheduler = createReportScheduler({ enabled: true, schedule: "0 7 * * 1", timezone: "UTC" }, countingService(true), log);
    await expect(scheduler.runOnce()).resolves.toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ hint: "free space in reports.dir" });
    expect(String(lines[0]!.msg)).toContain("To fix: free space in reports.dir");
  });
});
