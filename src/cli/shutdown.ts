import type { Logger } from "pino";

/** SIGINT/SIGTERM run `stop` (flush, close) and exit 0; a second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) {
      log.warn("second signal: exiting without a final flush");
      process.exit(1);
    }
    log.info({ signal }, "stopping: flushing what is pending");
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "clean shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}
