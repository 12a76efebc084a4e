import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { PointColumns } from "../../core/columns.js";
import type { Point } from "../../core/point.js";
import { createBatchDecoder, decodeBatch, decodeColumns, learnBatch, type BatchDecoder, type ColumnarBatch, type ParseJob, type ParseReply, type SharedHeads } from "./columnar.js";
import {
  createSeriesCache,
  DEFAULT_SERIES_CACHE_ENTRIES,
  parseLineProtocol,
  type LineError,
  type LineProtocolLimits,
  type ParseResult,
  type Precision,
} from "./line-protocol.js";

/** How a {@link LineProtocolParser} spreads parsing over threads. */
export interface ParsePoolOptions {
  /** Worker threads (started on first use); 0 parses on the calling thread. Default: cores − 1, at most 4. */
  workers?: number;
  /** Bodies below this many bytes are parsed on the calling thread, where a small parse costs less than a round trip. Default 32 KiB. */
  minWorkerBytes?: number;
}

export interface BodyParseOptions {
  precision: Precision;
  /** Time given to points without a timestamp (ms). */
  defaultTimeMs: number;
  limits?: Partial<LineProtocolLimits>;
}

/**
 * Parses line-protocol bodies exactly as {@link parseLineProtocol} does (same points, same errors
 * with line and column), large ones in worker threads: the main thread only rebuilds points from
 * typed arrays. Points of one series share one measurement string and one frozen tags object
 * across calls. Rejects only when a worker fails (crash, close): nothing of that body was kept.
 */
export interface LineProtocolParser {
  parse(body: Buffer, opts: BodyParseOptions): Promise<ParseResult>;
  /**
   * The same parse, but a body parsed by a worker comes back as columns (no point rebuilt);
   * one parsed on the calling thread comes back as points. Optional: parsers without it are
   * asked for points.
   */
  parseColumns?(body: Buffer, opts: BodyParseOptions): Promise<ParsedBody>;
  /** Stops the workers; parses still running reject. */
  close(): Promise<void>;
}

/** A parsed body: points (parsed on the calling thread) or columns (parsed by a worker); errors with line and column either way. */
export type ParsedBody =
  | { kind: "points"; points: Point[]; errors: LineError[] }
  | { kind: "columns"; columns: PointColumns; errors: LineError[] };

export const DEFAULT_MIN_WORKER_BYTES = 32 * 1024;

/** Workers that fit beside the main thread: one core is left to it. */
export function defaultParseWorkers(): number {
  return Math.min(4, Math.max(0, availableParallelism() - 1));
}

interface Pending {
  /** Gets the batch itself; decodes it as the caller asked. */
  resolve(batch: ColumnarBatch): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  decoder: BatchDecoder;
}

/** Young generation per worker (MB): parsing makes short-lived garbage; a larger nursery collects it less often. */
const WORKER_YOUNG_GENERATION_MB = 48;

/**
 * The worker's entry beside this module: the compiled `.js`, or from source (tests) the `.ts`
 * through tsx's loader, registered inside the worker because workers do not inherit it.
 */
function spawnWorker(): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  const fromSource = import.meta.url.endsWith(".ts");
  const worker = fromSource
    ? new Worker(
        `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL("./parse-worker.ts", import.meta.url).href)}); });`,
        { eval: true, resourceLimits },
      )
    : new Worker(new URL("./parse-worker.js", import.meta.url), { resourceLimits });
  // Idle workers never keep the process alive.
  worker.unref();
  return worker;
}

/** A body's bytes as a worker can take them: its own memory moves, a slice of a shared pool is copied. */
function transferable(body: Buffer): Uint8Array {
  const ownsMemory = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
  return ownsMemory ? new Uint8Array(body.buffer, 0, body.byteLength) : new Uint8Array(body);
}

/** A {@link LineProtocolParser} with up to `workers` threads. */
export function createParsePool(opts: ParsePoolOptions = {}): LineProtocolParser {
  const maxWorkers = opts.workers ?? defaultParseWorkers();
  const minWorkerBytes = opts.minWorkerBytes ?? DEFAULT_MIN_WORKER_BYTES;
  const seriesCache = createSeriesCache();
  const shared: SharedHeads = { byKey: new Map(), maxEntries: DEFAULT_SERIES_CACHE_ENTRIES };
  const slots: Slot[] = [];
  let nextJobId = 1;
  let closed = false;

  const failAll = (slot: Slot, err: Error): void => {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  };

  const onReply = (slot: Slot, reply: ParseReply): void => {
    const jobId = reply.ok ? reply.batch.jobId : reply.jobId;
    const pending = slot.pending.get(jobId);
    slot.pending.delete(jobId);
    if (slot.pending.size === 0) slot.worker.unref();
    if (!reply.ok) {
      pending?.reject(new Error(`line-protocol parse worker failed: ${reply.message}`));
      return;
    }
    // Learnt even without a waiter: the batch may teach heads that later batches name by id.
    if (pending === undefined) learnBatch(slot.decoder, shared, reply.batch);
    else pending.resolve(reply.batch);
  };

  const addSlot = (): Slot => {
    const slot: Slot = { worker: spawnWorker(), pending: new Map(), decoder: createBatchDecoder() };
    slot.worker.on("message", (reply: ParseReply) => onReply(slot, reply));
    slot.worker.on("error", (err) => failAll(slot, err));
    slot.worker.on("exit", (code) => failAll(slot, new Error(`line-protocol parse worker exited with code ${code}`)));
    slots.push(slot);
    return slot;
  };

  /** The idlest worker, starting another while every running one is busy. */
  const pick = (): Slot => {
    let best: Slot | undefined;
    for (const s of slots) if (best === undefined || s.pending.size < best.pending.size) best = s;
    if (best !== undefined && (best.pending.size === 0 || slots.length >= maxWorkers)) return best;
    return addSlot();
  };

  /** Sends the body to a worker; `decode` turns its batch into the answer, on this thread, in reply order. */
  const inWorker = <T>(body: Buffer, parseOpts: BodyParseOptions, decode: (decoder: BatchDecoder, batch: ColumnarBatch) => T): Promise<T> => {
    const slot = pick();
    const jobId = nextJobId++;
    const bytes = transferable(body);
    const job: ParseJob = { jobId, body: bytes, precision: parseOpts.precision, defaultTimeMs: parseOpts.defaultTimeMs, limits: parseOpts.limits ?? {} };
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(jobId, { resolve: (batch) => resolve(decode(slot.decoder, batch)), reject });
      slot.worker.ref();
      slot.worker.postMessage(job, [bytes.buffer as ArrayBuffer]);
    });
  };
  const inline = (body: Buffer): boolean => closed || maxWorkers === 0 || body.length < minWorkerBytes;

  return {
    parse(body, parseOpts) {
      if (inline(body)) return Promise.resolve(parseLineProtocol(body.toString("utf8"), { ...parseOpts, seriesCache }));
      return inWorker(body, parseOpts, (decoder, batch): ParseResult => ({ points: decodeBatch(decoder, shared, batch), errors: batch.errors }));
    },
    parseColumns(body, parseOpts) {
      if (inline(body)) {
        const { points, errors } = parseLineProtocol(body.toString("utf8"), { ...parseOpts, seriesCache });
        return Promise.resolve({ kind: "points", points, errors });
      }
      return inWorker(body, parseOpts, (decoder, batch): ParsedBody => ({ kind: "columns", columns: decodeColumns(decoder, shared, batch), errors: batch.errors }));
    },
    async close() {
      closed = true;
      const stopping = slots.splice(0);
      for (const slot of stopping) failAll(slot, new Error("line-protocol parse pool closed"));
      await Promise.all(stopping.map((s) => s.worker.terminate()));
    },
  };
}
