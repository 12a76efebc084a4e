import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportsConfigSchema } from "./config.js";
import { pruneReports } from "./files.js";
import { createReportService, type ReportService } from "./generate.js";
import { parseReportRef, registerReportRoutes } from "./routes.js";
import { filledStore, NOW_MS, type Fixture } from "./test-data.js";

let fx: Fixture;
let dir: string;
let app: FastifyInstance;
let service: ReportService;
let nowMs = NOW_MS;

beforeAll(async () => {
  fx = await filledStore();
  dir = await mkdtemp(path.join(tmpdir(), "ansai-reports-"));
  service = createReportService({
    config: reportsConfigSchema.parse({ keep: 2 }),
    dir,
    store: fx.store,
    clock: { nowMs: () => nowMs },
    log: pino({ level: "silent" }),
    notifiers: { email: [] },
    version: "test",
  });
  app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerReportRoutes(app, { reports: service });
});
afterAll(async () => {
  await app.close();
  await fx.close();
  await rm(dir, { recursive: true, force: true });
});

describe("report routes", () => {
  it("POST makes a report in every format; two calls at once share one run", async () => {
    const [a, b] = await Promise.all([app.inject({ method: "POST", url: "/api/v1/reports" }), app.inject({ method: "POST", url: "/api/v1/reports" })]);
    expect(a.statusCode).toBe(201);
    expect(a.json()).toMatchObject({ id: "20260105T070000Z", formats: ["html", "markdown", "json"], links: { html: "/api/v1/reports/20260105T070000Z.html" } });
    expect(b.json().id).toBe(a.json().id);
    expect((await readdir(dir)).sort()).toEqual(["20260105T070000Z-capacity.html", "20260105T070000Z-capacity.json", "20260105T070000Z-capacity.md"]);
  });

  it("gives a second report in the same second its own id, and keeps the newest `keep`", async () => {
    const second = await app.inject({ method: "POST", url: "/api/v1/reports" });
    expect(second.json().id).toBe("20260105T070000Z-2");
    nowMs = NOW_MS + 7 * 86_400_000;
    const third = await app.inject({ method: "POST", url: "/api/v1/reports" });
    expect(third.json().id).toBe("20260112T070000Z");
    const list = await app.inject({ method: "GET", url: "/api/v1/reports" });
    expect(list.json().reports.map((r: { id: string }) => r.id)).toEqual(["20260112T070000Z", "20260105T070000Z-2"]);
    expect(list.json().reports[0]).toMatchObject({ generatedAt: "2026-01-12T07:00:00.000Z", formats: ["html", "markdown", "json"] });
  });

  it.each([
    ["/api/v1/reports/20260112T070000Z.html", "text/html", "<!doctype html>"],
    ["/api/v1/reports/20260112T070000Z?format=html", "text/html", "<!doctype html>"],
    ["/api/v1/reports/20260112T070000Z.md", "text/markdown", "# Capacity report"],
    ["/api/v1/reports/20260112T070000Z?format=markdown", "text/markdown", "# Capacity report"],
    ["/api/v1/reports/20260112T070000Z", "application/json", '{\n  "schema": 1'],
  ])("GET %s", async (url, type, start) => {
    const res = await app.inject({ method: "GET", url });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain(type);
    expect(res.body.startsWith(start)).toBe(true);
  });

  it.each([
    ["/api/v1/reports/..%2F..%2Fetc%2Fpasswd", 400],
    ["/api/v1/reports/.html", 400],
    ["/api/v1/reports/20260112T070000Z%2F..%2F..%2Fansai.duckdb", 400],
    ["/api/v1/reports/%2Fetc%2Fpasswd?format=json", 400],
    ["/api/v1/reports/20260112T070000Z.html?format=json", 400],
    ["/api/v1/reports/20260112T070000Z?format=pdf", 400],
    ["/api/v1/reports/20200101T000000Z.html", 404],
  ])("GET %s → %i problem", async (url, status) => {
    const res = await app.inject({ method: "GET", url });
    expect(res.statusCode).toBe(status);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json().code).toBe(status === 404 ? "ANSAI_REPORT_NOT_FOUND" : "ANSAI_QUERY_INVALID");
  });

  it.each(["..", "../20260112T070000Z", "20260112T070000Z/../../x", "/etc/passwd", "20260112T070000Z\u0000.html", "20260112T070000Z.json.html"])(
    "parseReportRef refuses %j",
    (ref) => {
      expect(() => parseReportRef(ref, undefined)).toThrow(/is not a report id/);
    },
  );

  it("lists nothing, not an error, when the directory does not exist yet", async () => {
    const empty = Fastify({ logger: false });
    empty.setValidatorCompiler(validatorCompiler);
    empty.setSerializerCompiler(serializerCompiler);
    registerReportRoutes(empty, { reports: { dir: path.join(dir, "missing"), generate: service.generate } });
    const res = await empty.inject({ method: "GET", url: "/api/v1/reports" });
    expect(res.json()).toEqual({ reports: [] });
    await empty.close();
  });

  it("answers a failed run with a problem saying what to do", async () => {
    const file = path.join(dir, "not-a-dir");
    await writeFile(file, "x");
    const broken = createReportService({
      config: reportsConfigSchema.parse({}),
      dir: file,
      store: fx.store,
      clock: { nowMs: () => NOW_MS },
      log: pino({ level: "silent" }),
      notifiers: { email: [] },
      version: "test",
    });
    const failing = Fastify({ logger: false });
    failing.setValidatorCompiler(validatorCompiler);
    failing.setSerializerCompiler(serializerCompiler);
    registerReportRoutes(failing, { reports: broken });
    const res = await failing.inject({ method: "POST", url: "/api/v1/reports" });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: "ANSAI_REPORT_FAILED" });
    expect(res.json().hint).toMatch(/reports\.dir/);
    await failing.close();
  });

  it("prunes only report files", async () => {
    await writeFile(path.join(dir, "notes.txt"), "mine");
    expect(await pruneReports(dir, 1)).toEqual(["20260105T070000Z-2"]);
    expect((await readdir(dir)).filter((f) => !f.startsWith("20260112"))).toEqual(expect.arrayContaining(["notes.txt"]));
  });
});
