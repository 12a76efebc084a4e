// `npx tsx bench/influxdb-drain.ts`: how fast the InfluxDB store drains its on-disk buffer after an
// outage. 200 000 points (4 series, one field, distinct timestamps) are made durable while the
// server is unreachable; then a new store on the same buffer points at a running server, and the
// time until the buffer is empty is measured. Once per path: VictoriaMetrics through the official
// client (/api/v2/write) and InfluxDB 1.x (/write). Prints a markdown table.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { influxdbStoreConfigSchema, openInfluxdbStore } from "../src/store/influxdb.js";
import { freePort } from "../test/support/ports.js";
import { influxd1, influxql, victoriaMetrics, type TsdbServer } from "../test/support/tsdb.js";

const POINTS = 200_000;
const BATCH = 5000;
const log = pino({ level: "silent" });

async function measure(name: string, server: TsdbServer, settings: Record<string, unknown>, dir: string): Promise<string> {
  const dataDir = path.join(dir, `buffer-${name}`);
  const dead = influxdbStoreConfigSchema.parse({ ...settings, url: `http://127.0.0.1:${await freePort()}`, flush_interval: "1h", timeout: "1s" });
  const offline = await openInfluxdbStore({ config: dead, dataDir, log, closeTimeoutMs: 100 });
  const baseMs = Date.now() - 3_600_000;
  for (let from = 0; from < POINTS; from += BATCH) {
    offline.write(Array.from({ length: BATCH }, (_, i) => ({ measurement: "drain", tags: { host: `h${(from + i) % 4}` }, fields: { v: from + i }, timeMs: baseMs + from + i })));
    await offline.flush();
  }
  await offline.close();
  const bytes = offline.stats().bufferBytes;
  const config = influxdbStoreConfigSchema.parse({ ...settings, url: server.url, timeout: "30s" });
  const started = performance.now();
  const store = await openInfluxdbStore({ config, dataDir, log });
  while (store.stats().bufferPoints > 0) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return `| ${name} | ${POINTS} | ${(bytes / 2 ** 20).toFixed(1)} MiB | ${seconds.toFixed(2)} s | ${Math.round(POINTS / seconds)} |`;
}

const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-influx-"));
const rows: string[] = [];
try {
  const vm = await victoriaMetrics(path.join(dir, "vm"));
  await vm.start();
  try {
    rows.push(await measure("VictoriaMetrics, api v2 (official client, gzip)", vm, { org: "o", bucket: "b", batch_size: BATCH }, dir));
  } finally {
    await vm.stop();
  }
  const influx = await influxd1(path.join(dir, "influxd"));
  await influx.start();
  try {
    await influxql(influx.url, 'CREATE DATABASE "bench"');
    rows.push(await measure("InfluxDB 1.6, api v1 (/write, gzip)", influx, { api: "v1", database: "bench", batch_size: BATCH }, dir));
  } finally {
    await influx.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log("| path | points | buffer on disk | drain time | points/s |\n|---|---|---|---|---|");
for (const row of rows) console.log(row);
