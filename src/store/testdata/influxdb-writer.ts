// Child process for the InfluxDB store's kill -9 test: `node --import tsx influxdb-writer.ts <dataDir> <url> <batches> <perBatch> <baseMs>`.
// Writes `batches` batches of `perBatch` points (measurement "killed", field n = 0, 1, ...), printing
// `durable <count>` after each flush, then queues one more batch without flushing, prints
// `queued <count>`, and waits to be killed.
import { pino } from "pino";
import { influxdbStoreConfigSchema, openInfluxdbStore } from "../influxdb.js";

const [dataDir, url, batchesText, perBatchText, baseText] = process.argv.slice(2);
if (!dataDir || !url) throw new Error("usage: influxdb-writer.ts <dataDir> <url> <batches> <perBatch> <baseMs>");
const batches = Number(batchesText);
const perBatch = Number(perBatchText);
const baseMs = Number(baseText);

const config = influxdbStoreConfigSchema.parse({ url, bucket: "b", org: "o", flush_interval: "1h", timeout: "1s", max_retry_delay: "1s" });
const store = await openInfluxdbStore({ config, dataDir, log: pino({ level: "silent" }), minRetryDelayMs: 100 });
let n = 0;
const batch = (): Array<{ measurement: string; tags: Record<string, string>; fields: Record<string, number>; timeMs: number }> =>
  Array.from({ length: perBatch }, () => ({ measurement: "killed", tags: { host: "h" }, fields: { n }, timeMs: baseMs + n++ }));
for (let i = 0; i < batches; i++) {
  store.write(batch());
  await store.flush();
  process.stdout.write(`durable ${n}\n`);
}
store.write(batch());
process.stdout.write(`queued ${n}\n`);
setInterval(() => undefined, 60_000);
