// Embedded store benchmark: `npx tsx bench/store.ts`. Prints a markdown table.
// 1M points over 1k series (one point per series every 86.4 s, so the data spans one day),
// written through the Store interface in collector-sized passes.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import { pino } from "pino";
import type { Point } from "../src/core/point.js";
import { seriesKey } from "../src/core/point.js";
import { openEmbeddedStore } from "../src/store/embedded.js";

const SERIES = 1_000;
const POINTS = 1_000_000;
const PASSES = POINTS / SERIES;
const DAY_MS = 86_400_000;
const T0 = 1_700_006_400_000; // midnight UTC
const intervalMs = DAY_MS / PASSES;

const dir = await mkdtemp(path.join(tmpdir(), "ansai-bench-store-"));
const now = T0 + DAY_MS;
const store = await openEmbeddedStore({ dataDir: dir, log: pino({ level: "warn" }), clock: { nowMs: () => now } });

// Build the passes first so the timing covers the store, not the generator.
const hosts = Array.from({ length: SERIES / 10 }, (_, h) => `host-${h}`);
const tagSets = hosts.flatMap((host) => Array.from({ length: 10 }, (_, c) => ({ host, cpu: `cpu${c}` })));
const passes: Point[][] = [];
for (let p = 0; p < PASSES; p++) {
  const timeMs = T0 + p * intervalMs;
  passes.push(tagSets.map((tags, s) => ({ measurement: "cpu", tags, fields: { usage_percent: 50 + 40 * Math.sin(p / 50 + s) }, timeMs })));
}

const started = performance.now();
for (const pass of passes) {
  store.write(pass);
  await tick(); // let flushes run between passes, as between collector intervals
}
await store.flush();
const writeS = (performance.now() - started) / 1000;

const compactStarted = performance.now();
await store.compact(now);
const compactMs = performance.now() - compactStarted;
const stats = await store.stats();

const series = seriesKey("cpu", tagSets[123] ?? {}, "usage_percent");
const q = { series, startMs: T0, endMs: T0 + DAY_MS, stepMs: 60_000, aggregate: "mean" as const };
await store.query(q); // warm
const runs = 20;
const queryStarted = performance.now();
let buckets = 0;
for (let i = 0; i < runs; i++) buckets = (await store.query(q)).length;
const queryMs = (performance.now() - queryStarted) / runs;

await store.close();

// Reference in the same run: the same rows straight into DuckDB's appender, no store around it.
const rawDir = path.join(dir, "raw");
await mkdir(rawDir);
const instance = await DuckDBInstance.create(path.join(rawDir, "raw.duckdb"));
const conn = await instance.connect();
await conn.run("CREATE TABLE points (series_id INTEGER, ts BIGINT, value DOUBLE)");
const rawStarted = performance.now();
for (let p = 0; p < PASSES; p += 5) {
  const appender = await conn.createAppender("points");
  for (let q2 = p; q2 < p + 5; q2++) {
    for (const [s, point] of (passes[q2] ?? []).entries()) {
      appender.appendInteger(s);
      appender.appendBigInt(BigInt(point.timeMs));
      appender.appendDouble(point.fields.usage_percent as number);
      appender.endRow();
    }
  }
  appender.closeSync();
}
const rawS = (performance.now() - rawStarted) / 1000;
conn.closeSync();
instance.closeSync();
await rm(dir, { recursive: true, force: true });

console.log(`| measure | value |
| --- | --- |
| write throughput, ${POINTS.toLocaleString("en")} points over ${SERIES} series (Store.write + flush) | ${Math.round(POINTS / writeS).toLocaleString("en")} points/s |
| reference: the same rows straight into a DuckDB appender (5k-row batches) | ${Math.round(POINTS / rawS).toLocaleString("en")} rows/s |
| store write rate ÷ raw appender rate | ${(rawS / writeS).toFixed(2)} |
| bytes per point on disk after compact + checkpoint | ${(stats.fileBytes / stats.points).toFixed(1)} B (${(stats.fileBytes / 1e6).toFixed(1)} MB file) |
| compact (checkpoint) time | ${compactMs.toFixed(0)} ms |
| query: one series, 1-day range, 1-minute step, mean (${buckets} buckets) | ${queryMs.toFixed(1)} ms |`);
