import { readFileSync } from "node:fs";
import { startAgent } from "../agent.js";
import { loadConfig } from "../config/load.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { createLogger } from "./logger.js";
import { onShutdown } from "./shutdown.js";
import { readVersion } from "./version.js";

/** `ansai agent --server URL --token T`: collect here, buffer on disk, push to the server. */
export async function runAgent(opts: { config?: string; server?: string; token?: string }): Promise<void> {
  const { config, file } = loadConfig({ file: opts.config, cwd: process.cwd() });
  const serverUrl = opts.server ?? config.agent.server;
  const token = opts.token ?? config.agent.token ?? (config.agent.token_file ? readFileSync(config.agent.token_file, "utf8").trim() : undefined);
  if (!serverUrl || !token) {
    throw new AnsaiError(
      ErrorCodes.CONFIG_INVALID,
      `ansai agent needs the server's URL and this agent's token${file ? ` (none in ${file})` : ""}`,
      "Run `ansai agent --server http://SERVER:9847 --token TOKEN`, or set agent.server and agent.token (or agent.token_file) in the config; the token must be listed in the server's server.agents.",
    );
  }
  const log = createLogger(config.log.level);
  const version = readVersion();
  const agent = await startAgent({ config, cwd: process.cwd(), log, version, env: process.env, serverUrl, token });
  console.log(`ANSAI agent ${version} on ${agent.host}: pushing to ${serverUrl}`);
  console.log(`  buffer: ${agent.bufferDir} (up to ${config.agent.buffer.max_bytes} bytes, ${config.agent.buffer.overflow} when full)`);
  onShutdown(log, () => agent.stop());
}
