import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { createAnalyzer } from "../../src/analyzer/engine.js";
import { gaussian, seededRandom } from "../../src/analyzer/test-helpers.js";
import { effectiveRules } from "../../src/config/rules.js";
import { BACKTEST_USAGE } from "../../src/cli/backtest.js";
import { loadConfig } from "../../src/config/load.js";
import { durationMs } from "../../src/config/zod-types.js";
import { CLI, REPO, requireBuiltCli, runCli, tempDir } from "./helpers.js";

const T0 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
const DISK = "disk,host=h1,path=/data used_percent";

/** 10 % + 1 %/min, one sample a minute for an hour, as "YYYY-MM-DD HH:MM:SS": full at T0 + 90 min exactly. */
function linearCsv(): string {
  let csv = "timestamp,value\n";
  for (let i = 0; i < 60; i++) csv += `${new Date(T0 + i * 60_000).toISOString().replace("T", " ").slice(0, 19)},${10 + i}\n`;
  return csv;
}

describe("ansai backtest (built CLI)", () => {
  let dir: string;
  beforeAll(() => {
    requireBuiltCli();
    if (!existsSync(path.join(REPO, "dist/cli/backtest.js"))) throw new Error("dist/ predates `ansai backtest`: run `npm run build` (npm test does it)");
    dir = tempDir("backtest");
    writeFileSync(path.join(dir, "linear.csv"), linearCsv());
  });

  it("prints one exact JSON line per transition and exits 0", () => {
    const { code, stdout, stderr } = runCli(["backtest", "--input", "linear.csv", "--series", DISK], dir);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const series = '"series":"disk,host=h1,path=/data used_percent"';
    expect(stdout.split("\n")).toEqual([
      // The 4 h rule's multi-scale trend sees the fresh fill within minutes and fires 50 min (`for`)
      // later; the 24 h rule weighs 3 days and says nothing about one hour of data.
      `{"time":1700000240000,"rule":"disk_full_4h",${series},"state":"pending","value":14,"eta":1700005400000,"eta_low":1700005400000,"eta_high":1700005400000}`,
      `{"time":1700003240000,"rule":"disk_full_4h",${series},"state":"firing","value":64,"eta":1700005400000,"eta_low":1700005400000,"eta_high":1700005400000}`,
      "",
    ]);
  });

  it("prints a table for people, times as ISO and ETAs as durations", () => {
    const { code, stdout } = runCli(["backtest", "--input", "linear.csv", "--series", DISK, "--format", "table"], dir);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("TIME                      STATE     RULE                         VALUE  ETA                                   SERIES");
    expect(lines[2]).toBe(`2023-11-14T23:07:20.000Z  firing    disk_full_4h                    64  in 36 m (36 m – 36 m)                 ${DISK}`);
    expect(lines).toHaveLength(3);
  });

  it("reads line protocol from stdin, with --threshold standing in for the memory limit", () => {
    let lp = "";
    // 1 GiB + 4 MiB/min for 4 h: a 2 GiB limit is reached after 256 min.
    for (let i = 0; i < 240; i++) lp += `procstat,host=h1,process_name=worker memory_rss=${2 ** 30 + i * 4 * 2 ** 20}i ${(T0 + i * 60_000) / 1000}\n`;
    const args = ["backtest", "--input", "-", "--precision", "s", "--series", "procstat,host=h1,process_name=worker memory_rss"];
    const run = (extra: string[]): { code: number | null; stdout: string } => {
      const res = spawnSync(process.execPath, [CLI, ...args, ...extra], { cwd: dir, input: lp, encoding: "utf8" });
      return { code: res.status, stdout: res.stdout };
    };
    expect(run([])).toEqual({ code: 0, stdout: "" });
    const { code, stdout } = run(["--threshold", "2147483648"]);
    expect(code).toBe(0);
    const out = stdout.trim().split("\n").map((l) => JSON.parse(l) as { state: string; rule: string; eta: number; time: number });
    // A steady rise with no plateau is a leak to the leak detector too.
    expect(out.map((t) => `${t.rule} ${t.state}`).sort()).toEqual(["process_memory_leak firing", "process_memory_leak pending", "process_memory_limit firing", "process_memory_limit pending"]);
    // The peaks lead the trough line by about one 3.75-minute bucket of growth.
    const firing = out.find((t) => t.rule === "process_memory_limit" && t.state === "firing")!;
    expect(T0 + 256 * 60_000 - firing.eta).toBeGreaterThanOrEqual(0);
    expect(T0 + 256 * 60_000 - firing.eta).toBeLessThan(5 * 60_000);
  });

  const failures: Array<[string, string, string[], number, string]> = [
    ["a bad row", "timestamp,value\n1700000000,1\n1700000060,1.5.2\n", [], 1, 'ANSAI_BACKTEST_INVALID: bad.csv:3: expected a number as the value, got "1.5.2"\n'],
    ["a CSV without --series", "timestamp,value\n1700000000,1\n", ["--no-series"], 1, "ANSAI_BACKTEST_INVALID: bad.csv is CSV, which holds one series without its name\n"],
    ["a series no rule watches", "timestamp,value\n1700000000,1\n", ["--series", "disk,host=h1 used"], 1, 'ANSAI_BACKTEST_INVALID: no rule watches the series "disk,host=h1 used"; rules: disk_full_24h (disk used_percent)'],
    ["a bad series key", "timestamp,value\n", ["--series", "disk"], 2, 'ansai backtest: --series "disk" is not a series key: expected "measurement[,tag=value...] field", e.g. "disk,host=h1,path=/data used_percent"\n'],
    ["a bad format", "timestamp,value\n", ["--format", "csv"], 2, 'ansai backtest: --format "csv": expected jsonl or table\n'],
    ["a bad threshold", "timestamp,value\n", ["--threshold", "2GB"], 2, 'ansai backtest: --threshold "2GB" is not a number, e.g. --threshold 2147483648\n'],
    ["an unknown option", "timestamp,value\n", ["--seires", DISK], 2, "Unknown option '--seires'"],
  ];
  it.each(failures)("exits non-zero with a message for %s", (_, text, extra, exitCode, message) => {
    writeFileSync(path.join(dir, "bad.csv"), text);
    const series = extra[0] === "--no-series" ? [] : extra.includes("--series") ? [] : ["--series", DISK];
    const { code, stdout, stderr } = runCli(["backtest", "--input", "bad.csv", ...series, ...extra.filter((a) => a !== "--no-series")], dir);
    expect(code).toBe(exitCode);
    expect(stdout).toBe("");
    expect(stderr.startsWith(message)).toBe(true);
    if (exitCode === 2) expect(stderr).toContain("Usage: ansai backtest --input FILE");
  });

  it("exits 1 for a missing file and 2 without --input", () => {
    const missing = runCli(["backtest", "--input", "nope.csv", "--series", DISK], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("ANSAI_BACKTEST_INVALID: cannot read --input nope.csv: does not exist\n  Check the path, or pass - to read stdin.\n");
    const usage = runCli(["backtest"], dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr.split("\n")[0]).toBe("ansai backtest: --input FILE is required (a CSV with a header timestamp,value, or line protocol)");
  });

  it("prints its help", () => {
    const { code, stdout } = runCli(["backtest", "--help"], dir);
    expect(code).toBe(0);
    expect(stdout).toBe(BACKTEST_USAGE);
  });

  it("agrees with the live engine, transition for transition, under a config's rules and evaluation interval", () => {
    // A noisy fill with a clean-up in the middle, every 20 s; rules evaluated every 15 s.
    const config = [
      "analyzer:",
      "  evaluation_interval: 15s",
      "  rules:",
      "    - {name: data_full_2h, measurement: disk, field: used_percent, tags: {path: /data}, threshold: 95, horizon: 2h, for: 2m, window: 1h, severity: critical}",
    ].join("\n");
    writeFileSync(path.join(dir, "ansai.yaml"), config);
    const rand = seededRandom(3);
    const rows: Array<[number, number]> = [];
    for (let i = 0; i < 2000; i++) {
      const t = T0 + i * 20_000;
      const phase = i < 1000 ? i : i - 1000;
      rows.push([t, 30 + phase * 0.04 + 0.3 * gaussian(rand)]);
    }
    writeFileSync(path.join(dir, "noisy.csv"), `timestamp,value\n${rows.map(([t, v]) => `${t},${v.toFixed(4)}`).join("\n")}\n`);
    const { code, stdout, stderr } = runCli(["backtest", "--input", "noisy.csv", "--series", DISK, "--config", "ansai.yaml"], dir);
    expect(stderr).toBe("");
    expect(code).toBe(0);

    // The live loop of app.ts over the same samples: write what was collected, evaluate every interval.
    const { config: cfg } = loadConfig({ file: "ansai.yaml", cwd: dir });
    const intervalMs = durationMs(cfg.analyzer.evaluation_interval);
    const analyzer = createAnalyzer({ rules: effectiveRules(cfg), log: pino({ level: "silent" }) });
    const tags = { host: "h1", path: "/data" };
    const live: string[] = [];
    const round = (ms: number | null): number | null => (ms === null ? null : Math.round(ms));
    let i = 0;
    for (let now = Math.ceil(T0 / intervalMs) * intervalMs; i < rows.length || now - intervalMs < rows[rows.length - 1]![0]; now += intervalMs) {
      while (i < rows.length && rows[i]![0] <= now) {
        analyzer.write([{ measurement: "disk", tags, fields: { used_percent: Number(rows[i]![1].toFixed(4)) }, timeMs: rows[i]![0] }]);
        i++;
      }
      for (const a of analyzer.evaluate(now).transitions) {
        const p = a.prediction;
        live.push(JSON.stringify({ time: now, rule: a.rule, series: a.series, state: a.state, value: p.value, eta: round(p.etaMs), eta_low: round(p.etaLowMs), eta_high: round(p.etaHighMs) }));
      }
    }
    expect(live.filter((l) => l.includes('"data_full_2h"')).length).toBeGreaterThan(1);
    expect(stdout.trimEnd().split("\n")).toEqual(live);
  });
});
