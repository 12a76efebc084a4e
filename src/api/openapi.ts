import fastifySwagger, { type SwaggerTransform, type SwaggerTransformObject } from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifySchema } from "fastify";
import { createJsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";
import { defaultScope } from "./auth.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * A body the route reads itself (line protocol, gzip), so it has no zod body schema: how the
     * OpenAPI document describes it.
     */
    rawBody?: { mediaTypes: readonly string[]; description: string };
  }
}

/** Version of the HTTP API the document describes; bumped on a breaking change of /api/v1. */
export const API_VERSION = "1.0.0";

/** Where the document and the interactive docs are served. */
export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PREFIX = "/docs";

const SCOPE_TEXT: Readonly<Record<string, string>> = {
  public: "Needs no token.",
  agent: "Needs an agent token (server.agents), not an API token.",
  read: "Needs a token with the read scope once tokens are configured.",
  write: "Needs a token with the write scope once tokens are configured.",
  admin: "Needs a token with the admin scope once tokens are configured.",
};

const zodTransform = createJsonSchemaTransform({ skipList: [] });

/** zod schemas to JSON Schema, plus each route's scope (`x-ansai-scope`, security) and raw bodies. */
const transform: SwaggerTransform = (input) => {
  const out = zodTransform(input);
  const { route } = input;
  const method = Array.isArray(route.method) ? (route.method[0] ?? "GET") : route.method;
  const scope = route.config?.scope ?? defaultScope(method);
  const schema: FastifySchema & Record<string, unknown> = { ...out.schema, "x-ansai-scope": scope };
  const summary = typeof schema.summary === "string" ? schema.summary : "";
  schema.description = [summary, SCOPE_TEXT[scope] ?? ""].filter((s) => s !== "").join(" ");
  if (scope === "public") schema.security = [];
  if (scope === "agent") schema.security = [{ agentToken: [] }];
  const raw = route.config?.rawBody;
  if (raw !== undefined) {
    schema.body = { type: "string", description: raw.description };
    schema.consumes = [...raw.mediaTypes];
  }
  return { schema, url: out.url };
};

/** Components from the zod registry, minus those nothing refers to (the unused input twins of response schemas). */
const referencedComponentsOnly: SwaggerTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input);
  if (!("components" in doc) || doc.components?.schemas === undefined) return doc;
  const schemas: Record<string, unknown> = { ...doc.components.schemas };
  for (let changed = true; changed; ) {
    changed = false;
    const text = JSON.stringify({ paths: doc.paths, schemas });
    for (const name of Object.keys(schemas)) {
      if (text.includes(`"#/components/schemas/${name}"`)) continue;
      delete schemas[name];
      changed = true;
    }
  }
  for (const name of Object.keys(doc.components.schemas)) if (!(name in schemas)) delete doc.components.schemas[name];
  return doc;
};

/**
 * Collects every route registered after it into an OpenAPI 3.1 document (zod schemas turned
 * into JSON Schema). Register before the routes: it sees them through an onRoute hook.
 */
export function registerOpenApi(app: FastifyInstance): void {
  void app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "ANSAI API",
        version: API_VERSION,
        description:
          "Predictions, alerts, actions and metrics of ANSAI, and InfluxDB-compatible ingest. Errors are RFC 9457 problem documents " +
          "(application/problem+json) with a stable `code` from docs/ERRORS.md, except on the InfluxDB-compatible routes, which answer in InfluxDB's shape.",
      },
      tags: [
        { name: "health", description: "Liveness, status and ANSAI's own metrics." },
        { name: "series", description: "What the store holds." },
        { name: "query", description: "Reading series over time." },
        { name: "predictions", description: "Forecasts with bounds." },
        { name: "alerts", description: "Alerts and rule health." },
        { name: "actions", description: "The remediation journal and approvals." },
        { name: "agents", description: "Agents pushing to this server." },
        { name: "ingest", description: "InfluxDB-compatible line-protocol writes." },
      ],
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "Authorization: Bearer <token> (or Token <token>, as InfluxDB clients send)." },
          basic: { type: "http", scheme: "basic", description: "Any user name, the token as the password (Grafana, Telegraf)." },
          agentToken: { type: "apiKey", in: "header", name: "Authorization", description: "Token <agent token> from server.agents." },
        },
      },
      security: [{ bearer: [] }, { basic: [] }],
    },
    transform,
    // Schemas with a zod `id` (Problem, Prediction, Alert, ...) become components, referenced by $ref.
    transformObject: referencedComponentsOnly,
  });
}

/** Serves the document at /openapi.json and Swagger UI (assets from node_modules, no CDN) at /docs; both need the read scope. */
export function registerDocsRoutes(app: FastifyInstance): void {
  void app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true } });
  app.get(OPENAPI_PATH, { config: { scope: "read" }, schema: { hide: true } }, async () => app.swagger());
}
