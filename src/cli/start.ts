import { startApp } from "../app.js";
import { loadConfig } from "../config/load.js";
import { createLogger } from "./logger.js";
import { onShutdown } from "./shutdown.js";
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
  if (config.server.agents.length > 0) console.log(`  agents:      ${config.server.agents.map((a) => a.name).join(", ")} may push to ${app.url}/api/v1/agent/write`);
  console.log(`  try:         ansai status   (or curl ${app.url}/api/v1/predictions)`);

  onShutdown(log, () => app.stop());
}
