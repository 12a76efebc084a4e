/**
 * `ansai backtest` throughput: generated 5M-sample CSVs replayed through the default rules, timed
 * in process (`runBacktest`, the whole command: read, parse, replay, print) and end to end
 * (`node dist/cli/main.js backtest`, Node start-up included). Disk usage (seeded fill with noise
 * and periodic clean-ups; both disk rules) at 1 s (ten samples per 10 s evaluation), 10 s (one
 * evaluation per sample, the live default), 15 s (Prometheus' default scrape interval) and 60 s
 * (six evaluations per sample); and a
 * process's RSS under a garbage-collection saw at 10 s (both memory rules, leak detector).
 * Run: `npx tsx bench/backtest.ts` (after `npm run build` for the end-to-end column). Set
 * BACKTEST_SAMPLES to change the size, and BACKTEST_CONFIG to replay under a config's rules
 * instead of the built-in ones.
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
const DISK = "disk,host=h1,path=/data used_percent";
const PROCESS = "procstat,host=h1,process_name=worker memory_rss";
/** The process's memory limit (bytes), given as --threshold. */
const MEMORY_LIMIT = 2 ** 30;

interface Case {
  what: string;
  series: string;
  stepMs: number;
  /** Value of sample i at time t (ms since the first), with a uniform random number in [0, 1). */
  value: (tMs: number, rand: number) => number;
  decimals: number;
  threshold?: number;
}

const CLEAN_EVERY_MS = 30 * 86_400_000;
/** Fills at 2 %/day from 20 %, cleaned back to 20 % every 30 days. */
const diskValue = (t: number, rand: number): number => 20 + (2 * (t % CLEAN_EVERY_MS)) / 86_400_000 + (rand - 0.5) * 0.2;
/** 300 MB plus a 5-minute garbage-collection saw of 80 MB, no leak. */
const rssValue = (t: number, rand: number): number => 300e6 + 80e6 * ((t % 300_000) / 300_000) + rand * 2e6;

const CASES: Case[] = [
  { what: "disk", series: DISK, stepMs: 1000, value: diskValue, decimals: 3 },
  { what: "disk", series: DISK, stepMs: 10_000, value: diskValue, decimals: 3 },
  { what: "disk", series: DISK, stepMs: 15_000, value: diskValue, decimals: 3 },
  { what: "disk", series: DISK, stepMs: 60_000, value: diskValue, decimals: 3 },
  { what: "process RSS", series: PROCESS, stepMs: 10_000, value: rssValue, decimals: 0, threshold: MEMORY_LIMIT },
];
const CONFIG_ARGS = process.env.BACKTEST_CONFIG ? ["--config", path.resolve(process.env.BACKTEST_CONFIG)] : [];
const CLI = path.resolve(import.meta.dirname, "../dist/cli/main.js");
const BUILT = path.resolve(import.meta.dirname, "../dist/cli/backtest.js");
// The compiled command when built (what users run), else the sources through tsx (slower).
const { runBacktest } = (await import(existsSync(BUILT) ? BUILT : "../src/cli/backtest.js")) as typeof import("../src/cli/backtest.js");
const inProcessCode = existsSync(BUILT) ? "dist" : "src via tsx";

/** Writes a case's CSV in 1 MiB pieces. */
async function writeCsv(file: string, c: Case): Promise<void> {
  const rand = seededRandom(42);
  const out = createWriteStream(file);
  let buf = "timestamp,value\n";
  for (let i = 0; i < SAMPLES; i++) {
    const t = T0 + i * c.stepMs;
    buf += `${t},${c.value(t - T0, rand()).toFixed(c.decimals)}\n`;
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

function argsOf(file: string, c: Case): string[] {
  return ["--input", file, "--series", c.series, ...(c.threshold === undefined ? [] : ["--threshold", String(c.threshold)]), ...CONFIG_ARGS];
}

async function inProcess(file: string, c: Case): Promise<{ ms: number; transitions: number }> {
  const stdout = nullSink();
  const started = performance.now();
  const code = await runBacktest(argsOf(file, c), {
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

function endToEnd(file: string, c: Case): { ms: number; transitions: number } | undefined {
  if (!existsSync(CLI)) return undefined;
  const started = performance.now();
  const res = spawnSync(process.execPath, [CLI, "backtest", ...argsOf(file, c)], { cwd: path.dirname(file), encoding: "utf8", maxBuffer: 1 << 28 });
  const ms = performance.now() - started;
  if (res.status !== 0) throw new Error(`node dist/cli/main.js backtest exited ${res.status}: ${res.stderr}`);
  return { ms, transitions: res.stdout.split("\n").filter(Boolean).length };
}

const rate = (ms: number): string => `${Math.round(SAMPLES / (ms / 1000)).toLocaleString("en")} samples/s`;

const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-backtest-"));
try {
  console.log(`In process: runBacktest from ${inProcessCode}.\n`);
  console.log("| series | samples | interval | CSV size | in process (runBacktest) | end to end (node dist/cli/main.js) | transitions | peak RSS (this process so far) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of CASES) {
    const file = path.join(dir, `${c.what.replace(" ", "-")}-${c.stepMs}.csv`);
    await writeCsv(file, c);
    const mib = (statSync(file).size / 2 ** 20).toFixed(0);
    const inproc = await inProcess(file, c);
    const e2e = endToEnd(file, c);
    const e2eText = e2e ? `${(e2e.ms / 1000).toFixed(2)} s, ${rate(e2e.ms)}` : "not built (npm run build)";
    if (e2e && e2e.transitions !== inproc.transitions) throw new Error(`in-process and CLI disagree: ${inproc.transitions} vs ${e2e.transitions} transitions`);
    const rssMiB = (process.resourceUsage().maxRSS / 1024).toFixed(0);
    console.log(`| ${c.what} | ${SAMPLES.toLocaleString("en")} | ${c.stepMs / 1000} s | ${mib} MiB | ${(inproc.ms / 1000).toFixed(2)} s, ${rate(inproc.ms)} | ${e2eText} | ${inproc.transitions} | ${rssMiB} MiB |`);
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
