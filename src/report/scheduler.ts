import { createTask, validate, type ScheduledTask } from "node-cron";
import type { Logger } from "pino";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { isTimeZone, type ReportsConfig } from "./config.js";
import type { ReportService } from "./generate.js";

export interface ReportScheduler {
  /** Starts the cron task (no-op when reports are disabled). */
  start(): void;
  /** Stops the cron task; a run in progress finishes on its own. */
  stop(): Promise<void>;
  /** Next scheduled run (ms), or null when stopped or disabled. */
  nextRunMs(): number | null;
  /** One scheduled run, as the cron task does it: never throws, logs what to do. */
  runOnce(): Promise<void>;
}

/** Checks a cron expression and time zone; throws AnsaiError CONFIG_INVALID saying what to write instead. */
export function checkSchedule(schedule: string, timezone: string): void {
  if (!validate(schedule)) {
    throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `reports.schedule "${schedule}" is not a cron expression`,
      'Write five fields (minute hour day-of-month month day-of-week), e.g. "0 7 * * 1" for Mondays at 07:00, or six with seconds first.');
  }
  if (!isTimeZone(timezone)) {
    throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `reports.timezone "${timezone}" is not a time zone`, 'Use an IANA name such as "UTC", "Europe/Paris" or "America/New_York".');
  }
}

/**
 * Runs `service.generate()` on `config.schedule` in `config.timezone` with node-cron. Runs never
 * overlap (node-cron's noOverlap, and the service joins a run in progress); a failed run is
 * logged with what to do and the next one runs as scheduled: a report never stops ANSAI.
 */
export function createReportScheduler(config: Pick<ReportsConfig, "enabled" | "schedule" | "timezone">, service: ReportService, log: Logger): ReportScheduler {
  checkSchedule(config.schedule, config.timezone);
  let task: ScheduledTask | undefined;

  async function runOnce(): Promise<void> {
    try {
      await service.generate();
    } catch (err) {
      const hint = err instanceof AnsaiError ? err.hint : "see the error; `ansai report` retries at once";
      log.error({ err, hint, dir: service.dir }, `scheduled capacity report failed; the next runs as scheduled. To fix: ${hint}`);
    }
  }

  return {
    start(): void {
      if (!config.enabled || task) return;
      task = createTask(config.schedule, runOnce, {
        name: "ansai-capacity-report",
        timezone: config.timezone,
        noOverlap: true,
        logger: {
          info: (m) => log.debug({ cron: true }, m),
          warn: (m) => log.warn({ cron: true }, m),
          error: (m, err) => log.error({ cron: true, err }, String(m)),
          debug: (m) => log.debug({ cron: true }, String(m)),
        },
      });
      // Only a skipped run is worth a line; the run itself logs its outcome.
      task.on("execution:overlap", () => log.warn("capacity report still running at its next scheduled time; that run is skipped"));
      void task.start();
      log.info({ schedule: config.schedule, timezone: config.timezone, next: task.getNextRun()?.toISOString() }, "capacity reports scheduled");
    },
    async stop(): Promise<void> {
      const t = task;
      task = undefined;
      if (t) await t.destroy();
    },
    nextRunMs: () => task?.getNextRun()?.getTime() ?? null,
    runOnce,
  };
}
