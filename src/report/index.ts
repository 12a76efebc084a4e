import type { Logger } from "pino";
import type { Clock, Store } from "../core/contracts.js";
import type { NotifierConfig } from "../notifier/config.js";
import { reportsDir, type ReportsConfig } from "./config.js";
import { createReportService, type ReportService } from "./generate.js";
import { createReportScheduler, type ReportScheduler } from "./scheduler.js";

export { reportsConfigSchema, type ReportsConfig, type ReportFormat } from "./config.js";
export { collectReport } from "./collect.js";
export { renderReport } from "./render.js";
export { registerReportRoutes, type ReportRouteDeps } from "./routes.js";
export type { ReportService, GeneratedReport } from "./generate.js";
export type { ReportScheduler } from "./scheduler.js";
export type { Report } from "./types.js";

export interface ReportsOptions {
  config: ReportsConfig;
  /** Resolved data dir: the default reports directory is `<dataDir>/reports`. */
  dataDir: string;
  /** Directory a relative `reports.dir` is resolved against. */
  cwd: string;
  store: Store;
  clock: Clock;
  log: Logger;
  notifiers: Pick<NotifierConfig, "email">;
  version: string;
}

/**
 * The report service (for POST /api/v1/reports) and its cron scheduler, not yet started.
 * @throws AnsaiError CONFIG_INVALID for a bad schedule or time zone.
 */
export function createReports(opts: ReportsOptions): { service: ReportService; scheduler: ReportScheduler } {
  const log = opts.log.child({ component: "report" });
  const service = createReportService({
    config: opts.config,
    dir: reportsDir(opts.config, opts.dataDir, opts.cwd),
    store: opts.store,
    clock: opts.clock,
    log,
    notifiers: opts.notifiers,
    version: opts.version,
  });
  return { service, scheduler: createReportScheduler(opts.config, service, log) };
}
