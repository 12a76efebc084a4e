import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { RuleHealth } from "../analyzer/rules.js";
import type { Alert, Clock, Prediction, Store } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import type { JournalRecord } from "../remediator/journal.js";
import { sendProblem } from "./problem.js";
import { registerActionRoutes } from "./routes/actions.js";
import { registerAgentRoutes, type AgentRouteDeps } from "./routes/agents.js";
import { registerAlertRoutes } from "./routes/alerts.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerPredictionRoutes } from "./routes/predictions.js";
import { registerQueryRoutes } from "./routes/query.js";
import { registerSeriesRoutes } from "./routes/series.js";
import { registerWriteRoutes, type WriteDeps } from "./routes/write.js";

/** What the API reads; each part is passed in, none is reached through globals. */
export interface ApiDeps {
  store: Store;
  analysis: { predictions(): Prediction[]; alerts(): Alert[]; ruleHealth(): RuleHealth[] };
  journal: { read(opts: { limit?: number; sinceMs?: number }): JournalRecord[] };
  registry: Registry;
  clock: Clock;
  log: Logger;
  version: string;
  host: string;
  /** InfluxDB-compatible line-protocol ingest (/api/v2/write, /write). */
  write: Omit<WriteDeps, "registry" | "clock" | "log">;
  /** Where agents push, and what the server knows of them. */
  agentPush: AgentRouteDeps;
  /** What this process watches, for `ansai status` and /healthz. */
  watching: () => Record<string, unknown>;
}

/** Builds the fastify app; `listen` is the caller's choice so tests can use `inject()`. */
export function buildApi(deps: ApiDeps): FastifyInstance {
  // Fastify's own request logging stays off; failures are logged through our logger in the error handler.
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof AnsaiError) {
      const status = err.code === ErrorCodes.SERIES_NOT_FOUND ? 404 : err.code === ErrorCodes.QUERY_INVALID ? 400 : 503;
      return sendProblem(reply, status, err.code, err.message, err.hint);
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) deps.log.error({ err }, "API request failed");
    return sendProblem(reply, status, ErrorCodes.QUERY_INVALID, (err as Error).message, "Check the request against docs/API.md.");
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, 404, ErrorCodes.QUERY_INVALID, `no route ${req.method} ${req.url}`, "See the routes listed in the README."),
  );
  registerHealthRoutes(app, deps);
  registerSeriesRoutes(app, deps);
  registerQueryRoutes(app, deps);
  registerPredictionRoutes(app, deps);
  registerAlertRoutes(app, deps);
  registerActionRoutes(app, deps);
  registerAgentRoutes(app, deps.agentPush);
  registerWriteRoutes(app, { ...deps.write, registry: deps.registry, clock: deps.clock, log: deps.log });
  return app;
}
