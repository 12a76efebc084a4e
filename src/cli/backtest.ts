import { statSync } from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import { readFileBatches, textChunks } from "../analyzer/backtest-input-file.js";
import { EPOCH_PRECISIONS, readSampleBatches, type EpochPrecision, type ReadOptions, type SampleBatch } from "../analyzer/backtest-input.js";
import { backtest, newBacktestStats, overrideThreshold, rulesWatching, transitionJson, type BacktestStats, type BacktestTransition } from "../analyzer/backtest.js";
import type { RuleSpec } from "../analyzer/rules.js";
import { effectiveRules } from "../config/rules.js";
import { loadConfig } from "../config/load.js";
import { durationMs } from "../config/zod-types.js";
import { formatDuration } from "../core/duration.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { parseSeriesKey, type SeriesInfo } from "../core/point.js";
import { createLogger } from "./logger.js";

export const BACKTEST_USAGE = `Usage: ansai backtest --input FILE [--series KEY] [--config F] [--threshold VALUE] [--format jsonl|table]

Replays recorded samples through the configured rules (the built-in ones without a config) at
the samples' own times, with a simulated clock, and prints every alert transition the rules
would have made. Nothing sleeps: rules are evaluated at every multiple of the config's
analyzer.evaluation_interval of simulated time, and once more after the last sample.

Input (told apart by its first line):
  CSV              header "timestamp,value", then one sample per line; needs --series.
                   Timestamps: epoch numbers, unit by integer digits unless --precision says:
                   up to 11 seconds (a fraction is kept to the ms), 12-14 milliseconds,
                   15-17 microseconds, 18+ nanoseconds; every row in the first row's unit.
                   Or RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.250+02:00), or
                   "YYYY-MM-DD HH:MM:SS"; no offset means UTC.
  line protocol    InfluxDB line protocol, a timestamp on every line (ns unless --precision).
  A bad row is an error naming FILE:LINE and what was expected.

Options:
  --input FILE         the samples; "-" reads stdin
  --series KEY         the CSV's series, e.g. "disk,host=h1,path=/data used_percent" or
                       "procstat,host=h1,process_name=worker memory_rss"; with line protocol,
                       replay only that measurement and tag set
  -c, --config F       rules and evaluation interval (default: ./ansai.yaml, then
                       /etc/ansai/ansai.yaml, else built-in defaults)
  --threshold VALUE    fixed threshold for the rules that watch --series (all rules without
                       --series), e.g. a memory limit in bytes for process_memory_limit
  --precision P        unit of epoch timestamps: ns, us, ms or s
  --format F           jsonl (the default, for scripts): one line per transition,
                         {"time":MS,"rule":"...","series":"...","state":"pending"|"firing"|"resolved",
                          "value":N,"eta":MS|null,"eta_low":MS|null,"eta_high":MS|null}
                       with times in ms since 1970 and nothing else on the line;
                       table: aligned columns for people, progress on stderr when a terminal
  -h, --help           this help

Exit codes: 0 replayed (with or without transitions); 1 bad input, config or series; 2 bad usage.
`;

type Format = "jsonl" | "table";

interface BacktestArgs {
  input: string;
  series: SeriesInfo | undefined;
  config: string | undefined;
  threshold: number | undefined;
  precision: EpochPrecision | undefined;
  format: Format;
}

/** Where the command writes; the CLI passes the process's streams, tests their own. */
export interface BacktestIo {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  cwd: string;
  /** Logger for rule-evaluation errors (warn and above). */
  log?: Logger;
  /** CSV files of at least this many bytes are parsed in a worker thread (default: readFileBatches'); tests force it with 0. */
  workerMinBytes?: number;
}

class UsageError extends Error {}

/** `ansai backtest ...`: returns the exit code (0, 1 or 2); AnsaiErrors are printed here too. */
export async function runBacktest(argv: string[], io: BacktestIo = processIo()): Promise<number> {
  let args: BacktestArgs | "help";
  try {
    args = parseBacktestArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError) && !isParseArgsError(err)) throw err;
    io.stderr.write(`${(err as Error).message}\n\n${BACKTEST_USAGE}`);
    return 2;
  }
  if (args === "help") {
    io.stdout.write(BACKTEST_USAGE);
    return 0;
  }
  try {
    await replay(args, io);
    return 0;
  } catch (err) {
    if (!(err instanceof AnsaiError)) throw err;
    io.stderr.write(`${err.format()}\n`);
    return 1;
  }
}

function processIo(): BacktestIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

function isParseArgsError(err: unknown): boolean {
  return err instanceof TypeError && ((err as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS");
}

/** Parses and checks the command line; throws UsageError (or parseArgs' TypeError) for misuse. */
export function parseBacktestArgs(argv: string[]): BacktestArgs | "help" {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      input: { type: "string", short: "i" },
      series: { type: "string" },
      config: { type: "string", short: "c" },
      threshold: { type: "string" },
      precision: { type: "string" },
      format: { type: "string", default: "jsonl" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  if (values.input === undefined || values.input === "") throw new UsageError("ansai backtest: --input FILE is required (a CSV with a header timestamp,value, or line protocol)");
  let series: SeriesInfo | undefined;
  if (values.series !== undefined) {
    series = parseSeriesKey(values.series);
    if (!series) {
      throw new UsageError(
        `ansai backtest: --series ${JSON.stringify(values.series)} is not a series key: expected "measurement[,tag=value...] field", e.g. "disk,host=h1,path=/data used_percent"`,
      );
    }
  }
  let threshold: number | undefined;
  if (values.threshold !== undefined) {
    threshold = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(values.threshold.trim()) ? Number(values.threshold) : NaN;
    if (!Number.isFinite(threshold)) throw new UsageError(`ansai backtest: --threshold ${JSON.stringify(values.threshold)} is not a number, e.g. --threshold 2147483648`);
  }
  const precision = values.precision;
  if (precision !== undefined && !(EPOCH_PRECISIONS as readonly string[]).includes(precision)) {
    throw new UsageError(`ansai backtest: --precision ${JSON.stringify(precision)}: expected ns, us, ms or s`);
  }
  const format = values.format;
  if (format !== "jsonl" && format !== "table") throw new UsageError(`ansai backtest: --format ${JSON.stringify(format)}: expected jsonl or table`);
  return { input: values.input, series, config: values.config, threshold, precision: precision as EpochPrecision | undefined, format };
}

async function replay(args: BacktestArgs, io: BacktestIo): Promise<void> {
  const { config } = loadConfig({ file: args.config, cwd: io.cwd });
  const log = io.log ?? createLogger("warn");
  const rules = rulesFor(effectiveRules(config), args);
  const evaluationIntervalMs = durationMs(config.analyzer.evaluation_interval);
  // Read from io.cwd (the process's own for the CLI), named as the user wrote it.
  const file = args.input === "-" ? "-" : path.resolve(io.cwd, args.input);
  const sizeBytes = inputSize(file, args.input);
  const stats = newBacktestStats();
  const out = new LineWriter(io.stdout);
  let bytesRead = 0;
  const progress = args.format === "table" && io.stderr.isTTY ? startProgress(io.stderr, () => bytesRead, sizeBytes, stats) : undefined;
  const table = args.format === "table" ? tableFormatter(rules) : undefined;
  const readOpts: ReadOptions = { name: args.input, series: args.series, precision: args.precision };
  const samples: AsyncGenerator<SampleBatch> =
    args.input === "-"
      ? readSampleBatches(textChunks(io.stdin, args.input), readOpts)
      : readFileBatches(file, { ...readOpts, workerMinBytes: io.workerMinBytes, onBytesRead: (bytes) => (bytesRead = bytes) });
  try {
    if (table) await out.write(table.header());
    for await (const t of backtest(samples, { rules, evaluationIntervalMs, log, stats })) {
      progress?.clear();
      await out.write(table ? table.row(t) : `${transitionJson(t)}\n`);
      // People watching a terminal see each row as it happens; pipes get it in blocks.
      if (io.stdout.isTTY) await out.flush();
      if (out.closed) break;
    }
    await out.flush();
    if (out.failure && out.failure.code !== "EPIPE") throw out.failure;
  } finally {
    progress?.stop();
    // Stops the reader (and its worker) when the replay ended early.
    await samples.return(undefined);
    if (args.input === "-") io.stdin.destroy();
  }
}

/** The rules to replay: --threshold applied; a --series no rule watches is an error, not an empty result. */
function rulesFor(rules: RuleSpec[], args: BacktestArgs): RuleSpec[] {
  if (args.series && rulesWatching(rules, args.series).length === 0) {
    const known = rules.map((r) => `${r.name} (${r.match.measurement} ${r.match.field})`).join(", ");
    throw new AnsaiError(
      ErrorCodes.BACKTEST_INVALID,
      `no rule watches the series "${args.series.key}"; rules: ${known || "none"}`,
      "Check the measurement, tags and field of --series, or add a rule for it under analyzer.rules in the config (--config).",
    );
  }
  if (args.threshold === undefined) return rules;
  return overrideThreshold(rules, args.threshold, args.series).rules;
}

/** The input file's size (undefined for stdin); a missing or unreadable path is an error before anything runs. */
function inputSize(file: string, input: string): number | undefined {
  if (file === "-") return undefined;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: "EISDIR" });
    return st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "does not exist" : (err as Error).message;
    throw new AnsaiError(ErrorCodes.BACKTEST_INVALID, `cannot read --input ${input}: ${reason}`, "Check the path, or pass - to read stdin.", { cause: err });
  }
}

/**
 * Buffers output lines and respects backpressure, so a slow reader of stdout does not pile up
 * memory. A reader that goes away (`| head`) closes the writer: the replay stops quietly.
 */
class LineWriter {
  private buffered = "";
  private wake: (() => void) | undefined;
  /** Set when stdout failed; EPIPE (the reader left) is not an error for the exit code. */
  failure: NodeJS.ErrnoException | undefined;

  constructor(private readonly stream: Writable) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      this.failure = err;
      this.wake?.();
    });
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  async write(text: string): Promise<void> {
    this.buffered += text;
    if (this.buffered.length >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buffered === "" || this.closed) return;
    const text = this.buffered;
    this.buffered = "";
    if (this.stream.write(text)) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.stream.once("drain", resolve);
    });
    this.wake = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Table output

const STATE_WIDTH = 8;
const VALUE_WIDTH = 12;
const ETA_WIDTH = 36;

function tableFormatter(rules: readonly RuleSpec[]): { header(): string; row(t: BacktestTransition): string } {
  const ruleWidth = Math.max(4, ...rules.map((r) => r.name.length));
  const line = (time: string, state: string, rule: string, value: string, eta: string, series: string): string =>
    `${time.padEnd(24)}  ${state.padEnd(STATE_WIDTH)}  ${rule.padEnd(ruleWidth)}  ${value.padStart(VALUE_WIDTH)}  ${eta.padEnd(ETA_WIDTH)}  ${series}`.trimEnd() + "\n";
  return {
    header: () => line("TIME", "STATE", "RULE", "VALUE", "ETA", "SERIES"),
    row: (t) => line(new Date(t.timeMs).toISOString(), t.state, t.rule, formatNumber(t.value), formatEta(t), t.series),
  };
}

/** "in 3 h 10 m (2 h 50 m – 3 h 40 m)", durations from the transition's time. */
export function formatEta(t: Pick<BacktestTransition, "timeMs" | "etaMs" | "etaLowMs" | "etaHighMs">): string {
  if (t.etaMs === null) return "never";
  const from = (ms: number | null, none: string): string => (ms === null ? none : formatDuration(Math.max(0, ms - t.timeMs)));
  const eta = t.etaMs <= t.timeMs ? "now" : `in ${from(t.etaMs, "never")}`;
  return `${eta} (${from(t.etaLowMs, "never")} – ${from(t.etaHighMs, "unbounded")})`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v) || Math.abs(v) >= 1e6) return String(Math.round(v));
  return String(Number(v.toPrecision(6)));
}

// ---------------------------------------------------------------------------------------------
// Progress bar (stderr, terminals only)

const PROGRESS_DELAY_MS = 500;
const PROGRESS_EVERY_MS = 200;
const BAR_WIDTH = 30;

function startProgress(stderr: Writable, bytesRead: () => number, sizeBytes: number | undefined, stats: BacktestStats): { clear(): void; stop(): void } {
  let shown = false;
  const started = Date.now();
  const draw = (): void => {
    if (Date.now() - started < PROGRESS_DELAY_MS) return;
    const bytes = bytesRead();
    const rate = stats.samples / Math.max(0.001, (Date.now() - started) / 1000);
    let text = `${stats.samples.toLocaleString("en")} samples, ${Math.round(rate).toLocaleString("en")}/s`;
    if (Number.isFinite(stats.clockMs)) text += `, at ${new Date(stats.clockMs).toISOString().slice(0, 19)}Z`;
    if (sizeBytes !== undefined && sizeBytes > 0) {
      const share = Math.min(1, bytes / sizeBytes);
      const full = Math.round(share * BAR_WIDTH);
      text = `[${"#".repeat(full)}${"-".repeat(BAR_WIDTH - full)}] ${(share * 100).toFixed(0).padStart(3)}% ${text}`;
    }
    stderr.write(`\r\x1b[K${text}`);
    shown = true;
  };
  const clear = (): void => {
    if (!shown) return;
    stderr.write("\r\x1b[K");
    shown = false;
  };
  const timer = setInterval(draw, PROGRESS_EVERY_MS);
  timer.unref();
  return {
    clear,
    stop: () => {
      clearInterval(timer);
      clear();
    },
  };
}
