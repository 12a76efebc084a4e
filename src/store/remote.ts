import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { PointSink } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { formatLineProtocol } from "../collector/ingest/line-protocol.js";
import type { DurableBuffer } from "./buffer.js";

/** Path of the server's agent push endpoint. */
export const AGENT_WRITE_PATH = "/api/v1/agent/write";

/** Headers an agent sends with every push; the server shows them in /api/v1/agents. */
export const AgentHeaders = {
  seq: "x-ansai-seq",
  version: "x-ansai-agent-version",
  host: "x-ansai-host",
  labels: "x-ansai-labels",
  bufferPoints: "x-ansai-buffer-points",
  droppedPoints: "x-ansai-dropped-points",
} as const;

export interface RemoteSinkOptions {
  /** Base URL of `ansai server`, e.g. http://central:9847. */
  serverUrl: string;
  token: string;
  host: string;
  labels: Readonly<Record<string, string>>;
  version: string;
  buffer: DurableBuffer;
  log: Logger;
  registry?: Registry;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Longest wait between retries while the server is unreachable (ms). */
  maxBackoffMs?: number;
}

export interface RemoteSink extends PointSink {
  /** Sends until the buffer is empty or the server fails; resolves after one drain attempt. */
  drain(): Promise<void>;
  /** Starts the background sender; returns a function that stops it. */
  start(): () => Promise<void>;
}

const MIN_BACKOFF_MS = 500;

/**
 * The agent's store: every collection pass is appended (fsynced) to the durable buffer, and a
 * sender pushes the oldest batch to the server until acknowledged. Each batch carries its
 * sequence number, so a retry of a batch the server already applied is recognised there and not
 * written twice.
 */
export function createRemoteSink(opts: RemoteSinkOptions): RemoteSink {
  const registers = opts.registry ? [opts.registry] : [];
  const sent = new Counter({ name: "ansai_agent_points_sent_total", help: "Points acknowledged by the server.", registers });
  const failures = new Counter({ name: "ansai_agent_push_failures_total", help: "Failed pushes by reason.", labelNames: ["reason"], registers });
  const depth = new Gauge({ name: "ansai_agent_buffer_points", help: "Points waiting in the durable buffer.", registers });
  const url = new URL(AGENT_WRITE_PATH, opts.serverUrl).toString();
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  let backoffMs = 0;
  let wake: (() => void) | undefined;

  /** One push of the oldest batch; true when it was acknowledged (or dropped as unfixable). */
  async function pushOne(): Promise<boolean> {
    const batch = opts.buffer.peek();
    if (!batch) return false;
    const stats = opts.buffer.stats();
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        body: gzipSync(batch.payload),
        headers: {
          authorization: `Token ${opts.token}`,
          "content-type": "text/plain; charset=utf-8",
          "content-encoding": "gzip",
          [AgentHeaders.seq]: String(batch.seq),
          [AgentHeaders.version]: opts.version,
          [AgentHeaders.host]: opts.host,
          [AgentHeaders.labels]: JSON.stringify(opts.labels),
          // Waiting behind this batch: zero once the agent has caught up.
          [AgentHeaders.bufferPoints]: String(stats.points - batch.points),
          [AgentHeaders.droppedPoints]: String(stats.droppedPoints),
        },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      });
    } catch (err) {
      failures.inc({ reason: "unreachable" });
      throw new Error(`server ${opts.serverUrl} unreachable: ${(err as Error).message}`, { cause: err });
    }
    const body = await res.text();
    if (res.ok) {
      opts.buffer.ack(batch.seq);
      sent.inc(batch.points);
      return true;
    }
    if (res.status === 400 || res.status === 413) {
      // The server refused lines it will never accept: retrying cannot help, so move on loudly.
      failures.inc({ reason: "rejected" });
      opts.log.error({ seq: batch.seq, status: res.status, body: body.slice(0, 500) }, "server rejected a batch; it is dropped");
      opts.buffer.ack(batch.seq);
      return true;
    }
    failures.inc({ reason: res.status === 401 || res.status === 403 ? "unauthorized" : `http_${res.status}` });
    const hint = res.status === 401 || res.status === 403 ? "check --token against the server's agents list" : "will retry";
    throw new Error(`server answered ${res.status} (${body.slice(0, 200)}): ${hint}`);
  }

  async function drain(): Promise<void> {
    while (await pushOne()) backoffMs = 0;
    depth.set(opts.buffer.stats().points);
  }

  return {
    write(points: readonly Point[]) {
      if (points.length === 0) return;
      opts.buffer.append(formatLineProtocol(points), points.length);
      depth.set(opts.buffer.stats().points);
      wake?.();
    },
    drain,
    start() {
      let stopped = false;
      let sleeping: { resolve: () => void; timer?: NodeJS.Timeout } | undefined;
      // Idle: sleep until new data arrives. Backing off: sleep the backoff, new data or not.
      const sleep = (ms: number): Promise<void> =>
        new Promise((resolve) => {
          sleeping = { resolve, timer: ms > 0 ? setTimeout(resolve, ms) : undefined };
        });
      wake = () => {
        if (backoffMs === 0) sleeping?.resolve();
      };
      const loop = (async () => {
        while (!stopped) {
          try {
            await drain();
          } catch (err) {
            backoffMs = Math.min(maxBackoffMs, Math.max(MIN_BACKOFF_MS, backoffMs * 2));
            opts.log.warn({ err: (err as Error).message, retryInMs: backoffMs, buffered: opts.buffer.stats().points }, "push failed; buffering on disk");
          }
          if (!stopped) await sleep(backoffMs);
          clearTimeout(sleeping?.timer);
          sleeping = undefined;
        }
      })();
      return async () => {
        stopped = true;
        sleeping?.resolve();
        await loop;
      };
    },
  };
}
