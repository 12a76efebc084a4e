import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { problemResponses } from "../problem.js";
import { alertSchema, predictionSchema } from "../schemas.js";
import { INFLUXDB_COMPAT_VERSION } from "./influxql.js";
import type { ApiDeps } from "../server.js";

const healthSchema = z.object({
  status: z.literal("ok"),
  version: z.string(),
  host: z.string(),
  uptimeS: z.number().int().describe("Seconds since the API started."),
  pendingPoints: z.number().int().describe("Points queued for the store, not yet durable."),
});

const statusSchema = z.object({
  version: z.string(),
  host: z.string(),
  watching: z.record(z.string(), z.unknown()).describe("Collectors, mounts, processes, rules and remediation mode."),
  predictions: z.array(predictionSchema),
  alerts: z.array(alertSchema),
});

export function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const startedMs = deps.clock.nowMs();
  api.get(
    "/healthz",
    {
      config: { scope: "public" },
      schema: { tags: ["health"], operationId: "getHealth", summary: "Liveness: version, uptime and store backlog; needs no token.", response: { 200: healthSchema } },
    },
    async () => ({
      status: "ok" as const,
      version: deps.version,
      host: deps.host,
      uptimeS: Math.round((deps.clock.nowMs() - startedMs) / 1000),
      pendingPoints: deps.store.pendingPoints(),
    }),
  );
  // InfluxDB clients (Telegraf, influxdb-client) ping before writing.
  api.get(
    "/ping",
    {
      config: { scope: "public" },
      schema: { tags: ["health"], operationId: "ping", summary: "InfluxDB-compatible ping: 204; needs no token.", response: { 204: z.undefined().describe("Up.") } },
    },
    async (_req, reply) => reply.code(204).header("x-ansai-version", deps.version).header("x-influxdb-version", INFLUXDB_COMPAT_VERSION).send(),
  );
  api.get(
    "/api/v1/status",
    {
      config: { scope: "read" },
      schema: {
        tags: ["health"],
        operationId: "getStatus",
        summary: "What this ANSAI watches, its predictions and its alerts (what `ansai status` shows).",
        response: { 200: statusSchema, ...problemResponses },
      },
    },
    async () => ({
      version: deps.version,
      host: deps.host,
      watching: deps.watching(),
      predictions: deps.analysis.predictions(),
      alerts: deps.analysis.alerts(),
    }),
  );
  api.get(
    "/metrics",
    {
      config: { scope: "read" },
      schema: {
        tags: ["health"],
        operationId: "getMetrics",
        summary: "ANSAI's own metrics in the Prometheus text format.",
        response: { 200: { description: "Prometheus exposition format.", content: { "text/plain": { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (_req, reply) => {
      reply.type(deps.registry.contentType);
      return deps.registry.metrics();
    },
  );
}
