import type { FastifyInstance } from "fastify";
import type { ApiDeps } from "../server.js";

export function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const startedMs = deps.clock.nowMs();
  app.get("/healthz", async () => ({
    status: "ok",
    version: deps.version,
    host: deps.host,
    uptimeS: Math.round((deps.clock.nowMs() - startedMs) / 1000),
    pendingPoints: deps.store.pendingPoints(),
  }));
  app.get("/api/v1/status", async () => ({
    version: deps.version,
    host: deps.host,
    watching: deps.watching(),
    predictions: deps.analysis.predictions(),
    alerts: deps.analysis.alerts(),
  }));
  app.get("/metrics", async (_req, reply) => {
    reply.type(deps.registry.contentType);
    return deps.registry.metrics();
  });
}
