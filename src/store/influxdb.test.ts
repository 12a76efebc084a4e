import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AnsaiError } from "../core/errors.js";
import type { Point } from "../core/point.js";
import { influxdbStoreConfigSchema, openInfluxdbStore, type InfluxdbStore } from "./influxdb.js";

const log = pino({ level: "silent" });

interface Request {
  path: string;
  authorization: string | undefined;
  lines: string[];
}

/** A stand-in InfluxDB on 127.0.0.1: each write gets the next scripted status (then 204); /query answers `queryBody`. */
async function fakeInflux(statuses: number[], queryBody = '{"results":[{"statement_id":0}]}'): Promise<{ url: string; writes: Request[]; server: Server }> {
  const writes: Request[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url?.startsWith("/query")) {
        res.writeHead(200, { "content-type": "application/json" }).end(queryBody);
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString();
      writes.push({ path: req.url ?? "", authorization: req.headers.authorization, lines: body.split("\n").filter(Boolean) });
      const status = statuses.shift() ?? 204;
      res.writeHead(status, { "content-type": "application/json" }).end(status === 204 ? "" : JSON.stringify({ code: "x", message: `scripted ${status}` }));
    });
  }).listen(0, "127.0.0.1");
  await once(server, "listening");
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return { url: `http://127.0.0.1:${addr.port}`, writes, server };
}

function points(from: number, count: number, measurement = "m"): Point[] {
  return Array.from({ length: count }, (_, i) => ({ measurement, tags: { host: "a" }, fields: { n: from + i }, timeMs: 1_700_000_000_000 + from + i }));
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("influxdbStoreConfigSchema", () => {
  it("fills defaults", () => {
    expect(influxdbStoreConfigSchema.parse({ url: "http://influxdb:8086", bucket: "b" })).toEqual({
      url: "http://influxdb:8086",
      api: "v2",
      org: "",
      bucket: "b",
      batch_size: 5000,
      flush_interval: "1s",
      timeout: "10s",
      max_retry_delay: "30s",
      buffer: { max_bytes: 256 * 1024 * 1024, overflow: "drop_oldest" },
    });
  });

  it.each([
    [{ url: "http://x:8086" }, "bucket", "api v2 needs a bucket"],
    [{ url: "http://x:8086", api: "v1" }, "database", "api v1 needs a database"],
    [{ url: "http://x:8086", bucket: "b", token: "t", token_file: "/f" }, "token_file", "not both"],
    [{ url: "http://x:8086", bucket: "b", username: "u" }, "password", "go together"],
    [{ url: "ftp://x", bucket: "b" }, "url", ""],
    [{ url: "http://x:8086", bucket: "b", batch_size: 0 }, "batch_size", ""],
    [{ url: "http://x:8086", bucket: "b", flush_interval: "soon" }, "flush_interval", "duration"],
    [{ url: "http://x:8086", bucket: "b", bukcet: "typo" }, "", "bukcet"],
  ])("refuses %j at %s", (input, at, message) => {
    const result = influxdbStoreConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path.join(".") === at);
    expect(issue, JSON.stringify(result.error?.issues)).toBeDefined();
    expect(issue?.message).toContain(message);
  });
});

describe("InfluxDB store writes", () => {
  let dir: string;
  const servers: Server[] = [];
  const stores: InfluxdbStore[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ansai-influx-unit-"));
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const s of servers.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(url: string, extra: Record<string, unknown> = {}, envToken?: string, registry?: Registry): Promise<InfluxdbStore> {
    const config = influxdbStoreConfigSchema.parse({ url, bucket: "b", flush_interval: "1h", timeout: "2s", max_retry_delay: "50ms", ...extra });
    const store = await openInfluxdbStore({ config, dataDir: dir, log, envToken, registry, minRetryDelayMs: 10, closeTimeoutMs: 2000 });
    stores.push(store);
    return store;
  }

  it("retries a failed batch, drops a rejected one, and keeps the order", async () => {
    const influx = await fakeInflux([503, 204, 400, 204]);
    servers.push(influx.server);
    const registry = new Registry();
    const store = await open(influx.url, {}, undefined, registry);
    for (const from of [0, 10, 20]) {
      store.write(points(from, 10));
      await store.flush();
    }
    await waitFor("three batches through", () => store.stats().sentPoints + (store.stats().droppedPoints.rejected ?? 0) === 30);
    expect(influx.writes.map((w) => w.lines[0]?.split(" ")[1])).toEqual(["n=0", "n=0", "n=10", "n=20"]);
    const stats = store.stats();
    expect(stats).toMatchObject({ sentPoints: 20, bufferPoints: 0, droppedPoints: { rejected: 10 }, lastError: undefined });
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
      metrics.find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    expect(value("ansai_store_points_written_total")).toBe(20);
    expect(value("ansai_store_points_dropped_total", { reason: "rejected" })).toBe(10);
    expect(value("ansai_store_write_failures_total", { reason: "http_503" })).toBe(1);
  });

  it("splits the queue into batches of batch_size, one request each", async () => {
    const influx = await fakeInflux([]);
    servers.push(influx.server);
    const store = await open(influx.url, { batch_size: 3 });
    store.write(points(0, 7));
    expect(store.pendingPoints()).toBe(7);
    await store.flush();
    expect(store.pendingPoints()).toBe(0);
    await waitFor("all sent", () => store.stats().sentPoints === 7);
    expect(influx.writes.map((w) => w.lines.length)).toEqual([3, 3, 1]);
  });

  it("drops what InfluxDB cannot hold, point by point, and counts it", async () => {
    const influx = await fakeInflux([]);
    servers.push(influx.server);
    const store = await open(influx.url);
    store.write([
      { measurement: "m", tags: { host: "a\nb" }, fields: { n: 1 }, timeMs: 1 },
      { measurement: "m", tags: { host: "a" }, fields: { n: 2 }, timeMs: Number.NaN },
      { measurement: "m", tags: { host: "a" }, fields: { state: "up" }, timeMs: 3 },
      { measurement: "m", tags: { host: "a" }, fields: { up: true, down: false, n: 4.5, inf: Number.POSITIVE_INFINITY, s: "x" }, timeMs: 4.9 },
    ]);
    await store.flush();
    await waitFor("sent", () => store.stats().sentPoints === 1);
    expect(influx.writes[0]?.lines).toEqual(["m,host=a up=1,down=0,n=4.5 4"]);
    expect(store.stats()).toMatchObject({ droppedPoints: { invalid: 2 }, droppedValues: 3 });
  });

  it("close leaves unsent points on disk; the next open sends them once", async () => {
    const influx = await fakeInflux([]);
    servers.push(influx.server);
    const dead = influx.url;
    influx.server.close();
    await once(influx.server, "close");
    const first = await open(dead);
    first.write(points(0, 25));
    await first.close();
    expect(first.stats()).toMatchObject({ bufferPoints: 25, sentPoints: 0 });
    expect(first.stats().lastError?.message).toMatch(/ECONNREFUSED|fetch failed|connect/);

    const up = await fakeInflux([]);
    servers.push(up.server);
    const second = await open(up.url);
    expect(second.stats().bufferPoints).toBe(25);
    await waitFor("sent", () => second.stats().sentPoints === 25);
    await second.close();
    const third = await open(up.url);
    expect(third.stats().bufferPoints).toBe(0);
    expect(up.writes.flatMap((w) => w.lines)).toHaveLength(25);
  });

  it.each([
    ["the config token", { token: "from-config" }, "from-env", "Token from-config"],
    ["the token file", { token_file: "TOKEN_FILE" }, "from-env", "Token from-file"],
    ["the environment", {}, "from-env", "Token from-env"],
    ["1.x basic auth", { api: "v1", database: "d", username: "u", password: "p" }, undefined, `Basic ${Buffer.from("u:p").toString("base64")}`],
    ["no auth", {}, undefined, undefined],
  ])("authenticates with %s", async (_, extra, envToken, expected) => {
    const influx = await fakeInflux([]);
    servers.push(influx.server);
    const tokenFile = path.join(dir, "token");
    writeFileSync(tokenFile, "from-file\n");
    const resolved = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v === "TOKEN_FILE" ? tokenFile : v]));
    const store = await open(influx.url, resolved, envToken);
    store.write(points(0, 1));
    await store.flush();
    await waitFor("sent", () => store.stats().sentPoints === 1);
    expect(influx.writes[0]?.authorization).toBe(expected);
  });

  it("names the token file it cannot read", async () => {
    const config = influxdbStoreConfigSchema.parse({ url: "http://127.0.0.1:1", bucket: "b", token_file: path.join(dir, "missing") });
    await expect(openInfluxdbStore({ config, dataDir: dir, log })).rejects.toMatchObject({ code: "ANSAI_CONFIG_INVALID", message: expect.stringContaining("missing") });
  });

  it("reports InfluxQL errors and bad queries with codes", async () => {
    const influx = await fakeInflux([], '{"results":[{"statement_id":0,"error":"database not found: nope"}]}');
    servers.push(influx.server);
    const store = await open(influx.url);
    const err = await store.listSeries({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnsaiError);
    expect(err).toMatchObject({ code: "ANSAI_STORE_UNAVAILABLE", message: expect.stringContaining("database not found: nope"), hint: expect.stringContaining("DBRP") });
    await expect(store.query({ series: "m,host=a n", startMs: 10, endMs: 0, stepMs: 1, aggregate: "mean" })).rejects.toMatchObject({ code: "ANSAI_QUERY_INVALID" });
  });
});
