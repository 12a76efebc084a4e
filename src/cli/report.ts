import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { durationMs } from "../config/zod-types.js";
import { systemClock, type Clock } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { collectReport } from "../report/collect.js";
import { REPORT_FORMATS, reportsConfigSchema, type ReportFormat, type ReportsConfig } from "../report/config.js";
import { renderReport } from "../report/render.js";
import type { Report } from "../report/types.js";
import { apiUrl, authHeaders } from "./api-client.js";
import { openEmbeddedStore } from "../store/embedded.js";

export const REPORT_USAGE = `Usage: ansai report [--config F] [--format html|markdown|json] [--out FILE] [--url URL]

Makes a capacity report now from the data dir: per host, disk, inodes, memory, CPU and
certificates with growth, predicted exhaustion and what to do. Horizon, history and time zone
come from the config's reports section.

When a running ANSAI holds the database (DuckDB allows one process at a time, even for
reading), the report is asked of it instead: POST /api/v1/reports at --url (default: the
config's api.listen and api.port), which also writes it to the reports directory.

Options:
  -c, --config F     config file (default: ./ansai.yaml, then /etc/ansai/ansai.yaml, else defaults)
  --format F         html (self-contained page with charts), markdown, or json (schema 1);
                     default: from --out's extension, else markdown
  --out FILE         write there instead of stdout
  --url URL          API of the running ANSAI, when it holds the database
  -h, --help         this help
`;

/** Where the command writes; the CLI passes the process's streams, tests their own. */
export interface ReportIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
  cwd: string;
  log?: Logger;
  /** "Now" of the report; default the system clock. */
  clock?: Clock;
}

const EXTENSION_FORMATS: Readonly<Record<string, ReportFormat>> = { ".html": "html", ".htm": "html", ".md": "markdown", ".json": "json" };

/** `ansai report`: returns the exit code (0 written, 2 bad usage); other failures throw AnsaiError. */
export async function runReport(argv: string[], io: ReportIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      format: { type: "string" },
      out: { type: "string" },
      url: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.stdout.write(REPORT_USAGE);
    return 0;
  }
  const format = chooseFormat(values.format, values.out);
  if (format === undefined) {
    io.stderr.write(`--format must be one of ${REPORT_FORMATS.join(", ")}\n\n${REPORT_USAGE}`);
    return 2;
  }
  const { config } = loadConfig({ file: values.config, cwd: io.cwd });
  const reports = reportsSection(config);
  const dataDir = path.resolve(io.cwd, config.data_dir);
  const text = await localReport(config, reports, dataDir, format, io).catch(async (err: unknown) => {
    if (!(err instanceof AnsaiError) || err.code !== ErrorCodes.STORE_LOCKED) throw err;
    const url = values.url ?? apiUrl(config);
    io.stderr.write(`the database is in use by a running ANSAI; asking it at ${url}\n`);
    return remoteReport(url, format);
  });
  if (values.out === undefined) io.stdout.write(text);
  else {
    await writeFile(path.resolve(io.cwd, values.out), text, "utf8");
    io.stderr.write(`report written to ${values.out}\n`);
  }
  return 0;
}

function chooseFormat(flag: string | undefined, out: string | undefined): ReportFormat | undefined {
  if (flag !== undefined) return (REPORT_FORMATS as readonly string[]).includes(flag) ? (flag as ReportFormat) : undefined;
  return (out && EXTENSION_FORMATS[path.extname(out).toLowerCase()]) || "markdown";
}

/** The config's reports section; its defaults until the section is part of the main schema. */
function reportsSection(config: Config): ReportsConfig {
  return reportsConfigSchema.parse((config as { reports?: unknown }).reports ?? {});
}

async function localReport(config: Config, reports: ReportsConfig, dataDir: string, format: ReportFormat, io: ReportIo): Promise<string> {
  if (!existsSync(path.join(dataDir, "ansai.duckdb"))) {
    throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `no ANSAI data in ${dataDir}`, "Run `ansai start` first to collect history, or pass --config with the data_dir it uses.");
  }
  const clock = io.clock ?? systemClock;
  const store = await openEmbeddedStore({
    dataDir,
    log: io.log ?? pino({ level: "silent" }),
    clock,
    retentionMs: durationMs(config.storage.retention),
    rollupStepMs: durationMs(config.storage.rollup_step),
    rollupRetentionMs: durationMs(config.storage.rollup_retention),
  });
  const progress = progressReporter(io.stderr);
  let report: Report;
  try {
    report = await collectReport({
      store,
      nowMs: clock.nowMs(),
      horizonMs: durationMs(reports.horizon),
      historyMs: durationMs(reports.history),
      timezone: reports.timezone,
      log: io.log,
      onProgress: progress.update,
    });
  } finally {
    progress.end();
    await store.close();
  }
  return renderReport(report, format);
}

/** Asks a running ANSAI to make a report, then fetches it (JSON rendered here when the format is not written there). */
async function remoteReport(url: string, format: ReportFormat): Promise<string> {
  const made = (await call(url, "/api/v1/reports", { method: "POST" })) as { id: string; formats: ReportFormat[] };
  if (made.formats.includes(format)) return (await call(url, `/api/v1/reports/${made.id}?format=${format}`, {}, true)) as string;
  if (!made.formats.includes("json")) {
    throw new AnsaiError(ErrorCodes.REPORT_NOT_FOUND, `the running ANSAI writes ${made.formats.join(", ")}, not ${format}`, `Add ${format} (or json) to reports.formats, or ask for one of ${made.formats.join(", ")}.`);
  }
  const report = (await call(url, `/api/v1/reports/${made.id}?format=json`, {})) as Report;
  return renderReport(report, format);
}

async function call(base: string, route: string, init: RequestInit, asText = false): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${route}`, { ...init, headers: { ...authHeaders(undefined), ...(init.headers as Record<string, string> | undefined) }, signal: AbortSignal.timeout(10 * 60_000) });
  } catch (err) {
    throw new AnsaiError(ErrorCodes.API_UNREACHABLE, `the database is locked and ANSAI does not answer at ${base}: ${(err as Error).message}`,
      "Pass --url with the running ANSAI's API address, or stop the process that holds the data dir.", { cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    const body = safeJson(text) as { code?: string; detail?: string; hint?: string } | undefined;
    throw new AnsaiError(ErrorCodes.REPORT_FAILED, `${init.method ?? "GET"} ${route} answered ${res.status}: ${body?.detail ?? text.slice(0, 200)}`,
      body?.hint ?? "See the running ANSAI's log.");
  }
  return asText ? text : safeJson(text);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}


/** A bar on a terminal (redrawn in place), plain lines every 10% otherwise. */
function progressReporter(stderr: ReportIo["stderr"]): { update: (done: number, total: number, label: string) => void; end: () => void } {
  const tty = stderr.isTTY === true;
  let lastTenth = -1;
  let drawn = false;
  return {
    update(done, total, label) {
      const fraction = total > 0 ? done / total : 1;
      if (tty) {
        const width = 24;
        const filled = Math.round(fraction * width);
        const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${label}`;
        stderr.write(`\r\x1b[2K${line.slice(0, Math.max(20, (stderr.columns ?? 80) - 1))}`);
        drawn = true;
        return;
      }
      const tenth = Math.floor(fraction * 10);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      stderr.write(`report: read ${done}/${total} series\n`);
    },
    end() {
      if (drawn) stderr.write("\r\x1b[2K");
    },
  };
}
