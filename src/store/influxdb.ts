import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { formatLineProtocol } from "../collector/ingest/line-protocol.js";
import { durationMs } from "../config/zod-types.js";
import type { Aggregate, RangeQuery, Samples, SeriesFilter, Store } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { parseSeriesKey, seriesKey, type FieldValue, type Point, type SeriesInfo } from "../core/point.js";
import { DurableBuffer } from "./buffer.js";
import type { InfluxdbStoreConfig } from "./influxdb-config.js";
import { createV1Sender, createV2Sender, type LineSender, type SendOutcome } from "./influxdb-write.js";
import {
  isExactTagSet,
  listSeriesQuery,
  NUMERIC_FIELD_TYPES,
  parseShowSeriesKey,
  selectQuery,
  type InfluxqlResponse,
  type InfluxqlStatementResult,
} from "./influxql.js";

export { influxdbStoreConfigSchema, type InfluxdbStoreConfig } from "./influxdb-config.js";

export interface InfluxdbStoreOptions {
  config: InfluxdbStoreConfig;
  /** The buffer lives in `<dataDir>/influxdb-buffer`. */
  dataDir: string;
  log: Logger;
  /** Metrics are registered here when given (never on the global registry). */
  registry?: Registry;
  /** Token from the environment (ANSAI_INFLUXDB_TOKEN), used when the config has none. */
  envToken?: string;
  /** First retry delay (ms). Default 500. */
  minRetryDelayMs?: number;
  /** How long `close()` keeps sending before it leaves the rest on disk (ms). Default: the request timeout. */
  closeTimeoutMs?: number;
}

export interface InfluxdbStoreStats {
  /** Points queued in memory, not yet durable. */
  queuedPoints: number;
  /** Durable points waiting to be sent. */
  bufferPoints: number;
  bufferBatches: number;
  bufferBytes: number;
  /** Points InfluxDB acknowledged since open. */
  sentPoints: number;
  /** Points given up since open, by reason (buffer_full, rejected, queue_full, invalid, buffer_write_failed). */
  droppedPoints: Readonly<Record<string, number>>;
  /** Field values not sent because they are not numbers (strings) or not finite. */
  droppedValues: number;
  /** The latest failed write, cleared by the next success. */
  lastError: { atMs: number; message: string } | undefined;
  lastSuccessAtMs: number | undefined;
}

export interface InfluxdbStore extends Store {
  stats(): InfluxdbStoreStats;
}

const BUFFER_DIR = "influxdb-buffer";
/** In-memory queue bound, in batches: past it writes are dropped, so a stuck disk cannot eat memory. */
const MAX_QUEUED_BATCHES = 20;
const MIN_QUEUED_POINTS = 100_000;
const DEFAULT_MIN_RETRY_DELAY_MS = 500;

const AGGREGATES: ReadonlySet<Aggregate> = new Set(["mean", "min", "max", "last", "count", "sum"]);

const METRIC_NAMES = [
  "ansai_store_points_written_total",
  "ansai_store_points_dropped_total",
  "ansai_store_pending_points",
  "ansai_store_buffer_points",
  "ansai_store_buffer_bytes",
  "ansai_store_write_failures_total",
];

interface Metrics {
  written: Counter;
  dropped: Counter<"reason">;
  failures: Counter<"reason">;
}

function makeMetrics(registry: Registry, stats: () => InfluxdbStoreStats): Metrics {
  const registers = [registry];
  for (const name of METRIC_NAMES) registry.removeSingleMetric(name);
  new Gauge({ name: "ansai_store_pending_points", help: "Points queued in memory and not yet durable.", registers, collect() { this.set(stats().queuedPoints); } });
  new Gauge({ name: "ansai_store_buffer_points", help: "Durable points waiting in the on-disk buffer for InfluxDB.", registers, collect() { this.set(stats().bufferPoints); } });
  new Gauge({ name: "ansai_store_buffer_bytes", help: "Size of the on-disk buffer for InfluxDB.", registers, collect() { this.set(stats().bufferBytes); } });
  return {
    written: new Counter({ name: "ansai_store_points_written_total", help: "Points acknowledged by InfluxDB.", registers }),
    dropped: new Counter({ name: "ansai_store_points_dropped_total", help: "Points or values not stored, by reason.", labelNames: ["reason"], registers }),
    failures: new Counter({ name: "ansai_store_write_failures_total", help: "Failed write requests to InfluxDB, by reason.", labelNames: ["reason"], registers }),
  };
}

/** A point as the store keeps it: numeric fields only (booleans as 0/1), integer ms. */
function numericPoint(p: Point, dropValue: (reason: string) => void): Point | undefined {
  const fields: Record<string, FieldValue> = {};
  let n = 0;
  for (const key in p.fields) {
    const raw = p.fields[key];
    const value = typeof raw === "boolean" ? Number(raw) : raw;
    if (typeof value !== "number") {
      dropValue("non_numeric");
      continue;
    }
    if (!Number.isFinite(value)) {
      dropValue("not_finite");
      continue;
    }
    fields[key] = value;
    n++;
  }
  if (n === 0) return undefined;
  return { measurement: p.measurement, tags: p.tags, fields, timeMs: Math.trunc(p.timeMs) };
}

async function resolveToken(c: InfluxdbStoreConfig, envToken: string | undefined): Promise<string | undefined> {
  if (c.token !== undefined) return c.token;
  if (c.token_file !== undefined) {
    try {
      return (await readFile(c.token_file, "utf8")).trim();
    } catch (err) {
      throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `cannot read store.influxdb.token_file ${c.token_file}: ${(err as Error).message}`,
        "create the file with the InfluxDB token, readable by ANSAI, or set ANSAI_INFLUXDB_TOKEN instead", { cause: err });
    }
  }
  if (envToken) return envToken;
  return c.username !== undefined ? `${c.username}:${c.password ?? ""}` : undefined;
}

/** `Authorization` for /query and v1 /write: basic auth for a 1.x user, else the token. */
function authorizationHeader(c: InfluxdbStoreConfig, token: string | undefined): string | undefined {
  if (c.username !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password ?? ""}`).toString("base64")}`;
  return token ? `Token ${token}` : undefined;
}

function openBuffer(c: InfluxdbStoreConfig, dir: string, log: Logger): DurableBuffer {
  try {
    return DurableBuffer.open({ dir, maxBytes: c.buffer.max_bytes, overflow: c.buffer.overflow, log: log.child({ component: "buffer" }) });
  } catch (err) {
    throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `cannot open the InfluxDB write buffer ${dir}: ${(err as Error).message}`,
      "check that the data dir is writable by ANSAI, or set data_dir", { cause: err });
  }
}

interface ReaderSettings {
  url: string;
  database: string;
  retentionPolicy?: string;
  authorization?: string;
  timeoutMs: number;
}

/** The read side: InfluxQL over `GET /query`, shaped like the embedded store's answers. */
function influxqlReader(r: ReaderSettings): Pick<Store, "query" | "listSeries"> {
  async function queryInfluxql(q: string): Promise<InfluxqlStatementResult[]> {
    const url = new URL("query", r.url.endsWith("/") ? r.url : `${r.url}/`);
    url.searchParams.set("db", r.database);
    if (r.retentionPolicy) url.searchParams.set("rp", r.retentionPolicy);
    url.searchParams.set("epoch", "ms");
    url.searchParams.set("q", q);
    const headers: Record<string, string> = { accept: "application/json" };
    if (r.authorization) headers.authorization = r.authorization;
    let body: InfluxqlResponse;
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(r.timeoutMs) });
      const text = await res.text();
      body = (text ? JSON.parse(text) : {}) as InfluxqlResponse;
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.error ?? text.slice(0, 300)}`);
    } catch (err) {
      throw unavailable(`InfluxQL query to ${r.url} failed: ${(err as Error).message}`, err);
    }
    if (body.error) throw unavailable(`InfluxDB refused the query: ${body.error}`);
    const results = body.results ?? [];
    const failed = results.find((statement) => statement.error);
    if (failed?.error) throw unavailable(`InfluxDB refused the query: ${failed.error}`);
    return results;
  }

  function unavailable(message: string, cause?: unknown): AnsaiError {
    return new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, message,
      "check store.influxdb.url, database and credentials; on InfluxDB 2.x create a DBRP mapping for the database (`influx v1 dbrp create`)", { cause });
  }

  async function query(q: RangeQuery): Promise<Samples> {
    if (!(q.stepMs > 0) || !Number.isFinite(q.startMs) || !Number.isFinite(q.endMs) || q.endMs < q.startMs || !AGGREGATES.has(q.aggregate)) {
      throw new AnsaiError(ErrorCodes.QUERY_INVALID, `invalid range query ${JSON.stringify(q)}`,
        "give startMs <= endMs, stepMs > 0 and aggregate one of mean|min|max|last|count|sum");
    }
    const info = parseSeriesKey(q.series);
    if (info === undefined) return [];
    const text = selectQuery({ ...info, retentionPolicy: r.retentionPolicy, aggregate: q.aggregate, startMs: q.startMs, endMs: q.endMs, stepMs: q.stepMs });
    const [result] = await queryInfluxql(text);
    const group = result?.series?.find((s) => isExactTagSet(s.tags ?? {}, info.tags));
    const out: Samples = [];
    for (const row of group?.values ?? []) {
      const [t, v] = row;
      if (typeof t === "number" && typeof v === "number") out.push([t, v]);
    }
    return out;
  }

  async function listSeries(filter: SeriesFilter): Promise<SeriesInfo[]> {
    const [seriesResult, fieldResult] = await queryInfluxql(listSeriesQuery(filter.measurement, filter.tags ?? {}, filter.limit));
    const fields = new Map<string, string[]>();
    for (const s of fieldResult?.series ?? []) {
      const numeric = (s.values ?? []).filter(([, type]) => NUMERIC_FIELD_TYPES.has(String(type))).map(([key]) => String(key));
      fields.set(s.name ?? "", numeric);
    }
    const out: SeriesInfo[] = [];
    const limit = filter.limit ?? Infinity;
    for (const s of seriesResult?.series ?? []) {
      for (const [key] of s.values ?? []) {
        const parsed = parseShowSeriesKey(String(key));
        if (!parsed) continue;
        for (const field of fields.get(parsed.measurement) ?? []) {
          if (filter.field !== undefined && field !== filter.field) continue;
          if (out.length >= limit) return out;
          out.push({ key: seriesKey(parsed.measurement, parsed.tags, field), measurement: parsed.measurement, tags: parsed.tags, field });
        }
      }
    }
    return out;
  }

  return { query, listSeries };
}

/**
 * Opens the InfluxDB store. Writes: `write()` queues in memory; every `flush_interval` (and on
 * `flush()`) the queue is appended, fsynced, to a bounded on-disk buffer under
 * `<dataDir>/influxdb-buffer` — from then on the points survive a kill -9 and an InfluxDB outage.
 * A background sender drains the buffer oldest first, one batch (≤ batch_size points) per
 * gzip request, and removes a batch only after InfluxDB acknowledged it. Network errors, 408,
 * 429 and 5xx are retried with exponential backoff and jitter (honouring Retry-After); a
 * wrong token, database or bucket (401/403/404) also waits, loudly; any other 4xx (a bad point,
 * a partial write) drops only that batch, counted and logged. Buffer overflow follows
 * `buffer.overflow` and is counted, logged and exported.
 *
 * Reads use InfluxQL over `GET /query` (InfluxDB 1.x, 2.x with a DBRP mapping, 3.x), with the
 * same bucket starts and aggregates as the embedded store. `listSeries` pairs each series with
 * every numeric field key of its measurement (InfluxQL has no per-series field list), so a
 * listed series may have no points for a field.
 *
 * @throws AnsaiError STORE_UNAVAILABLE when the buffer dir cannot be opened, CONFIG_INVALID when
 *   the token file cannot be read.
 */
export async function openInfluxdbStore(opts: InfluxdbStoreOptions): Promise<InfluxdbStore> {
  const c = opts.config;
  const log = opts.log.child({ store: "influxdb" });
  const token = await resolveToken(c, opts.envToken);
  const authorization = authorizationHeader(c, token);
  const timeoutMs = durationMs(c.timeout);
  const maxRetryDelayMs = durationMs(c.max_retry_delay);
  const minRetryDelayMs = Math.min(opts.minRetryDelayMs ?? DEFAULT_MIN_RETRY_DELAY_MS, maxRetryDelayMs);
  const closeTimeoutMs = opts.closeTimeoutMs ?? timeoutMs;
  const database = c.database ?? c.bucket ?? "";
  const bufferDir = path.join(opts.dataDir, BUFFER_DIR);
  const buffer = openBuffer(c, bufferDir, log);
  const sender: LineSender =
    c.api === "v1"
      ? createV1Sender({ url: c.url, timeoutMs, database, retentionPolicy: c.retention_policy, authorization })
      : createV2Sender({ url: c.url, timeoutMs, org: c.org, bucket: c.bucket ?? "", token });

  let queue: string[] = [];
  const maxQueued = Math.max(MIN_QUEUED_POINTS, c.batch_size * MAX_QUEUED_BATCHES);
  let sentPoints = 0;
  let droppedValues = 0;
  const droppedPoints: Record<string, number> = {};
  let lastError: InfluxdbStoreStats["lastError"];
  let lastSuccessAtMs: number | undefined;
  let closed: Promise<void> | undefined;
  let flushQueued = false;

  function stats(): InfluxdbStoreStats {
    const b = buffer.stats();
    return {
      queuedPoints: queue.length,
      bufferPoints: b.points,
      bufferBatches: b.batches,
      bufferBytes: b.bytes,
      sentPoints,
      droppedPoints: { ...droppedPoints },
      droppedValues,
      lastError,
      lastSuccessAtMs,
    };
  }
  const metrics = opts.registry ? makeMetrics(opts.registry, stats) : undefined;

  function dropPoints(reason: string, n: number): void {
    if (n <= 0) return;
    droppedPoints[reason] = (droppedPoints[reason] ?? 0) + n;
    metrics?.dropped.inc({ reason }, n);
  }
  const dropValue = (reason: string): void => {
    droppedValues++;
    metrics?.dropped.inc({ reason });
  };

  /** Line protocol of each point; a point line protocol cannot carry (a newline in a tag) is dropped alone. */
  function format(points: readonly Point[]): string[] {
    try {
      const text = formatLineProtocol(points);
      return text.slice(0, -1).split("\n");
    } catch {
      const lines: string[] = [];
      for (const p of points) {
        try {
          lines.push(formatLineProtocol([p]).slice(0, -1));
        } catch (err) {
          dropPoints("invalid", 1);
          log.warn({ measurement: p.measurement, err: (err as Error).message }, "point cannot be written as line protocol; dropped");
        }
      }
      return lines;
    }
  }

  function write(points: readonly Point[]): void {
    if (closed) {
      dropPoints("closed", points.length);
      return;
    }
    const kept: Point[] = [];
    for (const p of points) {
      if (!Number.isFinite(p.timeMs)) {
        dropPoints("invalid", 1);
        continue;
      }
      const np = numericPoint(p, dropValue);
      if (np) kept.push(np);
    }
    if (kept.length === 0) return;
    const room = maxQueued - queue.length;
    if (room < kept.length) {
      dropPoints("queue_full", kept.length - Math.max(0, room));
      kept.length = Math.max(0, room);
    }
    for (const line of format(kept)) queue.push(line);
    if (queue.length >= c.batch_size && !flushQueued) {
      flushQueued = true;
      setImmediate(() => {
        flushQueued = false;
        flushToDisk();
      });
    }
  }

  /** Appends the queue to the durable buffer in batches; false when the disk refused. */
  function flushToDisk(): boolean {
    if (queue.length === 0) return true;
    const lines = queue;
    queue = [];
    const droppedBefore = buffer.stats().droppedPoints;
    for (let start = 0; start < lines.length; start += c.batch_size) {
      const batch = lines.slice(start, start + c.batch_size);
      try {
        buffer.append(`${batch.join("\n")}\n`, batch.length);
      } catch (err) {
        const lost = lines.length - start;
        dropPoints("buffer_write_failed", lost);
        log.error({ err, points: lost, dir: bufferDir }, "cannot append to the InfluxDB write buffer; points dropped: check free disk space and permissions on the data dir");
        return false;
      }
    }
    const overflowed = buffer.stats().droppedPoints - droppedBefore;
    if (overflowed > 0) {
      dropPoints("buffer_full", overflowed);
      log.error({ points: overflowed, maxBytes: c.buffer.max_bytes, lastError: lastError?.message },
        "InfluxDB write buffer is full and points were dropped: bring InfluxDB back, or raise store.influxdb.buffer.max_bytes");
    }
    wake();
    return true;
  }

  async function flush(): Promise<void> {
    if (closed) return closed;
    if (flushToDisk()) return;
    throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `cannot append to the InfluxDB write buffer ${bufferDir}`,
      "check free disk space and permissions on the data dir");
  }

  // ---- the sender: drains the durable buffer to InfluxDB, oldest batch first ----
  let stopping = false;
  let closeDeadlineMs = Infinity;
  let failuresInRow = 0;
  let sleeping: { resolve: () => void; timer?: NodeJS.Timeout; backingOff: boolean } | undefined;
  function wake(): void {
    if (sleeping && !sleeping.backingOff) sleeping.resolve();
  }
  function sleep(ms: number, backingOff: boolean): Promise<void> {
    return new Promise((resolve) => {
      // Unref'd: a store nobody closed must not hold the process open just to retry.
      sleeping = { resolve, timer: ms > 0 && Number.isFinite(ms) ? setTimeout(resolve, ms).unref() : undefined, backingOff };
    });
  }

  function onOutcome(seq: number, points: number, outcome: SendOutcome): boolean {
    if (outcome.kind === "ok") {
      buffer.ack(seq);
      sentPoints += points;
      metrics?.written.inc(points);
      lastSuccessAtMs = Date.now();
      if (failuresInRow > 0) log.info({ failures: failuresInRow, buffered: buffer.stats().points }, "InfluxDB accepts writes again; draining the buffer");
      failuresInRow = 0;
      lastError = undefined;
      return true;
    }
    if (outcome.kind === "reject") {
      buffer.ack(seq);
      dropPoints("rejected", points);
      metrics?.failures.inc({ reason: `http_${outcome.status}` });
      lastError = { atMs: Date.now(), message: outcome.message };
      log.error({ seq, points, status: outcome.status, error: outcome.message, droppedTotal: droppedPoints.rejected },
        "InfluxDB rejected a batch; it is dropped and later batches go on. On a partial write InfluxDB kept the valid points; fix the source of the points named in the error (e.g. a field written with another type before)");
      return true;
    }
    return false;
  }

  function retryDelayMs(outcome: Extract<SendOutcome, { kind: "retry" }>): number {
    const expMs = Math.min(maxRetryDelayMs, minRetryDelayMs * 2 ** Math.min(30, failuresInRow - 1));
    // Equal jitter: half fixed, half random, so many agents do not retry in step.
    const jittered = expMs / 2 + Math.random() * (expMs / 2);
    return Math.max(jittered, outcome.retryAfterMs ?? 0);
  }

  /** Sends until the buffer is empty, or returns the delay before the next try after a retriable failure. */
  async function drain(): Promise<number | undefined> {
    for (;;) {
      if (stopping && Date.now() >= closeDeadlineMs) return undefined;
      const batch = buffer.peek();
      if (!batch) return undefined;
      const outcome = await sender.send(batch.payload);
      if (onOutcome(batch.seq, batch.points, outcome)) continue;
      if (outcome.kind !== "retry") continue;
      failuresInRow++;
      metrics?.failures.inc({ reason: outcome.reason });
      lastError = { atMs: Date.now(), message: outcome.message };
      const delayMs = retryDelayMs(outcome);
      const level = failuresInRow === 1 || outcome.reason === "unauthorized" || outcome.reason === "not_found" ? "warn" : "debug";
      log[level]({ reason: outcome.reason, error: outcome.message, retryInMs: Math.round(delayMs), buffered: buffer.stats().points, failures: failuresInRow },
        "write to InfluxDB failed; points stay in the on-disk buffer and are retried");
      return delayMs;
    }
  }

  const loop = (async () => {
    while (!stopping) {
      let delayMs: number | undefined;
      try {
        delayMs = await drain();
      } catch (err) {
        // Only the buffer's disk I/O can throw here; keep the sender alive.
        log.error({ err }, "InfluxDB sender failed reading its buffer; retrying");
        delayMs = maxRetryDelayMs;
      }
      if (stopping) break;
      await sleep(delayMs ?? Infinity, delayMs !== undefined);
      clearTimeout(sleeping?.timer);
      sleeping = undefined;
    }
  })();

  const flushTimer = setInterval(() => {
    if (queue.length > 0) flushToDisk();
  }, durationMs(c.flush_interval));
  flushTimer.unref();

  log.info({ url: c.url, api: c.api, bucket: c.bucket, database, buffered: buffer.stats().points }, "InfluxDB store opened");

  function close(): Promise<void> {
    if (closed) return closed;
    clearInterval(flushTimer);
    flushToDisk();
    closed = (async () => {
      // One last drain, bounded: what InfluxDB does not take in time stays on disk for the next start.
      stopping = true;
      closeDeadlineMs = Date.now() + closeTimeoutMs;
      sleeping?.resolve();
      await loop;
      // The loop may have been backing off: one more immediate try, stopping at the first failure.
      const retryInMs = await drain().catch(() => 0);
      buffer.close();
      const rest = buffer.stats().points;
      if (rest > 0) log.warn({ buffered: rest, lastError: lastError?.message, retryInMs }, "InfluxDB did not take every point before shutdown; the rest stays in the on-disk buffer for the next start");
      else log.info("InfluxDB store closed");
    })();
    return closed;
  }

  const reader = influxqlReader({ url: c.url, database, retentionPolicy: c.retention_policy, authorization, timeoutMs });
  return { write, flush, query: reader.query, listSeries: reader.listSeries, pendingPoints: () => queue.length, close, stats };
}
