import { gzipSync } from "node:zlib";
import { InfluxDB, Point as InfluxPoint } from "@influxdata/influxdb-client";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createParsePool } from "../../collector/ingest/parse-pool.js";
import type { Point } from "../../core/point.js";
import { hashToken, registerIdentify, registerScopeEnforcement, type ApiToken } from "../auth.js";
import { registerWriteRoutes, type WriteDeps } from "./write.js";

const NOW_MS = 1_800_000_000_000;

interface Built {
  app: FastifyInstance;
  /** Each sink call's points. */
  batches: Point[][];
  registry: Registry;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** Legacy write tokens ({name, token}) become write-scope API tokens, as buildApi makes them. */
type BuildOptions = Partial<WriteDeps> & { tokens?: readonly { name: string; token: string }[]; apiTokens?: readonly ApiToken[] };

function build(options: BuildOptions = {}, limits: Partial<WriteDeps["limits"]> = {}): Built {
  const { tokens = [], apiTokens = [], ...overrides } = options;
  const batches: Point[][] = [];
  const registry = new Registry();
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const all = [...apiTokens, ...tokens.map((t): ApiToken => ({ name: t.name, sha256: hashToken(t.token), scopes: ["write"] }))];
  registerIdentify(app, all);
  registerScopeEnforcement(app, all);
  registerWriteRoutes(app, {
    sink: (points) => {
      batches.push([...points]);
    },
    clock: { nowMs: () => NOW_MS },
    log: pino({ level: "silent" }),
    registry,
    room: () => true,
    drain: async () => {},
    ...overrides,
    limits: { maxBodyBytes: 1 << 20, maxSeriesPerHost: 10_000, ...limits },
  });
  apps.push(app);
  return { app, batches, registry };
}

const text = { "content-type": "text/plain; charset=utf-8" };

describe("POST /api/v2/write and /write", () => {
  it("waits for the pipeline to drain instead of acknowledging points it cannot take", async () => {
    let room = false;
    const asked: number[] = [];
    let drains = 0;
    const { app, batches } = build({
      room: (values) => (asked.push(values), room),
      drain: async () => {
        drains++;
        if (drains === 2) room = true;
      },
    });
    const res = await app.inject({ method: "POST", url: "/api/v2/write?precision=ms", headers: text, payload: "m,host=a x=1,y=2 1000\nm,host=b x=3 1000" });
    expect(res.statusCode).toBe(204);
    expect(drains).toBe(2);
    expect(asked.at(-1)).toBe(3);
    expect(batches.flat()).toHaveLength(2);
  });

  it("writes every line and answers 204; v2's default precision is ns", async () => {
    const { app, batches } = build();
    const res = await app.inject({
      method: "POST",
      url: "/api/v2/write?org=o&bucket=b",
      headers: text,
      payload: "cpu,host=web-01 usage=1.5 1700000000123456789\nmem,host=web-01 used=2i\n",
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    expect(batches).toEqual([
      [
        { measurement: "cpu", tags: { host: "web-01" }, fields: { usage: 1.5 }, timeMs: 1_700_000_000_123 },
        { measurement: "mem", tags: { host: "web-01" }, fields: { used: 2 }, timeMs: NOW_MS },
      ],
    ]);
  });

  // One instant, 2023-11-14T22:13:20.123456789Z, in every precision each endpoint knows.
  const precisions: Array<[string, string, string, number]> = [
    ["/api/v2/write", "ns", "1700000000123456789", 1_700_000_000_123],
    ["/api/v2/write", "us", "1700000000123456", 1_700_000_000_123],
    ["/api/v2/write", "ms", "1700000000123", 1_700_000_000_123],
    ["/api/v2/write", "s", "1700000000", 1_700_000_000_000],
    ["/api/v2/write", "", "1700000000123456789", 1_700_000_000_123],
    ["/write", "n", "1700000000123456789", 1_700_000_000_123],
    ["/write", "u", "1700000000123456", 1_700_000_000_123],
    ["/write", "ms", "1700000000123", 1_700_000_000_123],
    ["/write", "s", "1700000000", 1_700_000_000_000],
    ["/write", "m", "28333333", 1_699_999_980_000],
    ["/write", "h", "472222", 1_699_999_200_000],
    ["/write", "", "1700000000123456789", 1_700_000_000_123],
  ];
  it.each(precisions)("%s precision=%s", async (path, precision, ts, expectedMs) => {
    const { app, batches } = build();
    const res = await app.inject({ method: "POST", url: `${path}?db=x&bucket=b&precision=${precision}`, headers: text, payload: `m v=1 ${ts}` });
    expect(res.statusCode).toBe(204);
    expect(batches[0]?.[0]?.timeMs).toBe(expectedMs);
  });

  it.each([
    ["/api/v2/write", "m"],
    ["/api/v2/write", "n"],
    ["/write", "x"],
  ])("%s rejects precision=%s with 400", async (path, precision) => {
    const { app, batches } = build();
    const res = await app.inject({ method: "POST", url: `${path}?precision=${precision}`, headers: text, payload: "m v=1" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ code: "invalid", message: expect.stringContaining(`invalid precision "${precision}"`) });
    expect(batches).toEqual([]);
  });

  it("partial write: keeps the good lines and names the first bad one", async () => {
    const { app, batches } = build();
    const res = await app.inject({
      method: "POST",
      url: "/api/v2/write?precision=s",
      headers: text,
      payload: "ok v=1 10\nbad\nok v=2 20\nm v=1.2.3\n",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      code: "invalid",
      message: "partial write: missing fields: expected a space then field=value (line 2, column 4); dropped 2 of 4 lines",
    });
    expect(batches.flat().map((p) => p.fields.v)).toEqual([1, 2]);
  });

  it("all lines bad: 400 and the sink is not called", async () => {
    const { app, batches } = build();
    const res = await app.inject({ method: "POST", url: "/write", headers: text, payload: "bad\n" });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe("partial write: missing fields: expected a space then field=value (line 1, column 4); dropped 1 of 1 lines");
    expect(batches).toEqual([]);
  });

  it("accepts an empty body, a body without Content-Type and any Content-Type", async () => {
    const { app, batches } = build();
    expect((await app.inject({ method: "POST", url: "/api/v2/write" })).statusCode).toBe(204);
    expect((await app.inject({ method: "POST", url: "/api/v2/write", payload: "a v=1" })).statusCode).toBe(204);
    expect((await app.inject({ method: "POST", url: "/write", headers: { "content-type": "application/json" }, payload: "b v=1" })).statusCode).toBe(204);
    expect(batches.flat().map((p) => p.measurement)).toEqual(["a", "b"]);
  });

  it("leaves content-type parsing of the app's other routes alone", async () => {
    const { app } = build();
    app.post("/echo", async (req) => req.body);
    const res = await app.inject({ method: "POST", url: "/echo", payload: { a: 1 } });
    expect(res.json()).toEqual({ a: 1 });
  });

  it("does not add a host tag: the data names its own host", async () => {
    const { app, batches } = build();
    await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1" });
    expect(batches[0]?.[0]?.tags).toEqual({});
  });

  it("answers 500 in InfluxDB's shape when the sink fails", async () => {
    const { app } = build({
      sink: () => {
        throw new Error("pipeline full");
      },
    });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1" });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: "internal error", message: expect.any(String) });
  });
});

describe("gzip and size limits", () => {
  it("decompresses Content-Encoding: gzip", async () => {
    const { app, batches } = build();
    const lines = Array.from({ length: 1000 }, (_, i) => `m,host=h${i % 7} v=${i} ${i}`).join("\n");
    const res = await app.inject({
      method: "POST",
      url: "/api/v2/write?precision=ms",
      headers: { ...text, "content-encoding": "gzip" },
      payload: gzipSync(lines),
    });
    expect(res.statusCode).toBe(204);
    expect(batches.flat()).toHaveLength(1000);
    expect(batches.flat()[999]).toEqual({ measurement: "m", tags: { host: "h5" }, fields: { v: 999 }, timeMs: 999 });
  });

  it("rejects a body that is not gzip with 400", async () => {
    const { app, batches } = build();
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: { ...text, "content-encoding": "gzip" }, payload: "m v=1" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ code: "invalid", message: expect.stringContaining("not valid gzip") });
    expect(batches).toEqual([]);
  });

  it("rejects other encodings with 415", async () => {
    const { app } = build();
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: { ...text, "content-encoding": "br" }, payload: "m v=1" });
    expect(res.statusCode).toBe(415);
  });

  it("rejects a plain body over maxBodyBytes with 413", async () => {
    const { app, batches } = build({}, { maxBodyBytes: 100 });
    const ok = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1\n".repeat(16) });
    expect(ok.statusCode).toBe(204);
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1\n".repeat(17) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ code: "request too large", message: "request body is larger than the limit of 100 bytes" });
    expect(batches.flat()).toHaveLength(16);
  });

  it("maxBodyBytes governs these routes, not the app's bodyLimit (1 MiB by default)", async () => {
    const { app, batches } = build({}, { maxBodyBytes: 4 << 20 });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1\n".repeat(400_000) });
    expect(res.statusCode).toBe(204);
    expect(batches.flat()).toHaveLength(400_000);
  });

  it("rejects a gzip bomb with 413 while decompressing", async () => {
    const { app, batches } = build({}, { maxBodyBytes: 1 << 20 });
    // 64 MiB of line protocol in about 64 KiB of gzip: small on the wire, far past the cap inflated.
    const bomb = gzipSync(Buffer.alloc(64 << 20, "m v=1\n"));
    expect(bomb.length).toBeLessThan(1 << 20);
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: { ...text, "content-encoding": "gzip" }, payload: bomb });
    expect(res.statusCode).toBe(413);
    expect(batches).toEqual([]);
  });

  it("applies the per-line limits and reports them as such in the metrics", async () => {
    const { app, registry } = build({}, { lineProtocol: { maxTagsPerPoint: 1 } });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m,a=1,b=2 v=1\nm,a=1 v=1" });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe("partial write: more than 1 tags (line 1, column 7); dropped 1 of 2 lines");
    expect(await registry.metrics()).toContain('ansai_ingest_lines_rejected_total{reason="line_limit"} 1');
  });
});

describe("per-host series limit", () => {
  it("drops points that would take a host past its series budget, and reports them", async () => {
    const { app, batches } = build({}, { maxSeriesPerHost: 3 });
    const first = await app.inject({
      method: "POST",
      url: "/api/v2/write",
      headers: text,
      // Series on web-01: cpu a, cpu b, disk(/) used = 3; the disk(/var) point would be the 4th.
      payload: "cpu,host=web-01 a=1,b=2\ndisk,host=web-01,path=/ used=1\ndisk,path=/var,host=web-01 used=1\ndisk,host=web-02,path=/var used=1",
    });
    expect(first.statusCode).toBe(400);
    expect(first.json().message).toBe('partial write: host "web-01" is over its limit of 3 series; dropped 1 of 4 lines');
    expect(batches.flat().map((p) => `${p.measurement} ${p.tags.host} ${p.tags.path ?? ""}`)).toEqual([
      "cpu web-01 ",
      "disk web-01 /",
      "disk web-02 /var",
    ]);
    // Known series keep flowing; tag order does not make a new series.
    const again = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "disk,path=/,host=web-01 used=2\ncpu,host=web-01 b=1" });
    expect(again.statusCode).toBe(204);
  });

  it("counts a series once across requests, whatever its field order, and still counts new fields", async () => {
    const { app, batches } = build({}, { maxSeriesPerHost: 3 });
    const cases: Array<[string, number]> = [
      ["cpu,host=h a=1,b=2", 204],
      ["cpu,host=h a=1,b=2", 204],
      ["cpu,host=h b=1,a=1", 204],
      ["cpu,host=h a=1,c=3", 204], // a third series: a, b, c
      ["cpu,host=h a=1,d=4", 400], // d would be the fourth
      ["cpu,host=h c=1", 204],
      ["cpu,host=h a=1,b=2", 204],
    ];
    for (const [payload, status] of cases) {
      const res = await app.inject({ method: "POST", url: "/write", headers: text, payload });
      expect([payload, res.statusCode]).toEqual([payload, status]);
    }
    expect(batches.flat()).toHaveLength(6);
  });

  it("gives points without a host tag one shared budget", async () => {
    const { app } = build({}, { maxSeriesPerHost: 1 });
    const res = await app.inject({ method: "POST", url: "/write", headers: text, payload: "a v=1\nb v=1" });
    expect(res.json().message).toBe('partial write: host "" is over its limit of 1 series; dropped 1 of 2 lines');
  });
});

describe("authentication", () => {
  const tokens = [
    { name: "telegraf", token: "s3cret-token" },
    { name: "other", token: "x" },
  ];
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ["v2 without a token", "/api/v2/write", {}, 401],
    ["v2 with an unknown token", "/api/v2/write", { authorization: "Token nope" }, 401],
    ["v2 with a token of another length", "/api/v2/write", { authorization: "Token s3cret-token-and-more" }, 401],
    ["v2 with Token", "/api/v2/write", { authorization: "Token s3cret-token" }, 204],
    ["v2 with the second token", "/api/v2/write", { authorization: "Token x" }, 204],
    ["v2 with Bearer", "/api/v2/write", { authorization: "Bearer s3cret-token" }, 204],
    ["v2 ignores ?p=", "/api/v2/write?p=s3cret-token", {}, 401],
    ["v1 with ?u=&p=", "/write?db=telegraf&u=telegraf&p=s3cret-token", {}, 204],
    ["v1 with a wrong ?p=", "/write?db=telegraf&u=telegraf&p=wrong", {}, 401],
    ["v1 with Basic", "/write?db=telegraf", { authorization: basic("anyone", "s3cret-token") }, 204],
    ["v1 with a wrong Basic password", "/write?db=telegraf", { authorization: basic("s3cret-token", "nope") }, 401],
    ["v1 with Token", "/write", { authorization: "Token s3cret-token" }, 204],
  ];
  it.each(cases)("%s → %i", async (_name, url, headers, status) => {
    const { app, batches, registry } = build({ tokens });
    const res = await app.inject({ method: "POST", url, headers: { ...text, ...headers }, payload: "m v=1" });
    expect(res.statusCode).toBe(status);
    if (status === 401) {
      expect(res.json()).toEqual({ code: "unauthorized", message: expect.any(String) });
      expect(batches).toEqual([]);
      expect(await registry.metrics()).toContain('ansai_ingest_requests_total{code="401"} 1');
    } else expect(batches.flat()).toHaveLength(1);
  });

  it.each([
    ["read", 403],
    ["write", 204],
    ["admin", 204],
  ] as const)("an API token with scope %s → %i, answered in InfluxDB's shape", async (scope, status) => {
    const { app, batches } = build({ apiTokens: [{ name: "t", sha256: hashToken("api-token-1234"), scopes: [scope] }] });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: { ...text, authorization: "Bearer api-token-1234" }, payload: "m v=1" });
    expect(res.statusCode).toBe(status);
    if (status === 403) {
      expect(res.json()).toEqual({ code: "forbidden", message: expect.stringContaining("needs write") });
      expect(batches).toEqual([]);
    }
  });

  it("checks the token before reading the body", async () => {
    const { app } = build({ tokens }, { maxBodyBytes: 10 });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1\n".repeat(100) });
    expect(res.statusCode).toBe(401);
  });
});

describe("metrics", () => {
  it("counts points, rejected lines by reason, requests by code and bytes", async () => {
    const { app, registry } = build({}, { maxSeriesPerHost: 2 });
    await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m,host=a v=1,w=2\nbad\nm,host=a x=1\n" });
    await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m,host=b v=1\n" });
    const out = await registry.metrics();
    expect(out).toContain("ansai_ingest_points_total 2");
    expect(out).toContain('ansai_ingest_lines_rejected_total{reason="invalid_line"} 1');
    expect(out).toContain('ansai_ingest_lines_rejected_total{reason="series_limit"} 1');
    expect(out).toContain('ansai_ingest_requests_total{code="400"} 1');
    expect(out).toContain('ansai_ingest_requests_total{code="204"} 1');
    expect(out).toContain(`ansai_ingest_bytes_total ${"m,host=a v=1,w=2\nbad\nm,host=a x=1\n".length + "m,host=b v=1\n".length}`);
  });

  it("can be registered twice on one registry", () => {
    const registry = new Registry();
    expect(() => {
      build({ registry });
      build({ registry });
    }).not.toThrow();
  });
});

describe("the official InfluxDB client over a real socket", () => {
  it("writes points with awkward tags and every field type", async () => {
    const { app, batches } = build({ tokens: [{ name: "client", token: "tok-123" }] });
    const encodings: Array<string | undefined> = [];
    app.addHook("onRequest", async (req) => {
      encodings.push(req.headers["content-encoding"]);
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const writeApi = new InfluxDB({ url: `http://127.0.0.1:${address.port}`, token: "tok-123" }).getWriteApi("my-org", "my-bucket", "ms", {
      maxRetries: 0,
    });
    const t0 = 1_700_000_000_123;
    const points = Array.from({ length: 40 }, (_, i) =>
      new InfluxPoint("disk usage,raw")
        .tag("host", "web 01")
        .tag("path", "/var/lib,data=x")
        .tag("city", "Zürich 東京 🚀")
        .stringField("note", 'said "hi"\nthen \\left')
        .intField("inodes", 9_007_199_254_740_991 - i)
        .uintField("free", 42 + i)
        .booleanField("ok", i % 2 === 0)
        .floatField("used_percent", 12.5 + i / 4)
        .timestamp(new Date(t0 + i)),
    );
    writeApi.writePoints(points);
    await writeApi.close();
    const got = batches.flat();
    // The client gzips bodies over 1000 bytes, so this also crosses the decompression path.
    expect(encodings).toEqual(["gzip"]);
    expect(got).toHaveLength(40);
    expect(got[3]).toEqual({
      measurement: "disk usage,raw",
      tags: { host: "web 01", path: "/var/lib,data=x", city: "Zürich 東京 🚀" },
      fields: { note: 'said "hi"\nthen \\left', inodes: 9_007_199_254_740_988, free: 45, ok: false, used_percent: 13.25 },
      timeMs: t0 + 3,
    });
  });
});

describe("parsing in worker threads", () => {
  // One pool for the block: every body goes to a worker, however small.
  const pool = createParsePool({ workers: 2, minWorkerBytes: 0 });
  afterAll(() => pool.close());

  const CASES: Array<[string, string, string]> = [
    ["every line good", "/api/v2/write?precision=ms", "cpu,host=a u=1.5,s=2 1000\ncpu,host=a u=2.5,s=3 2000\nmem,host=a used=3i 1000\n"],
    ["a partial write", "/api/v2/write?precision=s", "ok v=1 10\nbad\nok v=2 20\nm v=1.2.3\n"],
    ["strings, booleans and a string over two lines", "/write?precision=s", 'm,h=a s="x\ny",b=t,n=1 1\nm,h=a s="z",b=f,n=2 2\n'],
    ["precision h on /write", "/write?precision=h", "m,h=a v=1 1\nm,h=a v=2 2\n"],
  ];

  it.each(CASES)("%s: the same answer and points as parsing inline", async (_name, url, payload) => {
    const inline = build({ parser: createParsePool({ workers: 0 }) });
    const threaded = build({ parser: pool });
    for (let i = 0; i < 2; i++) {
      const a = await inline.app.inject({ method: "POST", url, headers: text, payload });
      const b = await threaded.app.inject({ method: "POST", url, headers: text, payload });
      expect(b.statusCode).toBe(a.statusCode);
      expect(b.body).toBe(a.body);
    }
    expect(threaded.batches).toEqual(inline.batches);
    expect(threaded.batches.flat().length).toBeGreaterThan(0);
  });

  it("applies the line limits and counts them in the metrics", async () => {
    const { app, registry, batches } = build({ parser: pool }, { lineProtocol: { maxTagsPerPoint: 1 } });
    const res = await app.inject({ method: "POST", url: "/api/v2/write?precision=s", headers: text, payload: "m,a=1 v=1 1\nm,a=1,b=2 v=1 1\nm,a=1 v=2 2\n" });
    expect(res.json()).toEqual({ code: "invalid", message: "partial write: more than 1 tags (line 2, column 7); dropped 1 of 3 lines" });
    expect(batches.flat().map((p) => p.fields.v)).toEqual([1, 2]);
    expect(await registry.getSingleMetricAsString("ansai_ingest_lines_rejected_total")).toContain('reason="line_limit"} 1');
  });

  it("keeps one frozen tags object per series across requests and workers", async () => {
    const { app, batches } = build({ parser: pool });
    const payload = "cpu,host=a u=1 1\ncpu,host=a u=2 2\n";
    await Promise.all([1, 2, 3, 4].map(() => app.inject({ method: "POST", url: "/api/v2/write?precision=s", headers: text, payload })));
    const tags = new Set(batches.flat().map((p) => p.tags));
    expect(tags.size).toBe(1);
    expect(Object.isFrozen([...tags][0])).toBe(true);
  });

  it("answers 500 and keeps nothing when the parser fails", async () => {
    const failing = { parse: () => Promise.reject(new Error("worker died")), close: async () => {} };
    const { app, batches } = build({ parser: failing });
    const res = await app.inject({ method: "POST", url: "/api/v2/write", headers: text, payload: "m v=1" });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: "internal error", message: "writing the points failed; see the server log" });
    expect(batches).toEqual([]);
  });
});
