import http from "node:http";
import https from "node:https";
import fastifyCors from "@fastify/cors";
import fastifyRateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { validatorCompiler } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { AlertHistory } from "../analyzer/alert-history.js";
import type { RuleHealth } from "../analyzer/rules.js";
import type { Alert, Clock, Prediction, Store } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { ErrorCodes } from "../core/errors.js";
import { hashToken, registerIdentify, registerScopeEnforcement, requestToken } from "./auth.js";
import { defaultApiSecurity, type ApiSecurity } from "./config.js";
import { registerDocsRoutes, registerOpenApi } from "./openapi.js";
import { ApiError, registerProblemHandlers } from "./problem.js";
import { lenientSerializerCompiler } from "./serializer.js";
import { registerReportRoutes, type ReportRouteDeps } from "../report/routes.js";
import { registerActionRoutes, type ActionRouteDeps } from "./routes/actions.js";
import { registerAgentJobRoutes, type AgentJobRouteDeps } from "./routes/agent-jobs.js";
import { registerAgentRoutes, type AgentRouteDeps } from "./routes/agents.js";
import { registerAlertRoutes } from "./routes/alerts.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerInfluxQLRoutes, type InfluxQLDeps } from "./routes/influxql.js";
import { registerPredictionRoutes } from "./routes/predictions.js";
import { registerQueryRoutes } from "./routes/query.js";
import { registerSeriesRoutes } from "./routes/series.js";
import { registerWriteRoutes, type WriteDeps } from "./routes/write.js";

/** What the API reads; each part is passed in, none is reached through globals. */
export interface ApiDeps {
  store: Store;
  analysis: {
    predictions(): Prediction[];
    alerts(): Alert[];
    ruleHealth(): RuleHealth[];
    /** Recent transitions, for /api/v1/alerts/history; absent: no history route. */
    history?: Pick<AlertHistory, "list">;
    /** Whether a silence covers the alert now (silenced alerts are not notified). */
    silenced?(alert: Alert): boolean;
  };
  /** The remediation journal, approvals, breakers and silences. */
  actions: ActionRouteDeps;
  /** Healing jobs agents pull, and the storm state; absent: no job routes. */
  agentJobs?: AgentJobRouteDeps;
  /** Capacity reports; absent: no report routes. */
  reports?: ReportRouteDeps["reports"];
  /** InfluxQL reads for Grafana's InfluxDB datasource (the embedded store); absent: no /query. */
  influxql?: Omit<InfluxQLDeps, "clock" | "log">;
  registry: Registry;
  clock: Clock;
  log: Logger;
  version: string;
  host: string;
  /** InfluxDB-compatible line-protocol ingest (/api/v2/write, /write). */
  write: Omit<WriteDeps, "registry" | "clock" | "log"> & {
    /** @deprecated Legacy server.write_tokens; pass them to `resolveApiSecurity` instead. Used only without `security`. */
    tokens?: readonly { name: string; token: string }[];
  };
  /** Where agents push, and what the server knows of them. */
  agentPush: AgentRouteDeps;
  /** What this process watches, for `ansai status` and /healthz. */
  watching: () => Record<string, unknown>;
  /** Tokens, TLS, rate limit, CORS and body limits (`resolveApiSecurity`); default: none of them, default limits. */
  security?: ApiSecurity;
}

/**
 * Builds the fastify app; `listen` is the caller's choice so tests can use `inject()`.
 * Order matters: the identify hook, CORS, the rate limiter and the OpenAPI collector come
 * first; then, once they are loaded, the scope check and every route. A new route file adds one
 * `registerXRoutes(app, deps)` line in `registerRoutes` and declares `config: { scope }` on
 * each route.
 */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const security = deps.security ?? legacySecurity(deps.write.tokens ?? []);
  const tls = security.tls;
  // Fastify's own request logging stays off; failures are logged through our logger in the error handler.
  const app = Fastify({
    logger: false,
    // JSON bodies; the ingest routes set their own, larger limit.
    bodyLimit: security.maxJsonBytes,
    serverFactory: (handler) => (tls === undefined ? http.createServer(handler) : https.createServer({ cert: tls.cert, key: tls.key }, handler)),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(lenientSerializerCompiler(deps.log));
  registerProblemHandlers(app, deps.log);
  registerIdentify(app, security.tokens);
  // Only when origins are configured: without the plugin no CORS header is ever sent.
  if (security.corsOrigins.length > 0) {
    void app.register(fastifyCors, { origin: [...security.corsOrigins], credentials: false, allowedHeaders: ["authorization", "content-type", "content-encoding"] });
  }
  if (security.rateLimit.max > 0) void app.register(fastifyRateLimit, rateLimitOptions(security, deps.agentPush.agents));
  registerOpenApi(app);
  app.after((err) => {
    if (err) throw err;
    registerScopeEnforcement(app, security.tokens);
    registerDocsRoutes(app);
    registerRoutes(app, deps);
  });
  return app;
}

/** Every route of the API; each declares the scope it needs. */
function registerRoutes(app: FastifyInstance, deps: ApiDeps): void {
  registerHealthRoutes(app, deps);
  registerSeriesRoutes(app, deps);
  registerQueryRoutes(app, deps);
  registerPredictionRoutes(app, deps);
  registerAlertRoutes(app, deps);
  registerActionRoutes(app, deps.actions);
  if (deps.reports) registerReportRoutes(app, { reports: deps.reports });
  if (deps.influxql) registerInfluxQLRoutes(app, { ...deps.influxql, clock: deps.clock, log: deps.log });
  registerAgentRoutes(app, deps.agentPush);
  if (deps.agentJobs !== undefined) registerAgentJobRoutes(app, deps.agentJobs);
  registerWriteRoutes(app, { ...deps.write, registry: deps.registry, clock: deps.clock, log: deps.log });
}

/** The security of callers that only pass the old `write.tokens`: those as write-scope tokens. */
function legacySecurity(writeTokens: readonly { name: string; token: string }[]): ApiSecurity {
  const base = defaultApiSecurity();
  return { ...base, tokens: writeTokens.map((t) => ({ name: t.name, sha256: hashToken(t.token), scopes: ["write"] as const })) };
}

/**
 * Counts per token (by name), else per agent token, else per client address. /healthz and
 * /ping are never limited, nor is ingest with a valid write token: a fleet of Telegrafs shares
 * one token, and ingest has backpressure and size limits of its own.
 */
function rateLimitOptions(security: ApiSecurity, agents: Pick<AgentRouteDeps["agents"], "authenticate">): Parameters<typeof fastifyRateLimit>[1] {
  const window = formatDuration(security.rateLimit.windowMs);
  return {
    max: security.rateLimit.max,
    timeWindow: security.rateLimit.windowMs,
    allowList: (req: FastifyRequest) => {
      const scope = req.routeOptions.config.scope;
      return scope === "public" || (scope === "write" && req.principal !== null);
    },
    keyGenerator: (req: FastifyRequest) => {
      if (req.principal !== null) return `token:${req.principal.name}`;
      // Only a real agent's token earns its own bucket: random guesses share their address's.
      const token = req.routeOptions.config.scope === "agent" ? requestToken(req) : undefined;
      const agent = token === undefined ? undefined : agents.authenticate(token);
      return agent === undefined ? `ip:${req.ip}` : `agent:${agent.name}`;
    },
    errorResponseBuilder: (_req, context) =>
      new ApiError(
        context.statusCode,
        ErrorCodes.API_RATE_LIMITED,
        `more than ${context.max} requests within ${window}; retry in ${context.after}`,
        "Wait for Retry-After seconds, poll less often, or raise api.rate_limit.max.",
      ),
  };
}
