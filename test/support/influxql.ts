// Helpers for comparing ANSAI's InfluxQL /query with a real InfluxDB 1.x holding the same data.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import pino from "pino";
import { registerInfluxQLRoutes } from "../../src/api/routes/influxql.js";
import { systemClock, type Clock } from "../../src/core/contracts.js";
import type { Point } from "../../src/core/point.js";
import { openEmbeddedStore, type EmbeddedStore } from "../../src/store/embedded.js";
import { requireDebianBinary } from "./debian.js";
import { freePort } from "./ports.js";

/** A running influxd from Debian's influxdb package, with database `ansai`. */
export interface Influxd {
  url: string;
  stop(): Promise<void>;
}

/** Buckets both sides allow per GROUP BY time(): influxd is configured with ANSAI's default. */
export const MAX_SELECT_BUCKETS = 100_000;

async function waitForPing(url: string, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`influxd exited (${proc.exitCode}): ${output()}`);
    const ok = await fetch(`${url}/ping`).then((r) => r.status === 204, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`influxd did not answer ${url}/ping within 30 s: ${output()}`);
}

/** Starts influxd on free 127.0.0.1 ports in a temp dir and creates database `ansai`. */
export async function startInfluxd(): Promise<Influxd> {
  const bin = requireDebianBinary("influxd", "influxdb");
  const dir = await mkdtemp(path.join(tmpdir(), "ansai-influxd-"));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[coordinator]
  max-select-buckets = ${MAX_SELECT_BUCKETS}
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`;
  await writeFile(path.join(dir, "influxdb.conf"), config);
  const proc = spawn(bin, ["-config", path.join(dir, "influxdb.conf")], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  proc.stderr?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await once(proc, "exit");
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPing(url, proc, () => out);
    const res = await fetch(`${url}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE ansai" }) });
    if (!res.ok) throw new Error(`CREATE DATABASE failed: ${res.status} ${await res.text()}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

const escKey = (s: string): string => s.replace(/[\\,= ]/g, (c) => `\\${c}`);
const escMeasurement = (s: string): string => s.replace(/[\\, ]/g, (c) => `\\${c}`);

/** Line protocol at ms precision; every numeric field as a float, as ANSAI stores them. */
export function toLineProtocol(points: readonly Point[]): string {
  return points
    .map((p) => {
      const tags = Object.keys(p.tags).sort().map((k) => `,${escKey(k)}=${escKey(p.tags[k] ?? "")}`).join("");
      const fields = Object.entries(p.fields).map(([k, v]) => `${escKey(k)}=${typeof v === "boolean" ? String(v) : Number(v)}`).join(",");
      return `${escMeasurement(p.measurement)}${tags} ${fields} ${Math.trunc(p.timeMs)}`;
    })
    .join("\n");
}

/** Writes points to influxd's database `ansai` (POST /write?db=ansai&precision=ms), in batches. */
export async function writeInfluxd(url: string, points: readonly Point[]): Promise<void> {
  for (let i = 0; i < points.length; i += 5000) {
    const res = await fetch(`${url}/write?db=ansai&precision=ms`, { method: "POST", body: toLineProtocol(points.slice(i, i + 5000)) });
    if (res.status !== 204) throw new Error(`influxd write failed: ${res.status} ${await res.text()}`);
  }
}

/** ANSAI's /query over an embedded store in a temp dir. */
export interface AnsaiQuery {
  app: FastifyInstance;
  store: EmbeddedStore;
  close(): Promise<void>;
}

/** Opens an embedded store in a temp dir, writes `points` durably, and serves /query over it. */
export async function startAnsaiQuery(points: readonly Point[], clock: Clock = systemClock): Promise<AnsaiQuery> {
  const dir = await mkdtemp(path.join(tmpdir(), "ansai-influxql-"));
  const log = pino({ level: "silent" });
  const store = await openEmbeddedStore({ dataDir: dir, log, clock, retentionMs: 3650 * 86_400_000 });
  store.write(points);
  await store.flush();
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerInfluxQLRoutes(app, { reads: store, clock, log, maxSelectBuckets: MAX_SELECT_BUCKETS });
  await app.ready();
  return {
    app,
    store,
    async close() {
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface QueryAnswer {
  status: number;
  body: unknown;
}

/** Query parameters besides `q` (db is always `ansai`). */
export type QueryParams = Readonly<Record<string, string>>;

/** POSTs `q` as a form to influxd's /query, as Grafana does. */
export async function queryInfluxd(url: string, q: string, params: QueryParams = {}): Promise<QueryAnswer> {
  const res = await fetch(`${url}/query`, { method: "POST", body: new URLSearchParams({ db: "ansai", ...params, q }) });
  return { status: res.status, body: (await res.json()) as unknown };
}

/** POSTs `q` as a form to ANSAI's /query. */
export async function queryAnsai(app: FastifyInstance, q: string, params: QueryParams = {}): Promise<QueryAnswer> {
  const res = await app.inject({
    method: "POST",
    url: "/query",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ db: "ansai", ...params, q }).toString(),
  });
  return { status: res.statusCode, body: res.json() as unknown };
}

/** Differences between two answers; numbers equal within `relTol` (relative), everything else exactly. */
export function diffAnswers(a: unknown, b: unknown, relTol = 1e-9, at = "$"): string[] {
  if (typeof a === "number" && typeof b === "number") {
    const ok = a === b || Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b));
    return ok ? [] : [`${at}: ${a} != ${b}`];
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [`${at}: length ${a.length} != ${b.length}`];
    return a.flatMap((x, i) => diffAnswers(x, b[i], relTol, `${at}[${i}]`));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.join() !== kb.join()) return [`${at}: keys ${ka.join()} != ${kb.join()}`];
    return ka.flatMap((k) => diffAnswers((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], relTol, `${at}.${k}`));
  }
  return a === b ? [] : [`${at}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`];
}

/** Whether an answer holds at least one series with at least one row. */
export function hasRows(answer: QueryAnswer): boolean {
  const results = (answer.body as { results?: Array<{ series?: Array<{ values?: unknown[] }> }> }).results ?? [];
  return results.length > 0 && results.every((r) => (r.series ?? []).some((s) => (s.values ?? []).length > 0));
}

/**
 * Runs `q` on influxd and on ANSAI. Queries using now() can straddle a bucket edge between the two
 * calls, so influxd is asked before and after ANSAI; when those two differ, the round is retried.
 */
export async function runQueryBothWays(influxdUrl: string, app: FastifyInstance, q: string, params: QueryParams = {}): Promise<{ influxd: QueryAnswer; ansai: QueryAnswer }> {
  for (let attempt = 0; ; attempt++) {
    const before = await queryInfluxd(influxdUrl, q, params);
    const ansai = await queryAnsai(app, q, params);
    if (!/now\(\)/i.test(q)) return { influxd: before, ansai };
    const after = await queryInfluxd(influxdUrl, q, params);
    if (diffAnswers(before, after).length === 0 || attempt >= 3) return { influxd: after, ansai };
  }
}

/**
 * Rows of one timestamp from several series come out of InfluxDB in no fixed order (a merge heap);
 * this sorts them by content so answers can be compared. Use only for raw queries over several series.
 */
export function sortRowsWithinTime(answer: QueryAnswer): QueryAnswer {
  const body = structuredClone(answer.body) as { results?: Array<{ series?: Array<{ values?: unknown[][] }> }> };
  for (const r of body.results ?? []) {
    for (const s of r.series ?? []) {
      s.values?.sort((a, b) => (a[0] === b[0] ? JSON.stringify(a).localeCompare(JSON.stringify(b)) : 0));
    }
  }
  return { ...answer, body };
}
