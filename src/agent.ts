import os from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import { createCollectors } from "./collector/index.js";
import { durationMs } from "./config/zod-types.js";
import { systemClock } from "./core/contracts.js";
import type { AppOptions } from "./app.js";
import { collectLoop, every } from "./pipeline.js";
import { DurableBuffer } from "./store/buffer.js";
import { startAgentJobs } from "./agent-jobs.js";
import { createRemoteSink } from "./store/remote.js";

// Kept apart from app.ts so an agent never loads the embedded database, the analyzer or the API.

export interface AgentOptions extends AppOptions {
  serverUrl: string;
  token: string;
}

export interface RunningAgent {
  host: string;
  bufferDir: string;
  /** Stops collecting, tries one last push, and closes the buffer (what is left stays on disk). */
  stop(): Promise<void>;
}

/**
 * `ansai agent`: collectors → durable on-disk buffer → push to `ansai server`. Nothing listens on
 * the host; a server outage or a restart of either side loses no sample.
 */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const host = config.host ?? os.hostname();
  const bufferDir = path.join(path.resolve(opts.cwd, config.data_dir), "agent-buffer");
  const registry = new Registry();
  const buffer = DurableBuffer.open({
    dir: bufferDir,
    maxBytes: config.agent.buffer.max_bytes,
    overflow: config.agent.buffer.overflow,
    log: log.child({ component: "buffer" }),
  });
  const remote = createRemoteSink({
    serverUrl: opts.serverUrl,
    token: opts.token,
    host,
    labels: config.agent.labels,
    version: opts.version,
    buffer,
    log: log.child({ component: "push" }),
    registry,
  });
  const stopSender = remote.start();
  const collect = collectLoop(createCollectors(config.collectors, opts.env), { host, clock, log, registry, sink: (points) => remote.write(points) });
  const stopCollect = every(durationMs(config.interval), collect, log, "collection");
  // Healing the server decides: pulled from it, run only if this host's own config declares and enables the action.
  const jobs = startAgentJobs({
    serverUrl: opts.serverUrl,
    token: opts.token,
    name: host,
    remediation: config.remediation,
    env: opts.env,
    dataDir: path.resolve(opts.cwd, config.data_dir),
    clock,
    log: log.child({ component: "jobs" }),
  });
  let stopping: Promise<void> | undefined;
  return {
    host,
    bufferDir,
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all([stopCollect(), jobs.stop()]);
        await stopSender();
        await remote.drain().catch((err: unknown) => log.warn({ err: (err as Error).message, buffered: buffer.stats().points }, "server unreachable at shutdown; points stay buffered on disk"));
        buffer.close();
      })()),
  };
}
