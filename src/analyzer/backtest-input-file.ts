import { createReadStream, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { PointColumns } from "../core/columns.js";
import { AnsaiError, ErrorCodes, type ErrorCode } from "../core/errors.js";
import type { SeriesInfo } from "../core/point.js";
import { csvSeries, csvTables, readSampleBatches, type CsvTables, type EpochPrecision, type InputFormat, type ReadOptions, type SampleBatch } from "./backtest-input.js";

/**
 * Reading `ansai backtest` input files. A large CSV is read and parsed in a worker thread (the
 * same parser, see backtest-input-worker.ts), so the calling thread only replays; its batches
 * arrive as transferred typed arrays, a few at most ahead of the consumer. Everything else
 * (small files, line protocol) is read on the calling thread.
 */

/** Files from this size up are parsed in a worker: below it (measured), starting one (~40 ms) costs more than it saves. */
export const DEFAULT_WORKER_MIN_BYTES = 8 << 20;
/** Bytes per read, and so per batch, in the worker. */
export const DEFAULT_WORKER_CHUNK_BYTES = 1 << 20;
/** Batches the worker may have parsed before the consumer took them. */
export const DEFAULT_WORKER_BATCHES_AHEAD = 4;
/** Bytes per read on the calling thread: small batches keep the replay's memory low. */
const IN_PROCESS_CHUNK_BYTES = 1 << 16;

export interface FileReadOptions extends ReadOptions {
  /** CSV files of at least this many bytes are parsed in a worker thread; default 8 MiB (Infinity: never, 0: always). */
  workerMinBytes?: number;
  /** Bytes per read (and per batch) in the worker; default 1 MiB. */
  workerChunkBytes?: number;
  /** Batches the worker may parse ahead of the consumer; default 4. */
  workerBatchesAhead?: number;
  /** Called with the bytes of the file read so far, before each batch is yielded (for progress). */
  onBytesRead?: (bytes: number) => void;
}

/**
 * The batches of an input file, as `readSampleBatches` gives them for the file's text: the same
 * samples in the same order (in bigger batches from the worker), the same errors after the
 * samples before them. A consumer that stops early (`break`, `return()`) stops the worker too.
 */
export async function* readFileBatches(path: string, opts: FileReadOptions): AsyncGenerator<SampleBatch> {
  const sizeBytes = fileSize(path);
  if (sizeBytes === undefined || sizeBytes < (opts.workerMinBytes ?? DEFAULT_WORKER_MIN_BYTES)) {
    yield* readInProcess(path, opts);
    return;
  }
  yield* readInWorker(path, opts);
}

/** UTF-8 text chunks of a byte stream (multi-byte characters split across chunks stay whole); a read error is ANSAI_BACKTEST_INVALID. */
export async function* textChunks(stream: Readable, name: string): AsyncGenerator<string> {
  stream.setEncoding("utf8");
  try {
    for await (const chunk of stream) yield chunk as string;
  } catch (err) {
    throw new AnsaiError(ErrorCodes.BACKTEST_INVALID, `cannot read --input ${name}: ${(err as Error).message}`, "Check the file and its permissions.", { cause: err });
  }
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined; // reading it says why
  }
}

async function* readInProcess(path: string, opts: FileReadOptions): AsyncGenerator<SampleBatch> {
  const stream = createReadStream(path, { highWaterMark: IN_PROCESS_CHUNK_BYTES });
  try {
    for await (const batch of readSampleBatches(textChunks(stream, opts.name), opts)) {
      opts.onBytesRead?.(stream.bytesRead);
      yield batch;
    }
  } finally {
    stream.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Worker protocol

/** What the worker is started with. */
export interface InputWorkerData {
  path: string;
  name: string;
  series: SeriesInfo | undefined;
  precision: EpochPrecision | undefined;
  chunkBytes: number;
  /** Batches it may send before the main thread returns credit. */
  credits: number;
}

/** Worker → main thread, in this order: format (unless the input is empty), batches, then end or error. */
export type InputWorkerMessage =
  | { type: "format"; format: InputFormat }
  | { type: "batch"; count: number; ids: Int32Array; timesMs: Float64Array; values: Float64Array; bytesRead: number }
  | { type: "error"; code: ErrorCode | undefined; message: string; hint: string; stack: string | undefined }
  | { type: "end" };

/** Main thread → worker: the consumer took `credits` more batches. */
export interface InputWorkerCredit {
  credits: number;
}

/** What the main thread hears from the worker: its messages, a crash, or its exit. */
type WorkerEvent = InputWorkerMessage | { type: "crash"; error: Error } | { type: "exit"; exitCode: number };

async function* readInWorker(path: string, opts: FileReadOptions): AsyncGenerator<SampleBatch> {
  const notCsv = yield* workerBatches(path, opts);
  // Line protocol is read here, from the start: the worker only parses CSV.
  if (notCsv) yield* readInProcess(path, opts);
}

/** The worker's batches; returns true, having yielded nothing, when the input is not CSV. */
async function* workerBatches(path: string, opts: FileReadOptions): AsyncGenerator<PointColumns, boolean> {
  const data: InputWorkerData = {
    path,
    name: opts.name,
    series: opts.series,
    precision: opts.precision,
    chunkBytes: opts.workerChunkBytes ?? DEFAULT_WORKER_CHUNK_BYTES,
    credits: Math.max(1, Math.floor(opts.workerBatchesAhead ?? DEFAULT_WORKER_BATCHES_AHEAD) || DEFAULT_WORKER_BATCHES_AHEAD),
  };
  const worker = spawnInputWorker(data);
  const events = eventQueue(worker);
  let tables: CsvTables | undefined;
  try {
    for (;;) {
      const event = await events.next();
      switch (event.type) {
        case "end":
          return false;
        case "format":
          if (event.format !== "csv") return true;
          opts.onFormat?.("csv");
          break;
        case "batch":
          tables ??= csvTables(csvSeries(opts));
          opts.onBytesRead?.(event.bytesRead);
          yield columnsOf(event, tables);
          worker.postMessage({ credits: 1 } satisfies InputWorkerCredit);
          break;
        default:
          throw workerError(event, opts.name);
      }
    }
  } finally {
    await worker.terminate();
  }
}

function columnsOf(batch: Extract<InputWorkerMessage, { type: "batch" }>, tables: CsvTables): PointColumns {
  const { count, ids, timesMs, values } = batch;
  return { count, heads: tables.heads, fieldNames: tables.fieldNames, headIds: ids, shapeIds: ids, timesMs, values, others: [] };
}

/** The error a worker's error message, crash or early exit stands for: the reader's own AnsaiError when it threw one. */
function workerError(event: Exclude<WorkerEvent, { type: "format" | "batch" | "end" }>, name: string): Error {
  if (event.type === "error") {
    if (event.code !== undefined) return new AnsaiError(event.code, event.message, event.hint);
    return Object.assign(new Error(`reading --input ${name} failed in its worker thread: ${event.message}`), event.stack ? { stack: event.stack } : {});
  }
  if (event.type === "crash") return new Error(`the worker thread reading --input ${name} crashed: ${event.error.message}`, { cause: event.error });
  return new Error(`the worker thread reading --input ${name} stopped (exit code ${event.exitCode}) before the end of the input`);
}

/**
 * The worker's events in order. The worker keeps the process alive only while the consumer
 * waits for it: a generator dropped without `return()` does not hang the process.
 */
function eventQueue(worker: Worker): { next(): Promise<WorkerEvent> } {
  const queue: WorkerEvent[] = [];
  let wake: (() => void) | undefined;
  const push = (event: WorkerEvent): void => {
    queue.push(event);
    wake?.();
  };
  // Listeners stay to the end: an 'error' event without one would throw.
  worker.on("message", (m: InputWorkerMessage) => push(m));
  worker.on("error", (error: Error) => push({ type: "crash", error }));
  worker.on("exit", (exitCode: number) => push({ type: "exit", exitCode }));
  worker.unref();
  return {
    async next() {
      // A turn of the event loop per event: Node delivers a port's waiting messages in one go,
      // so a worker that is always ahead would starve timers (the progress bar) and I/O.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (queue.length === 0) {
        worker.ref();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        worker.unref();
      }
      return queue.shift() as WorkerEvent;
    },
  };
}

/**
 * The worker's entry beside this module: the compiled `.js`, or from source (tests, tsx) the
 * `.ts` through tsx's loader, registered inside the worker because workers do not inherit it.
 */
function spawnInputWorker(workerData: InputWorkerData): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./backtest-input-worker.js", import.meta.url), { workerData });
  const entry = new URL("./backtest-input-worker.ts", import.meta.url).href;
  return new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData });
}
