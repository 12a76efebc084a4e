import type { FastifyInstance, InjectOptions, RouteOptions } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AgentRegistry } from "../collector/ingest/agents.js";
import { systemClock, type Prediction } from "../core/contracts.js";
import { hashToken, type ApiToken, type TokenScope } from "./auth.js";
import { defaultApiSecurity, type ApiSecurity } from "./config.js";
import { offlineApiDeps } from "./openapi-document.js";
import { buildApi } from "./server.js";

const TOKENS = {
  reader: "reader-token-0123456789",
  writer: "writer-token-0123456789",
  admin: "admin-token-0123456789",
  readWrite: "read-write-token-012345",
  agent: "agent-token-0123456789",
};

const apiToken = (name: keyof typeof TOKENS, scopes: TokenScope[]): ApiToken => ({ name, sha256: hashToken(TOKENS[name]), scopes });

const CONFIGURED: ApiToken[] = [
  apiToken("reader", ["read"]),
  apiToken("writer", ["write"]),
  apiToken("admin", ["admin"]),
  apiToken("readWrite", ["read", "write"]),
];

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function build(security: Partial<ApiSecurity> = {}): FastifyInstance {
  const clock = systemClock;
  const deps = offlineApiDeps();
  const agents = new AgentRegistry([{ name: "a1", token: TOKENS.agent, labels: {} }], 120_000, clock.nowMs());
  const agentJobs = deps.agentJobs === undefined ? {} : { agentJobs: { ...deps.agentJobs, agents } };
  const app = buildApi({ ...deps, agentPush: { ...deps.agentPush, agents }, ...agentJobs, security: { ...defaultApiSecurity(), rateLimit: { max: 0, windowMs: 60_000 }, ...security } });
  apps.push(app);
  return app;
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

interface Operation {
  method: string;
  path: string;
  scope: string;
  body: "json" | "text" | undefined;
}

async function operations(app: FastifyInstance): Promise<Operation[]> {
  const res = await app.inject({ url: "/openapi.json", headers: bearer(TOKENS.admin) });
  expect(res.statusCode).toBe(200);
  const doc = res.json<{ paths: Record<string, Record<string, { "x-ansai-scope": string; requestBody?: { content: Record<string, unknown> } }>> }>();
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const media = Object.keys(op.requestBody?.content ?? {});
      ops.push({
        method: method.toUpperCase(),
        path: path.replace(/\{[^}]+\}/g, "x"),
        scope: op["x-ansai-scope"],
        body: media.length === 0 ? undefined : media.includes("application/json") ? "json" : "text",
      });
    }
  }
  return ops;
}

function request(op: Operation, headers: Record<string, string>): InjectOptions {
  const base: InjectOptions = { method: op.method as InjectOptions["method"], url: op.path, headers };
  if (op.body === "json") return { ...base, payload: {}, headers: { ...headers, "content-type": "application/json" } };
  if (op.body === "text") return { ...base, payload: "m v=1", headers: { ...headers, "content-type": "text/plain", "x-ansai-seq": "1" } };
  return base;
}

/** A token whose scopes fall just short of `scope`. */
const TOO_WEAK: Readonly<Record<string, string>> = { read: TOKENS.writer, write: TOKENS.reader, admin: TOKENS.readWrite };
const RIGHT: Readonly<Record<string, string>> = { read: TOKENS.reader, write: TOKENS.writer, admin: TOKENS.admin };

describe("every route in the OpenAPI document, with tokens configured", () => {
  it("answers 401 without a token or with a wrong one, 403 with too weak a scope, and lets the right scope through", async () => {
    const app = build({ tokens: CONFIGURED });
    const ops = await operations(app);
    expect(ops.length).toBeGreaterThanOrEqual(14);
    const outcomes: string[] = [];
    for (const op of ops) {
      const name = `${op.method} ${op.path} (${op.scope})`;
      const none = await app.inject(request(op, {}));
      const wrong = await app.inject(request(op, bearer("not-a-configured-token")));
      if (op.scope === "public") {
        outcomes.push(`${name}: ${none.statusCode === 401 || none.statusCode === 403 ? "LOCKED" : "open"}`);
        continue;
      }
      expect([name, none.statusCode, wrong.statusCode]).toEqual([name, 401, 401]);
      for (const res of [none, wrong]) {
        // Problem documents, except on the InfluxDB-compatible routes, which keep InfluxDB's shape.
        expect(String(res.json().code)).toMatch(/^(ANSAI_API_UNAUTHORIZED|unauthorized)$/);
      }
      if (op.scope === "agent") {
        // Agent pushes take agent tokens only: no API token, however strong, is one.
        expect([name, (await app.inject(request(op, bearer(TOKENS.admin)))).statusCode]).toEqual([name, 401]);
        expect([name, (await app.inject(request(op, { authorization: `Token ${TOKENS.agent}` }))).statusCode]).not.toContain(401);
        continue;
      }
      const weak = await app.inject(request(op, bearer(TOO_WEAK[op.scope] ?? "")));
      expect([name, weak.statusCode]).toEqual([name, 403]);
      for (const token of [RIGHT[op.scope] ?? "", TOKENS.admin]) {
        const ok = await app.inject(request(op, bearer(token)));
        expect([name, ok.statusCode === 401 || ok.statusCode === 403]).toEqual([name, false]);
      }
    }
    expect(outcomes.sort()).toEqual(["GET /healthz (public): open", "GET /ping (public): open"]);
  });

  it("documents every route it serves (apart from the docs themselves), each with a scope", async () => {
    const app = build({ tokens: CONFIGURED });
    const routes: RouteOptions[] = [];
    app.addHook("onRoute", (r) => void routes.push(r));
    const documented = new Set((await operations(app)).map((op) => `${op.method} ${op.path}`));
    const served = routes
      .flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => ({ m, url: r.url.replace(/:[^/]+/g, "x"), scope: r.config?.scope })))
      .filter(({ m }) => m !== "HEAD" && m !== "OPTIONS");
    for (const { scope } of served) expect(scope).toMatch(/^(public|read|write|admin|agent)$/);
    const undocumented = served.map(({ m, url }) => `${m} ${url}`).filter((r) => !documented.has(r));
    expect(undocumented.filter((r) => !r.startsWith("GET /docs")).sort()).toEqual(["GET /openapi.json"]);
  });

  it.each(["/openapi.json", "/docs", "/docs/json", "/docs/static/index.html"])("%s needs a read token; without one a browser is asked for it", async (url) => {
    const app = build({ tokens: CONFIGURED });
    const none = await app.inject({ url });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toEqual(['Bearer realm="ansai"', 'Basic realm="ansai", charset="UTF-8"']);
    const basic = `Basic ${Buffer.from(`me:${TOKENS.reader}`).toString("base64")}`;
    expect((await app.inject({ url, headers: { authorization: basic } })).statusCode).toBeLessThan(400);
  });

  it("checks HEAD like GET", async () => {
    const app = build({ tokens: CONFIGURED });
    expect((await app.inject({ method: "HEAD", url: "/api/v1/alerts" })).statusCode).toBe(401);
    expect((await app.inject({ method: "HEAD", url: "/api/v1/alerts", headers: bearer(TOKENS.reader) })).statusCode).toBe(200);
  });

  it.each([
    ["Token", { authorization: `Token ${TOKENS.reader}` }, "/api/v1/alerts"],
    ["Basic", { authorization: `Basic ${Buffer.from(`grafana:${TOKENS.reader}`).toString("base64")}` }, "/api/v1/alerts"],
    ["?p= on a route that does not allow it", {}, `/api/v1/alerts?p=${TOKENS.reader}`],
  ])("takes the token as %s", async (name, headers, url) => {
    const app = build({ tokens: CONFIGURED });
    const res = await app.inject({ url, headers });
    expect(res.statusCode).toBe(name.startsWith("?p=") ? 401 : 200);
  });

  it("names the token and the scope it lacks in the 403 problem", async () => {
    const app = build({ tokens: CONFIGURED });
    const res = await app.inject({ url: "/api/v1/alerts", headers: bearer(TOKENS.writer) });
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({
      code: "ANSAI_API_FORBIDDEN",
      type: "docs/ERRORS.md#ansai_api_forbidden",
      detail: 'token "writer" has scopes write; GET /api/v1/alerts needs read',
    });
  });
});

describe("without tokens", () => {
  it("leaves every route open, as before", async () => {
    const app = build();
    expect((await app.inject({ url: "/api/v1/status" })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: "/api/v2/write", headers: { "content-type": "text/plain" }, payload: "m v=1" })).statusCode).toBe(204);
  });
});

describe("validation errors", () => {
  it.each([
    ["/api/v1/query?series=cpu%20x&aggregate=median", "querystring", "aggregate", /aggregate: Invalid option/],
    ["/api/v1/query", "querystring", "series", /^series: /],
    ["/api/v1/predictions?within=soon", "querystring", "within", /"soon" is not a duration/],
    ["/api/v1/alerts?color=red", "querystring", "color", /color: Unrecognized key/],
    ["/api/v1/series?limit=0", "querystring", "limit", /^limit: /],
  ])("%s → 400 problem naming %s %s", async (url, where, name, detail) => {
    const app = build();
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    const body = res.json<{ code: string; detail: string; hint: string; errors: Array<{ in: string; name: string }> }>();
    expect(body.code).toBe("ANSAI_QUERY_INVALID");
    expect(body.detail).toMatch(detail);
    expect(body.errors).toContainEqual(expect.objectContaining({ in: where, name }));
    expect(body.hint).toMatch(/^Use \?/);
  });

  it("names an invalid header of an agent push", async () => {
    const app = build();
    const res = await app.inject({ method: "POST", url: "/api/v1/agent/write", headers: { authorization: `Token ${TOKENS.agent}`, "x-ansai-seq": "zero" }, payload: "m v=1" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "ANSAI_QUERY_INVALID", errors: [expect.objectContaining({ in: "headers", name: "x-ansai-seq" })] });
  });

  it("refuses a JSON body over api.max_json_bytes with 413", async () => {
    const app = build({ maxJsonBytes: 1024 });
    // Any JSON route: the limit is the app's, ingest routes set their own.
    app.post("/echo", async (req) => req.body);
    const send = (size: number) => app.inject({ method: "POST", url: "/echo", headers: { "content-type": "application/json" }, payload: JSON.stringify({ pad: "x".repeat(size) }) });
    expect((await send(100)).statusCode).toBe(200);
    const res = await send(2048);
    expect(res.statusCode).toBe(413);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ code: "ANSAI_API_BODY_TOO_LARGE" });
  });
});

describe("responses", () => {
  const prediction: Prediction = {
    rule: "disk_full_24h", model: "linear_trend", series: "disk,host=h,path=/ used_percent", measurement: "disk", tags: { host: "h", path: "/" },
    field: "used_percent", atMs: 1000, value: 50, threshold: 90, slopePerS: 0.001, etaMs: 41_000_000, etaLowMs: 30_000_000, etaHighMs: null,
    forecastValue: 60, confidence: 0.9, samples: 30,
  };

  it("are sent through their schema, and still sent (with a warning) when one does not match, e.g. a NaN threshold", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const predictions = [prediction, { ...prediction, rule: "mem_full", threshold: Number.NaN }];
    let served = predictions.slice(0, 1);
    const app = buildApi(offlineApiDeps({ log, analysis: { predictions: () => served, alerts: () => [], ruleHealth: () => [] } }));
    apps.push(app);
    const ok = await app.inject({ url: "/api/v1/predictions" });
    expect(ok.json()).toEqual({ predictions: [prediction] });
    expect(lines).toEqual([]);
    served = predictions;
    const odd = await app.inject({ url: "/api/v1/predictions" });
    expect(odd.statusCode).toBe(200);
    expect(odd.json().predictions[1]).toMatchObject({ rule: "mem_full", threshold: null });
    expect(lines.join("")).toContain("response does not match its schema");
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After past the limit, counting per token; /healthz is never limited", async () => {
    const app = build({ tokens: CONFIGURED, rateLimit: { max: 2, windowMs: 60_000 } });
    const get = (token: string) => app.inject({ url: "/api/v1/alerts", headers: bearer(token) });
    expect((await get(TOKENS.reader)).statusCode).toBe(200);
    expect((await get(TOKENS.reader)).statusCode).toBe(200);
    const limited = await get(TOKENS.reader);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["content-type"]).toContain("application/problem+json");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ code: "ANSAI_API_RATE_LIMITED", status: 429 });
    // Another token has its own budget.
    expect((await get(TOKENS.admin)).statusCode).toBe(200);
    for (let i = 0; i < 4; i++) expect((await app.inject({ url: "/healthz" })).statusCode).toBe(200);
  });

  it("limits requests without a valid token per client address", async () => {
    const app = build({ tokens: CONFIGURED, rateLimit: { max: 1, windowMs: 60_000 } });
    expect((await app.inject({ url: "/api/v1/alerts", headers: bearer("guess-1") })).statusCode).toBe(401);
    expect((await app.inject({ url: "/api/v1/alerts", headers: bearer("guess-2") })).statusCode).toBe(429);
  });

  it("limits guessed agent tokens per client address, not per guess", async () => {
    const app = build({ tokens: CONFIGURED, rateLimit: { max: 2, windowMs: 60_000 } });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await app.inject({ url: "/api/v1/agents/a1/jobs?wait=0s", headers: { authorization: `Token guess-${i}` } })).statusCode);
    expect(codes).toEqual([401, 401, 429, 429]);
  });

  it("does not limit ingest with a valid write token, and answers the others in InfluxDB's shape", async () => {
    const app = build({ tokens: CONFIGURED, rateLimit: { max: 1, windowMs: 60_000 } });
    const write = (token: string) => app.inject({ method: "POST", url: "/api/v2/write", headers: { ...bearer(token), "content-type": "text/plain" }, payload: "m v=1" });
    for (let i = 0; i < 3; i++) expect((await write(TOKENS.writer)).statusCode).toBe(204);
    expect((await write("guess-1")).statusCode).toBe(401);
    const limited = await write("guess-2");
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({ code: "too many requests", message: expect.stringContaining("api.rate_limit.max") });
    expect(limited.headers["retry-after"]).toBeDefined();
  });
});

describe("CORS", () => {
  const origin = "https://grafana.example.com";

  it("sends no CORS headers by default", async () => {
    const app = build({ tokens: CONFIGURED });
    const get = await app.inject({ url: "/api/v1/alerts", headers: { ...bearer(TOKENS.reader), origin } });
    expect(get.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await app.inject({ method: "OPTIONS", url: "/api/v1/alerts", headers: { origin, "access-control-request-method": "GET" } });
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("allows the configured origins only, and answers their preflight without a token", async () => {
    const app = build({ tokens: CONFIGURED, corsOrigins: [origin] });
    const get = await app.inject({ url: "/api/v1/alerts", headers: { ...bearer(TOKENS.reader), origin } });
    expect(get.headers["access-control-allow-origin"]).toBe(origin);
    const preflight = await app.inject({
      method: "OPTIONS",
      url: "/api/v1/alerts",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
    expect(String(preflight.headers["access-control-allow-headers"])).toContain("authorization");
    // A 401 still carries the header, so the page can read why.
    const refused = await app.inject({ url: "/api/v1/alerts", headers: { origin } });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers["access-control-allow-origin"]).toBe(origin);
    const other = await app.inject({ url: "/api/v1/alerts", headers: { ...bearer(TOKENS.reader), origin: "https://evil.example" } });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
