import type { FastifyInstance } from "fastify";
import type { ApiDeps } from "../server.js";

export function registerAlertRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get("/api/v1/alerts", async () => ({ alerts: deps.analysis.alerts() }));
}
