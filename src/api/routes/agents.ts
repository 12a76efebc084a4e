import { gunzip } from "node:zlib";
import { promisify } from "node:util";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { z } from "zod";
import { createSeriesCache, parseLineProtocol } from "../../collector/ingest/line-protocol.js";
import type { AgentRegistry, AgentSpec } from "../../collector/ingest/agents.js";
import type { Clock } from "../../core/contracts.js";
import { ErrorCodes } from "../../core/errors.js";
import type { Point } from "../../core/point.js";
import { AGENT_WRITE_PATH, AgentHeaders } from "../../store/remote.js";
import { requestToken } from "../auth.js";
import { ApiError, problemResponses, sendProblem } from "../problem.js";
import { agentStateSchema } from "../schemas.js";

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

const pushHeaders = z.looseObject({
  [AgentHeaders.seq]: z.coerce.number().int().min(1).describe("Batch sequence number; a retry at or below the last applied one is acknowledged and skipped."),
  [AgentHeaders.version]: z.string().optional().describe("The agent's ANSAI version."),
  [AgentHeaders.host]: z.string().optional().describe("The agent's host tag."),
  [AgentHeaders.labels]: z.string().optional().describe("JSON object of the agent's labels."),
  [AgentHeaders.bufferPoints]: z.string().optional().describe("Points waiting in the agent's buffer behind this batch."),
  [AgentHeaders.droppedPoints]: z.string().optional().describe("Points the agent's buffer gave up since it started."),
  "content-encoding": z.string().optional().describe("gzip, or absent for plain line protocol."),
});

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
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/agents",
    {
      config: { scope: "read" },
      schema: {
        tags: ["agents"],
        operationId: "listAgents",
        summary: "Agents known to this server: last seen, version, buffer depth, silent or not.",
        response: { 200: z.object({ agents: z.array(agentStateSchema) }), ...problemResponses },
      },
    },
    async () => ({ agents: deps.agents.list() }),
  );
  // One series cache across pushes: a series keeps one tags object, so the store and analyzer find it by identity.
  const seriesCache = createSeriesCache();
  // The agent each request authenticated as; per request, gone with it.
  const pushers = new WeakMap<FastifyRequest, AgentSpec>();

  app.register(async (scope) => {
    // Raw bytes whatever the content type (fastify would decode text/plain as UTF-8 and break gzip).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: deps.maxBodyBytes }, (_req, body, done) => done(null, body));
    scope.withTypeProvider<ZodTypeProvider>().post(
      AGENT_WRITE_PATH,
      {
        bodyLimit: deps.maxBodyBytes,
        // Agents have tokens of their own (server.agents), checked here rather than by the API token hook.
        config: {
          scope: "agent",
          rawBody: { mediaTypes: ["text/plain"], description: "Line protocol (ms precision), optionally gzip-compressed (Content-Encoding: gzip)." },
        },
        schema: {
          tags: ["agents"],
          operationId: "agentPush",
          summary: "An agent's batch of points; answered once durable. Needs the agent's own token (server.agents), not an API token.",
          headers: pushHeaders,
          response: { 204: z.undefined().describe("Durable (or a duplicate of a batch already applied)."), ...problemResponses },
        },
        // After the rate limiter, before the body is read: an unknown client must not make us decompress anything.
        preParsing: async (req) => {
          const agent = deps.agents.authenticate(requestToken(req) ?? "");
          if (agent !== undefined) return void pushers.set(req, agent);
          deps.log.warn({ ip: req.ip }, "agent push with an unknown token refused");
          throw new ApiError(401, ErrorCodes.API_UNAUTHORIZED, "unknown agent token", "Add the agent to the server's server.agents list, or fix the agent's --token.");
        },
      },
      async (req, reply) => {
        const agent = pushers.get(req);
        if (agent === undefined) throw new ApiError(401, ErrorCodes.API_UNAUTHORIZED, "unknown agent token", "Fix the agent's --token.");
        const seq = req.headers[AgentHeaders.seq];
        const nowMs = deps.clock.nowMs();
        if (deps.agents.isDuplicate(agent.name, seq)) {
          deps.agents.seen(agent.name, nowMs);
          return reply.header("x-ansai-duplicate", "1").code(204).send();
        }
        const raw = req.body as Buffer;
        let text: string;
        try {
          const encoding = header(req.headers["content-encoding"]);
          text = (encoding === "gzip" ? await gunzipAsync(raw, { maxOutputLength: deps.maxBodyBytes }) : raw).toString("utf8");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
            return sendProblem(reply, 413, ErrorCodes.API_BODY_TOO_LARGE, `the push decompresses to more than ${deps.maxBodyBytes} bytes`, "Push smaller batches, or raise server.max_push_bytes on the server.");
          }
          return sendProblem(reply, 400, ErrorCodes.QUERY_INVALID, `the push is not valid gzip: ${(err as Error).message}`, "Send line protocol, gzip-compressed with Content-Encoding: gzip or plain.");
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
          return sendProblem(
            reply,
            400,
            ErrorCodes.QUERY_INVALID,
            `partial write: ${first.message} (line ${first.line}, column ${first.column}); dropped ${errors.length} lines`,
            "The other lines were stored; fix the collector that produced the bad line.",
          );
        }
        return reply.code(204).send();
      },
    );
  });
}
