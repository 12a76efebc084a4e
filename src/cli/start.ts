import { startApp } from "../app.js";
import { loadConfig } from "../config/load.js";
import { createLogger } from "./logger.js";
import { readVersion } from "./version.js";

/** `ansai start`: collect, store, predict, alert and (dry-run) heal on this host until a signal. */
export async function runStart(opts: { config?: string }): Promise<void> {
  const { config, file } = loadConfig({ file: opts.config, cwd: process.cwd() });
  const log = createLogger(config.log.level);
  const version = readVersion();
  const app = await startApp({ config, cwd: process.cwd(), log, version, env: process.env });
  const w = app.watching;
  console.log(`ANSAI ${version} on ${app.host}: serving ${app.url}`);
  console.log(`  config:      ${file ?? "none found (defaults; see `ansai check`)"}`);
  console.log(`  data:        ${app.dataDir}`);
  console.log(`  watching:    ${w.collectors.join(", ")}; disks: ${Array.isArray(w.mounts) ? w.mounts.join(", ") : w.mounts}; processes: ${w.processes}`);
  console.log(`  rules:       ${w.rules.join(", ")}`);
  console.log(`  remediation: ${w.remediation}`);
  console.log(`  try:         ansai status   (or curl ${app.url}/api/v1/predictions)`);

  let signals = 0;
  const shutdown = (signal: string): void => {
    if (++signals > 1) {
      log.warn("second signal: exiting without a final flush");
      process.exit(1);
    }
    log.info({ signal }, "stopping: flushing the store");
    app.stop().then(
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
