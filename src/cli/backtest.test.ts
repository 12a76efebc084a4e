import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBacktest, type BacktestIo } from "./backtest.js";

const T = 1_700_000_000_000;
const DISK = "disk,host=h1,path=/data used_percent";

/** A disk that fills from 10 % to 99 % in 8 h and is emptied, at 10 s steps: alerts come and go. */
function sawtoothCsv(rows: number): string {
  const lines = ["timestamp,value"];
  const periodMs = 8 * 3_600_000;
  for (let i = 0; i < rows; i++) lines.push(`${T + i * 10_000},${(10 + (89 * ((i * 10_000) % periodMs)) / periodMs).toFixed(3)}`);
  return `${lines.join("\n")}\n`;
}

/** Runs the command with its own streams; gives the exit code and what it wrote. */
async function run(argv: string[], cwd: string, workerMinBytes: number): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        append(chunk.toString());
        done();
      },
    });
  const io: BacktestIo = {
    stdin: new PassThrough(),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    cwd,
    workerMinBytes,
  };
  const code = await runBacktest(argv, io);
  return { code, stdout, stderr };
}

describe("runBacktest, CSV parsed in a worker thread", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ansai-backtest-cli-"));
    writeFileSync(path.join(dir, "disk.csv"), sawtoothCsv(30_000));
    writeFileSync(path.join(dir, "bad.csv"), sawtoothCsv(30_000).replace(`\n${T + 20_000 * 10_000},`, `\n${T + 20_000 * 10_000},,`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints what the in-process replay prints", async () => {
    const argv = ["--input", "disk.csv", "--series", DISK];
    const here = await run(argv, dir, Infinity);
    const there = await run(argv, dir, 0);
    expect(here.code).toBe(0);
    expect(here.stdout.split("\n").length).toBeGreaterThan(4);
    expect(there).toEqual(here);
  });

  it("fails on a bad row as the in-process replay does", async () => {
    const argv = ["--input", "bad.csv", "--series", DISK, "--format", "table"];
    const here = await run(argv, dir, Infinity);
    const there = await run(argv, dir, 0);
    expect(here.code).toBe(1);
    expect(here.stderr).toContain("ANSAI_BACKTEST_INVALID: bad.csv:20002: expected 2 columns");
    expect(there).toEqual(here);
  });
});
