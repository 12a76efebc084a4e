import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { BIGINT, DOUBLE, DuckDBDataChunk, DuckDBInstance, DuckDBVector, INTEGER, type DuckDBAppender, type DuckDBConnection } from "@duckdb/node-api";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ColumnHead, ColumnSink, PointColumns } from "../core/columns.js";
import type { Aggregate, Clock, RangeQuery, Samples, SeriesFilter, Store } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { ownString, seriesKey, type Point, type SeriesInfo } from "../core/point.js";
import {
  aggregateSql, fieldKeysSql, measurementsSql, rawSql, regexCheckSql, tagKeysSql, tagValuesSql,
  type AggregateRow, type RawRow, type SelectReads, type Sql,
} from "./select.js";

export interface EmbeddedStoreOptions {
  /** Created if missing; the database file is `<dataDir>/ansai.duckdb`. */
  dataDir: string;
  log: Logger;
  /** Source of "now" for retention. */
  clock: Clock;
  /** Metrics are registered here when given (never on the global registry). */
  registry?: Registry;
  /** Queued points become durable at least this often (ms). Default 1000. */
  flushIntervalMs?: number;
  /** A batch this full flushes at once (points). Default 50 000. */
  maxBatchPoints?: number;
  /** How long raw points are kept (ms). Default 14 days. */
  retentionMs?: number;
  /** Bucket width of the rollup that outlives raw points (ms). Default 5 minutes. */
  rollupStepMs?: number;
  /** How long rollup rows are kept (ms). Default 365 days. */
  rollupRetentionMs?: number;
}

export interface EmbeddedStoreStats {
  series: number;
  /** Raw points on disk. */
  points: number;
  rollupRows: number;
  /** Database file plus its write-ahead log. */
  fileBytes: number;
}

/** `writeColumns` queues exactly what `write` would for the same points (same ids, same drops), without a point object. */
export interface EmbeddedStore extends Store, SelectReads, ColumnSink {
  stats(): Promise<EmbeddedStoreStats>;
  /** Accepted points lost since open, by reason (queue_full: the disk could not keep up; flush_failed). */
  droppedPoints(): Readonly<Record<string, number>>;
  /** Rolls expiring raw points up, applies retention, then checkpoints. `nowMs` defaults to the clock. */
  compact(nowMs?: number): Promise<void>;
}

const DAY_MS = 86_400_000;
const FIRST_COMPACT_DELAY_MS = 30_000;
const COMPACT_INTERVAL_MS = 10 * 60_000;
/** Past this many queued points (in multiples of maxBatchPoints) writes are dropped, so a stuck disk cannot eat memory. */
const MAX_QUEUED_BATCHES = 20;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key VARCHAR UNIQUE NOT NULL,
  measurement VARCHAR NOT NULL, tags VARCHAR NOT NULL, field VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL);
CREATE TABLE IF NOT EXISTS rollup (series_id INTEGER NOT NULL, bucket_ms BIGINT NOT NULL, min DOUBLE NOT NULL,
  max DOUBLE NOT NULL, sum DOUBLE NOT NULL, count BIGINT NOT NULL, last DOUBLE NOT NULL, last_ms BIGINT NOT NULL);
`;

/** Per-bucket SQL over the unified source `src(t, mn, mx, s, c, l, lt)`. */
const AGGREGATE_SQL: Record<Aggregate, string> = {
  mean: "sum(s) / sum(c)",
  min: "min(mn)",
  max: "max(mx)",
  sum: "sum(s)",
  count: "sum(c)::DOUBLE",
  last: "arg_max(l, lt)",
};

/** Queued samples as parallel typed arrays: no object per sample. */
interface Batch {
  ids: Int32Array;
  ts: Float64Array;
  values: Float64Array;
  length: number;
  /** Series first seen in this batch; inserted before its points, in the same transaction. */
  newSeries: Array<{ id: number; info: SeriesInfo }>;
}

function newBatch(capacity = 4096): Batch {
  return { ids: new Int32Array(capacity), ts: new Float64Array(capacity), values: new Float64Array(capacity), length: 0, newSeries: [] };
}

/**
 * The field ids of one measurement + tags, kept per frozen tags object: producers that keep one
 * tags object per series (the line-protocol parser) get their ids by identity, without building
 * keys. `names`/`ids` hold the fields in the order the last point listed them, so a point shaped
 * like the previous one compares names (by reference: V8 interns property names) instead of
 * hashing them.
 */
interface FieldIds {
  measurement: string;
  names: string[];
  ids: number[];
  byName: Map<string, number>;
}

/** Cached store ids of one table of column heads ({@link PointColumns.heads}): typed arrays indexed by head id, no object per series. */
interface HeadTableIds {
  /** Per head id: 1 + the shape id whose ids sit at `offset`, or 0 (not cached). */
  shapeOf: Int32Array;
  offset: Int32Array;
  /** Fields in that shape. */
  width: Int32Array;
  /** Slots of the head's run in `flat`. */
  room: Int32Array;
  /** Store series ids, one run per head; 0 where the field has no series yet. */
  flat: Int32Array;
  used: number;
}

/** Ids a head table's cache holds before it starts over (16 MiB). */
const MAX_CACHED_IDS = 4 * 1024 * 1024;

function newHeadTableIds(): HeadTableIds {
  return { shapeOf: new Int32Array(1024), offset: new Int32Array(1024), width: new Int32Array(1024), room: new Int32Array(1024), flat: new Int32Array(8192), used: 0 };
}

function grown(a: Int32Array, need: number): Int32Array {
  if (need <= a.length) return a;
  const bigger = new Int32Array(Math.max(need, a.length * 2));
  bigger.set(a);
  return bigger;
}

function growHeads(t: HeadTableIds, need: number): void {
  if (need <= t.shapeOf.length) return;
  t.shapeOf = grown(t.shapeOf, need);
  t.offset = grown(t.offset, need);
  t.width = grown(t.width, need);
  t.room = grown(t.room, need);
}

function resetHeadTable(t: HeadTableIds): void {
  t.shapeOf.fill(0);
  t.used = 0;
}

/**
 * Appends `b` to the points table a data chunk (up to 2048 rows) at a time: a few native calls
 * per chunk instead of four per row, several times faster on the event loop.
 */
function appendBatch(app: DuckDBAppender, chunk: DuckDBDataChunk, b: Batch): void {
  const rowsPerChunk = DuckDBVector.standardSize();
  let lastTs = Number.NaN;
  let lastBig = 0n;
  for (let start = 0; start < b.length; start += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, b.length - start);
    // Setting the row count drops the chunk's cached vector wrappers; a chunk of the same size keeps them.
    if (chunk.rowCount !== n) chunk.rowCount = n;
    const ids = chunk.getColumnVector(0);
    const ts = chunk.getColumnVector(1);
    const values = chunk.getColumnVector(2);
    for (let i = 0; i < n; i++) {
      ids.setItem(i, b.ids[start + i] ?? 0);
      const t = b.ts[start + i] ?? 0;
      // The fields of one point share a time: one BigInt for the run.
      if (t !== lastTs) {
        lastTs = t;
        lastBig = BigInt(t);
      }
      ts.setItem(i, lastBig);
      values.setItem(i, b.values[start + i] ?? 0);
    }
    ids.flush();
    ts.flush();
    values.flush();
    app.appendDataChunk(chunk);
  }
}

/**
 * Appends the batch and closes the appender (its rows join the open transaction). On failure
 * nothing stays buffered: a collected appender flushes what it holds, outside the rolled-back
 * transaction, which would commit rows reported as dropped.
 */
function appendPoints(app: DuckDBAppender, chunk: DuckDBDataChunk, b: Batch): void {
  try {
    appendBatch(app, chunk, b);
    app.closeSync();
  } catch (err) {
    app.clear();
    throw err;
  }
}

function appendSeries(app: DuckDBAppender, series: Batch["newSeries"]): void {
  try {
    for (const { id, info } of series) {
      app.appendInteger(id);
      app.appendVarchar(info.key);
      app.appendVarchar(info.measurement);
      app.appendVarchar(JSON.stringify(info.tags));
      app.appendVarchar(info.field);
      app.endRow();
    }
    app.closeSync();
  } catch (err) {
    app.clear();
    throw err;
  }
}

/** Makes room for `n` more samples. */
function reserve(b: Batch, n: number): void {
  if (b.length + n <= b.ids.length) return;
  const cap = Math.max(b.ids.length * 2, b.length + n);
  const ids = new Int32Array(cap);
  ids.set(b.ids);
  const tsArr = new Float64Array(cap);
  tsArr.set(b.ts);
  const values = new Float64Array(cap);
  values.set(b.values);
  Object.assign(b, { ids, ts: tsArr, values });
}

function push(b: Batch, id: number, ts: number, value: number): void {
  reserve(b, 1);
  b.ids[b.length] = id;
  b.ts[b.length] = ts;
  b.values[b.length] = value;
  b.length++;
}

/**
 * DuckDB's file lock is per process: a second open of the same file in this process would
 * succeed and corrupt it, so open paths are tracked here.
 */
const openFiles = new Set<string>();

const METRIC_NAMES = [
  "ansai_store_points_written_total",
  "ansai_store_points_dropped_total",
  "ansai_store_flush_duration_seconds",
  "ansai_store_pending_points",
  "ansai_store_series",
];

interface Metrics {
  written: Counter;
  dropped: Counter<"reason">;
  flushSeconds: Histogram;
}

function makeMetrics(registry: Registry, pending: () => number, series: () => number): Metrics {
  const registers = [registry];
  // A reopened store replaces its metrics instead of failing on duplicate names.
  for (const name of METRIC_NAMES) registry.removeSingleMetric(name);
  new Gauge({ name: "ansai_store_pending_points", help: "Points queued and not yet durable.", registers, collect() { this.set(pending()); } });
  new Gauge({ name: "ansai_store_series", help: "Series known to the embedded store.", registers, collect() { this.set(series()); } });
  return {
    written: new Counter({ name: "ansai_store_points_written_total", help: "Points committed to the embedded store.", registers }),
    dropped: new Counter({ name: "ansai_store_points_dropped_total", help: "Field values not stored, by reason.", labelNames: ["reason"], registers }),
    flushSeconds: new Histogram({
      name: "ansai_store_flush_duration_seconds",
      help: "Time to commit one batch.",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}

async function openDatabase(file: string): Promise<{ instance: DuckDBInstance; con: DuckDBConnection }> {
  if (openFiles.has(file)) throw lockedError(file);
  let instance: DuckDBInstance;
  try {
    // Modest limits: the store shares the host it monitors.
    instance = await DuckDBInstance.create(file, { memory_limit: "512MB", threads: "2" });
  } catch (err) {
    if (/lock/i.test(String(err))) throw lockedError(file, err);
    throw new AnsaiError(
      ErrorCodes.STORE_UNAVAILABLE,
      `cannot open the embedded database ${file}: ${err instanceof Error ? err.message : String(err)}`,
      "check that the data dir is writable and the file is an ANSAI database, or set storage.data_dir to another directory",
      { cause: err },
    );
  }
  const con = await instance.connect();
  return { instance, con };
}

function lockedError(file: string, cause?: unknown): AnsaiError {
  return new AnsaiError(
    ErrorCodes.STORE_LOCKED,
    `the embedded database ${file} is locked by another process`,
    "another ANSAI is running with this data dir; stop it or set storage.data_dir",
    { cause },
  );
}

/**
 * Opens (or creates) the embedded DuckDB store at `<dataDir>/ansai.duckdb`.
 *
 * Durability: `write()` only queues; a flush commits the queue in one transaction to
 * DuckDB's write-ahead log, and committed data survives `kill -9` (checked by a crash test
 * that kills a writer three times on one file). A flush runs every `flushIntervalMs` and as
 * soon as `maxBatchPoints` are queued, so a crash loses at most the unflushed batch: about
 * `flushIntervalMs` of data (plus the duration of a flush in progress) or `maxBatchPoints`
 * points, whichever comes first. If the disk falls behind, the queue is capped at
 * 20 × `maxBatchPoints` and further writes are dropped and counted, never blocked.
 * `compact()` (first after 30 s, then every 10 minutes) checkpoints the log into the file.
 * Call `close()` on shutdown: it flushes the last batch.
 *
 * Raw points older than `retentionMs` are rolled up into `rollupStepMs` buckets
 * (min, max, sum, count, last) in the same transaction that deletes them, so each point is
 * counted exactly once; queries read both and merge them.
 *
 * @throws AnsaiError STORE_LOCKED when another process holds the file, STORE_UNAVAILABLE
 *   when it cannot be created or opened.
 */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const maxBatchPoints = opts.maxBatchPoints ?? 50_000;
  const retentionMs = opts.retentionMs ?? 14 * DAY_MS;
  const rollupStepMs = opts.rollupStepMs ?? 5 * 60_000;
  const rollupRetentionMs = opts.rollupRetentionMs ?? 365 * DAY_MS;
  const log = opts.log.child({ store: "embedded" });
  const file = path.resolve(opts.dataDir, "ansai.duckdb");

  try {
    await mkdir(opts.dataDir, { recursive: true });
  } catch (err) {
    throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `cannot create the data dir ${opts.dataDir}: ${String(err)}`,
      "create it with write permission for ANSAI, or set storage.data_dir", { cause: err });
  }
  const { instance, con } = await openDatabase(file);
  openFiles.add(file);

  const ids = new Map<string, number>();
  const idsByTags = new WeakMap<object, FieldIds>();
  // Per table of column heads: each head's FieldIds by head id, an array index instead of a WeakMap lookup per point.
  const idsByHeadTable = new WeakMap<object, HeadTableIds>();
  const infos: SeriesInfo[] = [];
  let nextId = 1;
  try {
    await con.run(SCHEMA);
    const rows = (await con.runAndReadAll("SELECT id, key, measurement, tags, field FROM series ORDER BY id")).getRows();
    for (const [id, key, measurement, tags, field] of rows) {
      const info: SeriesInfo = { key: String(key), measurement: String(measurement), tags: JSON.parse(String(tags)) as Record<string, string>, field: String(field) };
      ids.set(info.key, Number(id));
      infos.push(info);
      nextId = Math.max(nextId, Number(id) + 1);
    }
  } catch (err) {
    con.closeSync();
    instance.closeSync();
    openFiles.delete(file);
    throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `cannot read the embedded database ${file}: ${String(err)}`,
      "move the file aside to start empty, or set storage.data_dir", { cause: err });
  }
  log.info({ file, series: ids.size }, "embedded store opened");

  // Batches start at a flush's size and are reused, so a busy writer does not regrow one per flush.
  const batchCapacity = Math.min(maxBatchPoints + 4096, 1 << 20);
  let batch = newBatch(batchCapacity);
  const spares: Batch[] = [];
  const chunk = DuckDBDataChunk.create([INTEGER, BIGINT, DOUBLE]);
  let fullFlushQueued = false;
  let closed: Promise<void> | undefined;
  let pendingCount = 0;
  const metrics = opts.registry ? makeMetrics(opts.registry, () => pendingCount, () => ids.size) : undefined;
  // Accepted points lost (not input rejected): what the store_points_dropped alert watches.
  const lost: Record<string, number> = {};
  const drop = (reason: string, n = 1): void => {
    metrics?.dropped.inc({ reason }, n);
    if (reason === "queue_full" || reason === "flush_failed") lost[reason] = (lost[reason] ?? 0) + n;
  };

  // Every database operation runs through this chain: DuckDB connections are not for concurrent use,
  // and it keeps flushes strictly one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  }

  function intern(measurement: string, tags: Readonly<Record<string, string>>, field: string, prefix: string): number {
    // The prefix is `seriesKey(m, tags, "")`; fields that need no escaping append directly.
    const key = /[\\,= ]/.test(field) ? seriesKey(measurement, tags, field) : prefix + field;
    let id = ids.get(key);
    if (id === undefined) {
      id = nextId++;
      // Copies: the strings may be slices of a request body, which the catalogue must not keep alive.
      // (Property names need no copy: V8 keeps them in its own string table.)
      const ownTags = Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, ownString(v)]));
      const info: SeriesInfo = { key: ownString(key), measurement: ownString(measurement), tags: ownTags, field: ownString(field) };
      ids.set(info.key, id);
      infos.push(info);
      batch.newSeries.push({ id, info });
    }
    return id;
  }

  /**
   * The field ids of a point's series when its tags object is frozen (so cannot change under the
   * cache). One measurement per tags object, as the parser gives them; other pairings get no cache.
   */
  function cachedIds(measurement: string, tags: Readonly<Record<string, string>>): FieldIds | undefined {
    if (!Object.isFrozen(tags)) return undefined;
    const known = idsByTags.get(tags);
    if (known !== undefined) return known.measurement === measurement ? known : undefined;
    const fresh: FieldIds = { measurement: ownString(measurement), names: [], ids: [], byName: new Map() };
    idsByTags.set(tags, fresh);
    return fresh;
  }

  function remember(known: FieldIds, position: number, field: string, id: number): void {
    // `field` comes from for-in: a property name, which V8 keeps as its own copy, never a slice of a body.
    known.byName.set(field, id);
    known.names[position] = field;
    known.ids[position] = id;
  }

  function write(points: readonly Point[]): void {
    if (closed) {
      drop("closed", points.length);
      return;
    }
    for (const p of points) {
      if (!Number.isFinite(p.timeMs)) {
        drop("invalid_time");
        continue;
      }
      const known = cachedIds(p.measurement, p.tags);
      let prefix: string | undefined;
      const ts = Math.trunc(p.timeMs);
      let position = -1;
      for (const field in p.fields) {
        position++;
        const raw = p.fields[field];
        if (typeof raw === "string" || raw === undefined) {
          drop("non_numeric");
          continue;
        }
        const value = typeof raw === "boolean" ? Number(raw) : raw;
        if (!Number.isFinite(value)) {
          drop("not_finite");
          continue;
        }
        if (pendingCount >= maxBatchPoints * MAX_QUEUED_BATCHES) {
          drop("queue_full");
          continue;
        }
        let id = known?.names[position] === field ? known.ids[position] : undefined;
        if (id === undefined) {
          id = known?.byName.get(field);
          if (id === undefined) {
            prefix ??= seriesKey(p.measurement, p.tags, "");
            id = intern(p.measurement, p.tags, field, prefix);
          }
          if (known !== undefined) remember(known, position, field, id);
        }
        push(batch, id, ts, value);
        pendingCount++;
      }
    }
    if (batch.length >= maxBatchPoints && !fullFlushQueued) {
      fullFlushQueued = true;
      flush().catch(() => undefined); // logged inside
    }
  }

  /** The id cache of one table of column heads, made on first use. */
  function headTable(heads: object): HeadTableIds {
    let t = idsByHeadTable.get(heads);
    if (t === undefined) {
      t = newHeadTableIds();
      idsByHeadTable.set(heads, t);
    }
    return t;
  }

  /** Sets head `h`'s run in `t` for shape `s` (the store ids known so far, 0 for the rest); returns its offset. */
  function learnHead(t: HeadTableIds, c: PointColumns, h: number, s: number): number {
    const names = c.fieldNames[s] as readonly string[];
    const head = c.heads[h] as ColumnHead;
    const known = cachedIds(head.measurement, head.tags);
    growHeads(t, h + 1);
    let off = t.offset[h] as number;
    if (t.shapeOf[h] === 0 || (t.room[h] as number) < names.length) {
      if (t.used + names.length > MAX_CACHED_IDS) resetHeadTable(t);
      off = t.used;
      t.used += names.length;
      if (t.used > t.flat.length) t.flat = grown(t.flat, t.used);
      t.room[h] = names.length;
    }
    for (let j = 0; j < names.length; j++) t.flat[off + j] = known?.byName.get(names[j] as string) ?? 0;
    t.shapeOf[h] = s + 1;
    t.offset[h] = off;
    t.width[h] = names.length;
    return off;
  }

  /** Interns field `j` of point `i`'s series (the first value stored for it) and caches its id. */
  function internColumn(t: HeadTableIds, c: PointColumns, i: number, at: number, j: number): number {
    const head = c.heads[c.headIds[i] as number] as ColumnHead;
    const field = (c.fieldNames[c.shapeIds[i] as number] as readonly string[])[j] as string;
    const id = intern(head.measurement, head.tags, field, seriesKey(head.measurement, head.tags, ""));
    cachedIds(head.measurement, head.tags)?.byName.set(field, id);
    t.flat[at] = id;
    return id;
  }

  /** Drops a sample that `write` would drop, with the same reason; else its value. */
  function sampleValue(raw: number, other: string | boolean | undefined): number | undefined {
    if (typeof other === "string") {
      drop("non_numeric");
      return undefined;
    }
    const value = other === undefined ? raw : Number(other);
    if (!Number.isFinite(value)) {
      drop("not_finite");
      return undefined;
    }
    if (pendingCount >= maxBatchPoints * MAX_QUEUED_BATCHES) {
      drop("queue_full");
      return undefined;
    }
    return value;
  }

  function writeColumns(c: PointColumns): void {
    if (closed) {
      drop("closed", c.count);
      return;
    }
    const { values, others, headIds, shapeIds, timesMs } = c;
    const t = headTable(c.heads);
    const queueLimit = maxBatchPoints * MAX_QUEUED_BATCHES;
    let v = 0;
    let other = 0;
    let nextOther = others.length > 0 ? (others[0] as readonly [number, string | boolean])[0] : -1;
    for (let i = 0; i < c.count; i++) {
      const h = headIds[i] as number;
      const s = shapeIds[i] as number;
      const off = h < t.shapeOf.length && t.shapeOf[h] === s + 1 ? (t.offset[h] as number) : learnHead(t, c, h, s);
      const n = t.width[h] as number;
      const timeMs = timesMs[i] as number;
      if (!Number.isFinite(timeMs)) {
        drop("invalid_time");
        // Skip this point's values, and the strings and booleans among them.
        v += n;
        while (nextOther !== -1 && nextOther < v) nextOther = ++other < others.length ? (others[other] as readonly [number, string | boolean])[0] : -1;
        continue;
      }
      const ts = Math.trunc(timeMs);
      reserve(batch, n);
      const b = batch;
      // Plain numbers and room in the queue (the usual case): no check per value but finiteness.
      const plain = pendingCount + n < queueLimit && (nextOther === -1 || nextOther >= v + n);
      for (let j = 0; j < n; j++, v++) {
        let value: number | undefined = values[v] as number;
        if (!plain) {
          if (v === nextOther) {
            value = sampleValue(value, (others[other] as readonly [number, string | boolean])[1]);
            nextOther = ++other < others.length ? (others[other] as readonly [number, string | boolean])[0] : -1;
          } else value = sampleValue(value, undefined);
          if (value === undefined) continue;
        } else if (!Number.isFinite(value)) {
          drop("not_finite");
          continue;
        }
        let id = t.flat[off + j] as number;
        if (id === 0) id = internColumn(t, c, i, off + j, j);
        b.ids[b.length] = id;
        b.ts[b.length] = ts;
        b.values[b.length] = value;
        b.length++;
        pendingCount++;
      }
    }
    if (batch.length >= maxBatchPoints && !fullFlushQueued) {
      fullFlushQueued = true;
      flush().catch(() => undefined); // logged inside
    }
  }

  /** Commits the current batch; called only inside `exclusive`. */
  async function flushNow(): Promise<void> {
    fullFlushQueued = false;
    const b = batch;
    if (b.length === 0 && b.newSeries.length === 0) return;
    batch = spares.pop() ?? newBatch(batchCapacity);
    const started = performance.now();
    try {
      await con.run("BEGIN TRANSACTION");
      if (b.newSeries.length > 0) appendSeries(await con.createAppender("series"), b.newSeries);
      appendPoints(await con.createAppender("points"), chunk, b);
      await con.run("COMMIT");
      metrics?.written.inc(b.length);
      metrics?.flushSeconds.observe((performance.now() - started) / 1000);
    } catch (err) {
      await con.run("ROLLBACK").catch(() => undefined);
      // The points are lost, but the series stay interned in memory, so insert them with the next batch.
      batch.newSeries.unshift(...b.newSeries);
      drop("flush_failed", b.length);
      log.error({ err, points: b.length }, "flush to the embedded database failed; points dropped");
      throw new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `flush to ${file} failed: ${String(err)}`,
        "check free disk space and permissions on the data dir", { cause: err });
    } finally {
      pendingCount -= b.length;
      b.length = 0;
      b.newSeries = [];
      if (spares.length < 2) spares.push(b);
    }
  }

  function flush(): Promise<void> {
    if (closed) return closed;
    return exclusive(flushNow);
  }

  async function compactNow(nowMs: number): Promise<void> {
    await flushNow();
    // Whole rollup buckets only, so a bucket is rolled up in one go unless points arrive late.
    const cutoffMs = Math.floor((nowMs - retentionMs) / rollupStepMs) * rollupStepMs;
    const started = performance.now();
    await con.run("BEGIN TRANSACTION");
    try {
      await con.run(
        `INSERT INTO rollup SELECT series_id, (ts // $step) * $step, min(value), max(value), sum(value), count(*),
           arg_max(value, ts), max(ts) FROM points WHERE ts < $cutoff GROUP BY ALL`,
        { cutoff: BigInt(cutoffMs), step: BigInt(rollupStepMs) },
        { cutoff: BIGINT, step: BIGINT },
      );
      await con.run("DELETE FROM points WHERE ts < $cutoff", { cutoff: BigInt(cutoffMs) }, { cutoff: BIGINT });
      const rollupCutoff = BigInt(Math.trunc(nowMs - rollupRetentionMs));
      await con.run("DELETE FROM rollup WHERE bucket_ms < $cutoff", { cutoff: rollupCutoff }, { cutoff: BIGINT });
      await con.run("COMMIT");
    } catch (err) {
      await con.run("ROLLBACK").catch(() => undefined);
      throw err;
    }
    await con.run("CHECKPOINT");
    log.debug({ cutoffMs, ms: Math.round(performance.now() - started) }, "compacted");
  }

  function compact(nowMs?: number): Promise<void> {
    if (closed) return Promise.reject(closedError());
    return exclusive(() => compactNow(nowMs ?? opts.clock.nowMs()));
  }

  function closedError(): AnsaiError {
    return new AnsaiError(ErrorCodes.STORE_UNAVAILABLE, `the embedded store ${file} is closed`, "open the store again before using it");
  }

  async function query(q: RangeQuery): Promise<Samples> {
    if (!(q.stepMs > 0) || !Number.isFinite(q.startMs) || !Number.isFinite(q.endMs) || q.endMs < q.startMs || !(q.aggregate in AGGREGATE_SQL)) {
      throw new AnsaiError(ErrorCodes.QUERY_INVALID, `invalid range query ${JSON.stringify(q)}`,
        "give startMs <= endMs, stepMs > 0 and aggregate one of mean|min|max|last|count|sum");
    }
    if (closed) throw closedError();
    const id = ids.get(q.series);
    if (id === undefined) return [];
    const step = Math.max(1, Math.trunc(q.stepMs));
    const start = Math.trunc(q.startMs);
    // Raw points and rollup rows hold disjoint data (a point moves to the rollup as it is deleted), so merging both is exact.
    const sql = `WITH src AS (
        SELECT ts AS t, value AS mn, value AS mx, value AS s, 1::BIGINT AS c, value AS l, ts AS lt
          FROM points WHERE series_id = $id AND ts >= $start AND ts < $end
        UNION ALL
        SELECT greatest(bucket_ms, $start), min, max, sum, count, last, last_ms
          FROM rollup WHERE series_id = $id AND bucket_ms > $start - $rollupStep AND bucket_ms < $end)
      SELECT (t // $step) * $step AS b, ${AGGREGATE_SQL[q.aggregate]} FROM src GROUP BY b ORDER BY b`;
    const rows = await exclusive(async () => {
      await flushNow();
      const reader = await con.runAndReadAll(
        sql,
        { id, start: BigInt(start), end: BigInt(Math.trunc(q.endMs)), step: BigInt(step), rollupStep: BigInt(rollupStepMs) },
        { id: INTEGER, start: BIGINT, end: BIGINT, step: BIGINT, rollupStep: BIGINT },
      );
      return reader.getRows();
    });
    return rows.map(([b, v]) => [Number(b), Number(v)]);
  }

  async function listSeries(filter: SeriesFilter): Promise<SeriesInfo[]> {
    const out: SeriesInfo[] = [];
    const limit = filter.limit ?? Infinity;
    const tagEntries = Object.entries(filter.tags ?? {});
    for (const info of infos) {
      if (out.length >= limit) break;
      if (filter.measurement !== undefined && info.measurement !== filter.measurement) continue;
      if (filter.field !== undefined && info.field !== filter.field) continue;
      if (tagEntries.some(([k, v]) => info.tags[k] !== v)) continue;
      out.push(info);
    }
    return out;
  }

  /** Runs one read after flushing the queue, so a query sees every point written before it. */
  async function readRows(sql: Sql): Promise<unknown[][]> {
    if (closed) throw closedError();
    return exclusive(async () => {
      await flushNow();
      return (await con.runAndReadAll(sql.text, sql.values, sql.types)).getRows();
    });
  }

  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const str = (v: unknown): string => (v === null || v === undefined ? "" : String(v));

  const selectReads: SelectReads = {
    async aggregate(spec) {
      const rows = await readRows(aggregateSql(spec, rollupStepMs));
      const nTags = spec.groupTags.length;
      return rows.map((r): AggregateRow => ({
        tags: r.slice(0, nTags).map(str),
        bucketMs: Number(r[nTags]),
        values: r.slice(nTags + 1, nTags + 1 + spec.calls.length).map(num),
        selectedMs: num(r[nTags + 1 + spec.calls.length]),
      }));
    },
    async raw(spec) {
      const rows = await readRows(rawSql(spec));
      if (rows.length > spec.maxRows) {
        throw new AnsaiError(ErrorCodes.QUERY_INVALID, `max-select-point limit exceeded: (more than ${spec.maxRows} rows)`,
          "narrow the time range, add LIMIT, or aggregate with GROUP BY time()");
      }
      const nTags = spec.groupTags.length;
      return rows.map((r): RawRow => ({ tags: r.slice(0, nTags).map(str), timeMs: Number(r[nTags]), values: r.slice(nTags + 1).map(num) }));
    },
    async measurements(match, where) {
      return (await readRows(measurementsSql(match, where))).map((r) => str(r[0]));
    },
    async tagKeys(measurement, where) {
      return (await readRows(tagKeysSql(measurement, where))).map((r) => [str(r[0]), str(r[1])]);
    },
    async tagValues(measurement, key, where) {
      return (await readRows(tagValuesSql(measurement, key, where))).map((r) => [str(r[0]), str(r[1]), str(r[2])]);
    },
    async fieldKeys(measurement) {
      return (await readRows(fieldKeysSql(measurement))).map((r) => [str(r[0]), str(r[1])]);
    },
    async regexError(source) {
      try {
        await readRows(regexCheckSql(source));
        return undefined;
      } catch (err) {
        if (err instanceof AnsaiError) throw err;
        return (err instanceof Error ? err.message : String(err)).replace(/^Invalid Input Error: /, "");
      }
    },
  };

  async function fileBytes(): Promise<number> {
    let total = 0;
    for (const f of [file, `${file}.wal`]) total += await stat(f).then((s) => s.size, () => 0);
    return total;
  }

  async function stats(): Promise<EmbeddedStoreStats> {
    if (closed) throw closedError();
    const [points, rollupRows] = await exclusive(async () => {
      await flushNow();
      const reader = await con.runAndReadAll("SELECT (SELECT count(*) FROM points), (SELECT count(*) FROM rollup)");
      return (reader.getRows()[0] ?? [0, 0]).map(Number);
    });
    return { series: ids.size, points: points ?? 0, rollupRows: rollupRows ?? 0, fileBytes: await fileBytes() };
  }

  const runCompact = (): void => {
    compact().catch((err: unknown) => log.error({ err }, "scheduled compaction failed"));
  };
  const flushTimer = setInterval(() => {
    if (batch.length > 0 || batch.newSeries.length > 0) flush().catch(() => undefined); // logged inside
  }, flushIntervalMs);
  flushTimer.unref();
  const firstCompactTimer = setTimeout(runCompact, Math.min(FIRST_COMPACT_DELAY_MS, COMPACT_INTERVAL_MS));
  firstCompactTimer.unref();
  const compactTimer = setInterval(runCompact, COMPACT_INTERVAL_MS);
  compactTimer.unref();

  function close(): Promise<void> {
    if (closed) return closed;
    clearInterval(flushTimer);
    clearTimeout(firstCompactTimer);
    clearInterval(compactTimer);
    const done = exclusive(flushNow).catch((err: unknown) => log.error({ err }, "final flush failed"));
    closed = done.then(() => {
      con.closeSync();
      instance.closeSync();
      openFiles.delete(file);
      log.info({ file }, "embedded store closed");
    });
    return closed;
  }

  return { write, writeColumns, flush, query, listSeries, pendingPoints: () => pendingCount, droppedPoints: () => ({ ...lost }), close, stats, compact, ...selectReads };
}
