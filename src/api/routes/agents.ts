import { gunzip } from "node:zlib";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { createSeriesCache, parseLineProtocol } from "../../collector/ingest/line-protocol.js";
import type { AgentRegistry } from "../../collector/ingest/agents.js";
import type { Clock } from "../../core/contracts.js";
import type { Point } from "../../core/point.js";
import { AGENT_WRITE_PATH, AgentHeaders } from "../../store/remote.js";

const gunzipAsync = promisify(gunzip);

export interface AgentRouteDeps {
  agents: AgentRegistry;
  /** The pipeline: store and analyzer. */
  sink: (points: readonly Point[]) => void;
  /** Resolves once everything written so far is durable: the ack to the agent waits for it. */
  flush: () => Promise<void>;
  /** Whether the pipeline can take `values` more field values now (backpressure). */
  room: (values: number) => boolean;
  clock: Clock;
  log: Logger;
  /** Largest accepted push, compressed and decompressed (bytes). */
  maxBodyBytes: number;
}

const header = (value: string | string[] | undefined): string => (Array.isArray(value) ? (value[0] ?? "") : (value ?? ""));

function parseLabels(text: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(text || "{}");
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string").slice(0, 32));
  } catch {
    return {};
  }
}

/** Agents push here; the server answers only once the batch is durable, and applies each seq once. */
export function registerAgentRoutes(app: FastifyInstance, deps: AgentRouteDeps): void {
  app.get("/api/v1/agents", async () => ({ agents: deps.agents.list() }));
  // One series cache across pushes: a series keeps one tags object, so the store and analyzer find it by identity.
  const seriesCache = createSeriesCache();

  app.register(async (scope) => {
    // Raw bytes whatever the content type (fastify would decode text/plain as UTF-8 and break gzip).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: deps.maxBodyBytes }, (_req, body, done) => done(null, body));
    scope.post(AGENT_WRITE_PATH, async (req, reply) => {
      const token = header(req.headers.authorization).replace(/^Token\s+/i, "");
      const agent = deps.agents.authenticate(token);
      if (!agent) {
        deps.log.warn({ ip: req.ip }, "agent push with an unknown token refused");
        return reply.code(401).send({ code: "unauthorized", message: "unknown agent token: add it to the server's agents list, or fix --token" });
      }
      const seq = Number(header(req.headers[AgentHeaders.seq]));
      if (!Number.isSafeInteger(seq) || seq < 1) return reply.code(400).send({ code: "invalid", message: `${AgentHeaders.seq} must be a positive integer` });
      const nowMs = deps.clock.nowMs();
      if (deps.agents.isDuplicate(agent.name, seq)) {
        deps.agents.seen(agent.name, nowMs);
        return reply.code(204).header("x-ansai-duplicate", "1").send();
      }
      const raw = req.body as Buffer;
      let text: string;
      try {
        const encoding = header(req.headers["content-encoding"]);
        text = (encoding === "gzip" ? await gunzipAsync(raw, { maxOutputLength: deps.maxBodyBytes }) : raw).toString("utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
          return reply.code(413).send({ code: "too large", message: `the push decompresses to more than ${deps.maxBodyBytes} bytes (server.max_push_bytes)` });
        }
        return reply.code(400).send({ code: "invalid", message: `the push is not valid gzip: ${(err as Error).message}` });
      }
      const { points, errors } = parseLineProtocol(text, { precision: "ms", defaultTimeMs: nowMs, seriesCache });
      const report = {
        seq,
        host: header(req.headers[AgentHeaders.host]) || agent.name,
        version: header(req.headers[AgentHeaders.version]) || "unknown",
        labels: parseLabels(header(req.headers[AgentHeaders.labels])),
        bufferPoints: Number(header(req.headers[AgentHeaders.bufferPoints])) || 0,
        droppedPoints: Number(header(req.headers[AgentHeaders.droppedPoints])) || 0,
        nowMs,
      };
      // The applied seq travels with the data in the same flush, so it survives a server restart.
      const heartbeat: Point = {
        measurement: "ansai_agent",
        tags: { agent: agent.name, host: report.host },
        fields: { batch_seq: seq, buffer_points: report.bufferPoints, dropped_points: report.droppedPoints, points: points.length },
        timeMs: nowMs,
      };
      const values = points.reduce((n, p) => n + Object.keys(p.fields).length, 4);
      while (!deps.room(values)) await deps.flush();
      deps.sink([...points, heartbeat]);
      await deps.flush();
      deps.agents.applied(agent.name, report);
      if (errors.length > 0) {
        const first = errors[0]!;
        deps.log.warn({ agent: agent.name, bad: errors.length, first }, "agent push had malformed lines; the good ones were kept");
        return reply.code(400).send({ code: "invalid", message: `partial write: ${first.message} (line ${first.line}, column ${first.column}); dropped ${errors.length} lines` });
      }
      return reply.code(204).send();
    });
  });
}
