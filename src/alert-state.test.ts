import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ALERT_STATE_TOLERANCE_MS, AlertStateFile, type AlertState } from "./alert-state.js";

const T0 = 1_700_000_000_000;

function capture(): { warnings: Array<Record<string, unknown>>; log: pino.Logger } {
  const warnings: Array<Record<string, unknown>> = [];
  return { warnings, log: pino({ level: "info" }, { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) }) };
}

const state = (savedAtMs: number, phase: "pending" | "firing" = "firing"): AlertState => ({
  savedAtMs,
  alerts: [
    {
      rule: "disk_full_4h",
      series: "disk,host=h1,path=/var used_percent",
      phase,
      activeSinceMs: T0 - 60_000,
      firedAtMs: phase === "firing" ? T0 : null,
      prediction: { rule: "disk_full_4h", series: "disk,host=h1,path=/var used_percent", tags: { host: "h1", path: "/var" }, field: "used_percent", value: 91, threshold: 100, etaMs: T0 + 3_600_000, etaLowMs: null, etaHighMs: null } as never,
      shownAtMs: T0,
    },
  ],
  notices: { ops: [{ id: "disk_full_4h:disk,host=h1,path=/var used_percent", lastMs: T0 }] },
});

describe("alert state file", () => {
  it("round-trips, and is not restored once older than the tolerance", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-alert-state-"));
    const { warnings, log } = capture();
    const file = AlertStateFile.in(dir, log);
    expect(file.load(T0)).toBeUndefined();
    file.save(state(T0));
    expect(AlertStateFile.in(dir, log).load(T0 + 5 * 60_000)).toEqual(state(T0));
    expect(AlertStateFile.in(dir, log).load(T0 + ALERT_STATE_TOLERANCE_MS + 1)).toBeUndefined();
    expect(warnings.map((w) => w.msg)).toEqual([expect.stringContaining("over an hour old")]);
  });

  it("rewrites unchanged state once a minute (its age is the outage), changed state at once", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-alert-state-"));
    const file = AlertStateFile.in(dir, pino({ level: "silent" }));
    const savedAt = (): number => (JSON.parse(readFileSync(file.file, "utf8")) as { savedAtMs: number }).savedAtMs;
    file.save(state(T0));
    file.save(state(T0 + 30_000));
    expect(savedAt()).toBe(T0);
    file.save(state(T0 + 40_000, "pending"));
    expect(savedAt()).toBe(T0 + 40_000);
    file.save(state(T0 + 100_000, "pending"));
    expect(savedAt()).toBe(T0 + 100_000);
  });

  it("an unreadable file is warned about and ignored; a failing save is warned once and never throws", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-alert-state-"));
    const { warnings, log } = capture();
    const file = AlertStateFile.in(dir, log);
    for (const text of ['{"version":1,"savedAt', JSON.stringify({ ...state(T0), version: 1, alerts: [{ rule: "x" }] })]) {
      writeFileSync(file.file, text);
      expect(file.load(T0)).toBeUndefined();
    }
    expect(warnings.map((w) => [w.file, String(w.msg)])).toEqual([
      [file.file, expect.stringContaining("unreadable")],
      [file.file, expect.stringContaining("unreadable")],
    ]);
    // The temporary file's path is taken by a directory: the rename cannot happen.
    const blocked = AlertStateFile.in(mkdtempSync(path.join(tmpdir(), "ansai-alert-state-")), log);
    mkdirSync(`${blocked.file}.tmp`);
    expect(() => blocked.save(state(T0))).not.toThrow();
    expect(() => blocked.save(state(T0 + 120_000, "pending"))).not.toThrow();
    expect(warnings.filter((w) => String(w.msg).startsWith("cannot save"))).toHaveLength(1);
    expect(() => statSync(blocked.file)).toThrow();
  });
});
