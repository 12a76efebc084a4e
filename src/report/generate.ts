import type { Logger } from "pino";
import { durationMs } from "../config/zod-types.js";
import type { Clock, Store } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import type { NotifierConfig } from "../notifier/config.js";
import { collectReport, reportIdFor } from "./collect.js";
import type { ReportFormat, ReportsConfig } from "./config.js";
import { pruneReports, uniqueId, writeReportFiles } from "./files.js";
import { renderReport } from "./render.js";
import { emailReport, postReport, reportSmtp } from "./send.js";
import type { Report } from "./types.js";

export interface ReportServiceOptions {
  config: ReportsConfig;
  /** Resolved reports directory (see `reportsDir`). */
  dir: string;
  store: Store;
  clock: Clock;
  log: Logger;
  /** For reports.email: the SMTP servers of notifiers.email. */
  notifiers: Pick<NotifierConfig, "email">;
  /** ANSAI's version, for the webhook's User-Agent. */
  version: string;
  /** Called after each series read (progress bars). */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** What one run made. */
export interface GeneratedReport {
  id: string;
  formats: ReportFormat[];
  /** Files written. */
  paths: string[];
  report: Report;
  /** Delivery outcome per configured destination: "sent" or the error message. */
  delivery: { email?: string; webhook?: string };
}

export interface ReportService {
  readonly dir: string;
  /**
   * Makes a report now: collect, render, write, prune, deliver. Never two at once: a call while
   * a run is in progress gets that run's result. Throws AnsaiError REPORT_FAILED when nothing
   * could be written; a failed delivery is only logged (the files are there).
   */
  generate(): Promise<GeneratedReport>;
  /** True while a run is in progress. */
  busy(): boolean;
}

/** Deadline of one delivery (mail or webhook) beyond their own timeouts, so a run always ends. */
const DELIVERY_DEADLINE_MS = 120_000;

export function createReportService(opts: ReportServiceOptions): ReportService {
  const { config, dir, log } = opts;
  let inFlight: Promise<GeneratedReport> | undefined;

  async function run(): Promise<GeneratedReport> {
    const nowMs = opts.clock.nowMs();
    const started = performance.now();
    let report: Report;
    let rendered: Array<[ReportFormat, string]>;
    let paths: string[];
    try {
      const id = await uniqueId(dir, reportIdFor(nowMs));
      report = await collectReport({
        store: opts.store,
        nowMs,
        horizonMs: durationMs(config.horizon),
        historyMs: durationMs(config.history),
        timezone: config.timezone,
        id,
        log,
        onProgress: opts.onProgress,
      });
      rendered = [];
      for (const f of config.formats) rendered.push([f, await renderReport(report, f)]);
      paths = await writeReportFiles(dir, id, rendered);
    } catch (err) {
      if (err instanceof AnsaiError) throw err;
      throw new AnsaiError(ErrorCodes.REPORT_FAILED, `capacity report failed: ${err instanceof Error ? err.message : String(err)}`,
        "Check the store and the reports directory (reports.dir); `ansai report` retries at once.", { cause: err });
    }
    const pruned = await pruneReports(dir, config.keep).catch((err: unknown) => {
      log.warn({ err, dir }, "could not delete old reports; check permissions on the reports directory");
      return [];
    });
    log.info({ id: report.id, paths, pruned, items: report.summary.items, ms: Math.round(performance.now() - started) }, "capacity report written");
    const delivery = await deliver(report, rendered);
    return { id: report.id, formats: [...config.formats], paths, report, delivery };
  }

  async function deliver(report: Report, rendered: ReadonlyArray<[ReportFormat, string]>): Promise<GeneratedReport["delivery"]> {
    const out: GeneratedReport["delivery"] = {};
    const text = async (f: ReportFormat): Promise<string> => rendered.find(([g]) => g === f)?.[1] ?? renderReport(report, f);
    const signal = AbortSignal.timeout(DELIVERY_DEADLINE_MS);
    if (config.email !== undefined) {
      out.email = await attempt("email", async () => {
        const smtp = reportSmtp(config, opts.notifiers)!;
        await emailReport(smtp, config.email!.to, report, await text("markdown"), await text("html"), signal);
      });
    }
    if (config.webhook !== undefined) {
      const webhook = config.webhook;
      out.webhook = await attempt("webhook", () => postReport(webhook, report, `ansai/${opts.version}`, signal));
    }
    return out;
  }

  async function attempt(channel: "email" | "webhook", send: () => Promise<void>): Promise<string> {
    try {
      await send();
      log.info({ channel }, "capacity report sent");
      return "sent";
    } catch (err) {
      const hint = channel === "email" ? "check notifiers.email (host, port, credentials) and reports.email.to" : "check reports.webhook.url and that the receiver answers 2xx";
      log.error({ err, channel, hint }, `capacity report not sent by ${channel}; the files are written. To fix: ${hint}`);
      return err instanceof Error ? err.message : String(err);
    }
  }

  return {
    dir,
    generate(): Promise<GeneratedReport> {
      if (inFlight) return inFlight;
      const current = run().finally(() => {
        inFlight = undefined;
      });
      inFlight = current;
      return current;
    },
    busy: () => inFlight !== undefined,
  };
}
