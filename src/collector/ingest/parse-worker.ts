// Worker-thread entry of the line-protocol parse pool (see parse-pool.ts): parses request bodies
// into columnar batches, so parsing runs beside the main thread instead of on it.
import { parentPort } from "node:worker_threads";
import { createBatchEncoder, type ParseJob, type ParseReply } from "./columnar.js";
import { createFastLinesState, parseColumnar } from "./fast-lines.js";
import { DEFAULT_LINE_PROTOCOL_LIMITS, DEFAULT_SERIES_CACHE_ENTRIES } from "./line-protocol.js";

const port = parentPort;
if (port === null) throw new Error("parse-worker.js runs only as a worker thread");
const state = createFastLinesState(createBatchEncoder(2 * DEFAULT_SERIES_CACHE_ENTRIES));

port.on("message", (job: ParseJob) => {
  let reply: ParseReply;
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const limits = { ...DEFAULT_LINE_PROTOCOL_LIMITS, ...job.limits };
    const batch = parseColumnar(state, body, { jobId: job.jobId, precision: job.precision, defaultTimeMs: job.defaultTimeMs, limits });
    reply = { ok: true, batch };
    port.postMessage(reply, [batch.headIds.buffer, batch.shapeIds.buffer, batch.timesMs.buffer, batch.values.buffer]);
  } catch (err) {
    reply = { ok: false, jobId: job.jobId, message: err instanceof Error ? err.message : String(err) };
    port.postMessage(reply);
  }
});
