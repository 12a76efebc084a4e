/**
 * `ansai backtest` throughput: a generated 5M-sample CSV (seeded disk fill with noise and
 * periodic clean-ups) replayed through the default rules, timed in process (`runBacktest`, the
 * whole command: read, parse, replay, print) and end to end (`node dist/cli/main.js backtest`,
 * Node start-up included). Two sample intervals: 1 s (ten samples per 10 s evaluation) and 10 s
 * (one evaluation per sample, the live default). Run: `npx tsx bench/backtest.ts` (after
 * `npm run build` for the end-to-end row). Set BACKTEST_SAMPLES to change the size, and
 * BACKTEST_CONFIG to replay under a config's rules instead of the built-in ones.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { seededRandom } from "../src/analyzer/test-helpers.js";

const SAMPLES = Number(process.env.BACKTEST_SAMPLES ?? 5_000_000);
const T0 = 1_700_000_000_000;
const SERIES = "disk,host=h1,path=/data used_percent";
const CONFIG_ARGS = process.env.BACKTEST_CONFIG ? ["--config", path.resolve(process.env.BACKTEST_CONFIG)] : [];
const CLI = path.resolve(import.meta.dirname, "../dist/cli/main.js");
const BUILT = path.resolve(import.meta.dirname, "../dist/cli/backtest.js");
// The compiled command when built (what users run), else the sources through tsx (slower).
const { runBacktest } = (await import(existsSync(BUILT) ? BUILT : "../src/cli/backtest.js")) as typeof import("../src/cli/backtest.js");
const inProcessCode = existsSync(BUILT) ? "dist" : "src via tsx";

/** Writes the CSV in 1 MiB pieces: fills at 2 %/day from 20 %, cleaned back to 20 % every 30 days. */
async function writeCsv(file: string, stepMs: number): Promise<void> {
  const rand = seededRandom(42);
  const out = createWriteStream(file);
  const cleanEveryMs = 30 * 86_400_000;
  let buf = "timestamp,value\n";
  for (let i = 0; i < SAMPLES; i++) {
    const t = T0 + i * stepMs;
    const v = 20 + (2 * ((t - T0) % cleanEveryMs)) / 86_400_000 + (rand() - 0.5) * 0.2;
    buf += `${t},${v.toFixed(3)}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once("drain", () => r()));
      buf = "";
    }
  }
  out.end(buf);
  await new Promise<void>((r) => out.on("finish", () => r()));
}

function nullSink(): Writable & { lines: number } {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const b of chunk) if (b === 10) sink.lines++;
      cb();
    },
  }) as Writable & { lines: number };
  sink.lines = 0;
  return sink;
}

async function inProcess(file: string): Promise<{ ms: number; transitions: number }> {
  const stdout = nullSink();
  const started = performance.now();
  const code = await runBacktest(["--input", file, "--series", SERIES, ...CONFIG_ARGS], {
    stdin: process.stdin,
    stdout,
    stderr: process.stderr,
    cwd: path.dirname(file),
    log: pino({ level: "warn" }),
  });
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`backtest exited ${code}`);
  return { ms, transitions: stdout.lines };
}

function endToEnd(file: string): { ms: number; transitions: number } | undefined {
  if (!existsSync(CLI)) return undefined;
  const started = performance.now();
  const res = spawnSync(process.execPath, [CLI, "backtest", "--input", file, "--series", SERIES, ...CONFIG_ARGS], { cwd: path.dirname(file), encoding: "utf8", maxBuffer: 1 << 28 });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`node dist/cli/main.js backtest exited ${res.status}: ${res.stderr}`);
  return { ms, transitions: res.stdout.split("\n").filter(Boolean).length };
}

const rate = (ms: number): string => `${Math.round(SAMPLES / (ms / 1000)).toLocaleString("en")} samples/s`;

const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-backtest-"));
try {
  console.log(`In process: runBacktest from ${inProcessCode}.\n`);
  console.log("| samples | interval | CSV size | in process (runBacktest) | end to end (node dist/cli/main.js) | transitions | peak RSS |");
  console.log("|---:|---:|---:|---:|---:|---:|---:|");
  for (const stepMs of [1000, 10_000]) {
    const file = path.join(dir, `disk-${stepMs}.csv`);
    await writeCsv(file, stepMs);
    const mib = (statSync(file).size / 2 ** 20).toFixed(0);
    const inproc = await inProcess(file);
    const e2e = endToEnd(file);
    const e2eText = e2e ? `${(e2e.ms / 1000).toFixed(2)} s, ${rate(e2e.ms)}` : "not built (npm run build)";
    if (e2e && e2e.transitions !== inproc.transitions) throw new Error(`in-process and CLI disagree: ${inproc.transitions} vs ${e2e.transitions} transitions`);
    const rssMiB = (process.resourceUsage().maxRSS / 1024).toFixed(0);
    console.log(`| ${SAMPLES.toLocaleString("en")} | ${stepMs / 1000} s | ${mib} MiB | ${(inproc.ms / 1000).toFixed(2)} s, ${rate(inproc.ms)} | ${e2eText} | ${inproc.transitions} | ${rssMiB} MiB |`);
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
