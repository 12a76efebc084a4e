import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Clock } from "../../core/contracts.js";
import { openEmbeddedStore, type EmbeddedStore } from "../../store/embedded.js";
import { offlineApiDeps } from "../openapi-document.js";
import { buildApi } from "../server.js";
import { registerInfluxQLRoutes } from "./influxql.js";

const T0 = 1_700_000_000_000;
const clock: Clock = { nowMs: () => T0 + 3_600_000 };
const HOSTILE_TAG = `x') OR 1=1 --`;
const HOSTILE_KEY = `k"/~'; DROP TABLE points; --`;

describe("InfluxQL /query route", () => {
  let dir: string;
  let store: EmbeddedStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ansai-influxql-route-"));
    const log = pino({ level: "silent" });
    store = await openEmbeddedStore({ dataDir: dir, log, clock });
    store.write([
      { measurement: "cpu", tags: { host: "a" }, fields: { usage_idle: 10 }, timeMs: T0 },
      { measurement: "cpu", tags: { host: "a" }, fields: { usage_idle: 20 }, timeMs: T0 + 10_000 },
      { measurement: "cpu", tags: { host: HOSTILE_TAG, [HOSTILE_KEY]: "v" }, fields: { usage_idle: 99 }, timeMs: T0 },
    ]);
    app = Fastify({ logger: false });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerInfluxQLRoutes(app, { reads: store, clock, log, maxSelectBuckets: 1000, authorize: (_req, params) => params.u !== "blocked" });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (q: string, extra: Record<string, string> = {}) => {
    const res = await app.inject({ method: "GET", url: `/query?${new URLSearchParams({ q, epoch: "ms", ...extra }).toString()}` });
    return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
  };

  it("answers /ping (a health route) with 204 and the version header, GET and HEAD, without a token", async () => {
    const full = buildApi(offlineApiDeps());
    for (const method of ["GET", "HEAD"] as const) {
      const res = await full.inject({ method, url: "/ping" });
      expect(res.statusCode).toBe(204);
      expect(res.headers["x-influxdb-version"]).toMatch(/^1\./);
    }
  });

  it("serves GET with a query string and POST with a form body alike", async () => {
    const q = `SELECT mean("usage_idle") FROM "cpu" WHERE "host" = 'a' AND time >= ${T0}ms AND time <= ${T0 + 19_999}ms GROUP BY time(10s)`;
    const expected = { results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "mean"], values: [[T0, 10], [T0 + 10_000, 20]] }] }] };
    expect((await get(q)).body).toEqual(expected);
    const post = await app.inject({ method: "POST", url: "/query?epoch=ms", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: new URLSearchParams({ q, db: "ansai" }).toString() });
    expect(post.statusCode).toBe(200);
    expect(post.json()).toEqual(expected);
  });

  it.each([
    [`SELECT count("usage_idle") FROM "cpu" WHERE "host" = '${HOSTILE_TAG.replace(/'/g, "\\'")}'`, 1],
    [`SELECT count("usage_idle") FROM "cpu" WHERE "host" = 'x\\') OR 1=1 OR (\\'a'`, 0],
    [`SELECT count("usage_idle") FROM "cpu" WHERE "host" =~ /'\\) OR 1=1 --/`, 1],
    [`SELECT count("usage_idle") FROM "cpu" WHERE "${HOSTILE_KEY.replace(/"/g, '\\"')}" = 'v'`, 1],
    [`SELECT count("usage_idle") FROM "cpu'; DROP TABLE points; --"`, 0],
    [`SELECT count("usage_idle") FROM "cpu" WHERE "usage_idle" > 15`, 2],
  ])("keeps hostile text out of the SQL: %s", async (q, count) => {
    const { status, body } = await get(q);
    expect(status).toBe(200);
    const series = (body.results as Array<{ series?: Array<{ values: number[][] }> }>)[0]?.series;
    expect(series?.[0]?.values[0]?.[1] ?? 0).toBe(count);
    // The store still holds every point.
    expect((await store.stats()).points).toBe(3);
  });

  it("lists a hostile tag key and value in SHOW TAG VALUES", async () => {
    const { body } = await get(`SHOW TAG VALUES FROM "cpu" WITH KEY = "${HOSTILE_KEY.replace(/"/g, '\\"')}"`);
    expect(body).toEqual({ results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["key", "value"], values: [[HOSTILE_KEY, "v"]] }] }] });
  });

  it("answers errors in InfluxDB's shapes", async () => {
    expect(await get("")).toMatchObject({ status: 400, body: { error: 'missing required parameter "q"' } });
    expect(await get("SELECT mean(v) FRM cpu")).toMatchObject({ status: 400, body: { error: "error parsing query: found FRM, expected FROM at line 1, char 16" } });
    expect(await get(`SELECT mean(v) FROM cpu WHERE "host" =~ /a(?=b)/`)).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^error parsing query: error parsing regexp: .* at line 1, char 40$/) } });
    expect((await get(`SELECT mean("usage_idle") FROM cpu WHERE time >= now() - 1d GROUP BY time(10s)`)).body).toEqual({
      results: [{ statement_id: 0, error: "max-select-buckets limit exceeded: (8641/1000)" }],
    });
    expect((await get("SELECT median(usage_idle) FROM cpu")).body).toMatchObject({ results: [{ statement_id: 0, error: expect.stringContaining("median() is not supported") }] });
  });

  it("refuses what the auth hook refuses", async () => {
    expect(await get("SHOW DATABASES", { u: "blocked" })).toMatchObject({ status: 401, body: { error: "authorization failed" } });
    expect(await get("SHOW DATABASES")).toMatchObject({ status: 200, body: { results: [{ statement_id: 0, series: [{ name: "databases", columns: ["name"], values: [["ansai"]] }] }] } });
  });
});
