import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createParsePool } from "../../collector/ingest/parse-pool.js";
import { columnsToPoints } from "../../core/columns.js";
import type { Point } from "../../core/point.js";
import { registerWriteRoutes, type WriteDeps } from "./write.js";

// Bodies parsed by workers reach `sinkColumns` as columns: the answers, the points and the
// counters must be those of the point path, partial writes and the series limit included.

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

interface Built {
  app: FastifyInstance;
  points: Point[][];
  columns: Point[][];
  registry: Registry;
}

function build(overrides: Partial<WriteDeps>, columnar: boolean): Built {
  const points: Point[][] = [];
  const columns: Point[][] = [];
  const registry = new Registry();
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerWriteRoutes(app, {
    sink: (p) => void points.push([...p]),
    ...(columnar ? { sinkColumns: (c) => void columns.push(columnsToPoints(c)) } : {}),
    clock: { nowMs: () => 1_800_000_000_000 },
    log: pino({ level: "silent" }),
    registry,
    room: () => true,
    drain: async () => {},
    ...overrides,
    limits: { maxBodyBytes: 1 << 20, maxSeriesPerHost: 3 },
  });
  apps.push(app);
  return { app, points, columns, registry };
}

const text = { "content-type": "text/plain; charset=utf-8" };

describe("the write routes' columnar sink", () => {
  const pool = createParsePool({ workers: 1, minWorkerBytes: 0 });
  afterAll(() => pool.close());

  const CASES: Array<[string, string, string]> = [
    ["every line good", "/api/v2/write?precision=ms", "cpu,host=a u=1.5,s=2 1000\ncpu,host=a u=2.5,s=3 2000\nmem,host=b used=3i 1000\n"],
    ["a partial write", "/api/v2/write?precision=s", "ok v=1 10\nbad\nok v=2 20\nm v=1.2.3\n"],
    ["strings, booleans and a string over two lines", "/write?precision=s", 'm,h=a s="x\ny",b=t,n=1 1\nm,h=a s="z",b=f,n=2 2\n'],
    ["a host over its series limit", "/api/v2/write?precision=s", "m,host=a a=1,b=2 1\nm,host=a c=3,d=4 2\nm,host=b a=1 3\nm,host=a b=5,a=6 4\nbad\n"],
  ];

  it.each(CASES)("%s: the same answer, points and counters as the point path", async (_name, url, payload) => {
    const inline = build({ parser: createParsePool({ workers: 0 }) }, true);
    const threaded = build({ parser: pool }, true);
    for (let i = 0; i < 2; i++) {
      const a = await inline.app.inject({ method: "POST", url, headers: text, payload });
      const b = await threaded.app.inject({ method: "POST", url, headers: text, payload });
      expect(b.statusCode).toBe(a.statusCode);
      expect(b.body).toBe(a.body);
    }
    // Parsed inline: points; parsed by a worker: columns only.
    expect(inline.columns).toEqual([]);
    expect(threaded.points).toEqual([]);
    expect(threaded.columns).toEqual(inline.points);
    expect(threaded.columns.flat().length).toBeGreaterThan(0);
    for (const name of ["ansai_ingest_points_total", "ansai_ingest_lines_rejected_total"]) {
      expect(await threaded.registry.getSingleMetricAsString(name)).toBe(await inline.registry.getSingleMetricAsString(name));
    }
  });

  it("gives worker-parsed bodies to `sink` as points when nothing takes columns", async () => {
    const { app, points } = build({ parser: pool }, false);
    const res = await app.inject({ method: "POST", url: "/api/v2/write?precision=s", headers: text, payload: "m,host=a v=1 1\n" });
    expect(res.statusCode).toBe(204);
    expect(points).toEqual([[{ measurement: "m", tags: { host: "a" }, fields: { v: 1 }, timeMs: 1000 }]]);
  });
});
