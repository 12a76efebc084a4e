import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { HttpError, InfluxDB } from "@influxdata/influxdb-client";

const gzipAsync = promisify(gzip);

/** What one write attempt came to; the caller acknowledges, retries or drops the batch. */
export type SendOutcome =
  | { kind: "ok" }
  /** Worth retrying: the server or the network failed, or the config is wrong and data must wait for a fix. */
  | { kind: "retry"; reason: string; message: string; retryAfterMs?: number }
  /** The server will never accept this batch (a bad point, a type conflict): drop it, keep going. */
  | { kind: "reject"; status: number; message: string };

/** Sends one line-protocol batch (lines ending in `\n`). Never throws: failures are outcomes. */
export interface LineSender {
  send(payload: string): Promise<SendOutcome>;
}

export interface SenderOptions {
  url: string;
  timeoutMs: number;
}

/** Longest Retry-After honoured, so a bogus header cannot park the sender for a day. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Retry-After as delta seconds or an HTTP date, in ms from `nowMs`. */
export function parseRetryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - nowMs;
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * Sorts an HTTP answer into retry or drop. 408, 429 and 5xx are the server's trouble: retry.
 * 401/403/404 mean a wrong token, database or bucket: the data is fine, so it waits on disk for
 * the fix (bounded by the buffer). Any other 4xx (400 bad point or partial write, 413, 422) will
 * never succeed: drop that batch.
 */
export function classifyStatus(status: number, body: string, retryAfter: string | null | undefined, nowMs: number): SendOutcome {
  if (status >= 200 && status < 300) return { kind: "ok" };
  const message = `HTTP ${status}: ${body.trim().slice(0, 500)}`;
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: "retry", reason: `http_${status}`, message, retryAfterMs: parseRetryAfterMs(retryAfter, nowMs) };
  }
  if (status === 401 || status === 403) {
    return { kind: "retry", reason: "unauthorized", message: `${message} (check store.influxdb.token / username and password)` };
  }
  if (status === 404) {
    return { kind: "retry", reason: "not_found", message: `${message} (check that the database or bucket exists and the url is InfluxDB's)` };
  }
  return { kind: "reject", status, message };
}

function networkOutcome(err: unknown): SendOutcome {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  return { kind: "retry", reason: "unreachable", message: `${e.message ?? String(err)}${code ? ` (${code})` : ""}` };
}

/**
 * Writes with the official client's WriteApi (`/api/v2/write`: InfluxDB 2.x, 3.x, 1.8+). The
 * client's own batching and in-memory retry buffer are switched off (one flush per call,
 * maxRetries 0, failures returned through `writeFailed`): the durable buffer is the only queue,
 * and a batch counts as sent only when the server answered 2xx.
 */
export function createV2Sender(opts: SenderOptions & { org: string; bucket: string; /** Sent as `Token <t>`; `user:password` for 1.8. */ token?: string }): LineSender {
  const client = new InfluxDB({ url: opts.url, token: opts.token, timeout: opts.timeoutMs });
  return {
    async send(payload) {
      let failure: unknown;
      const api = client.getWriteApi(opts.org, opts.bucket, "ms", {
        // One record per call (the whole batch): no size or count limit may trigger a flush of its own.
        batchSize: 2,
        maxBatchBytes: Number.POSITIVE_INFINITY,
        flushInterval: 0,
        maxRetries: 0,
        maxBufferLines: 1,
        gzipThreshold: 0,
        writeFailed(error) {
          failure = error;
          // A promise here replaces the client's own retry and its console logging.
          return Promise.reject(error);
        },
      });
      api.writeRecord(payload.endsWith("\n") ? payload.slice(0, -1) : payload);
      try {
        await api.flush();
        return { kind: "ok" };
      } catch (err) {
        const e = failure ?? err;
        if (e instanceof HttpError) {
          const retryAfter = e.headers?.["retry-after"];
          return classifyStatus(e.statusCode, e.body ?? e.message, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now());
        }
        return networkOutcome(e);
      }
    },
  };
}

/** Writes to InfluxDB 1.x's `POST /write?db=&rp=&precision=ms` (before 1.8, which has no v2 API). */
export function createV1Sender(opts: SenderOptions & { database: string; retentionPolicy?: string; /** `Authorization` header value, if any. */ authorization?: string }): LineSender {
  const url = new URL("write", opts.url.endsWith("/") ? opts.url : `${opts.url}/`);
  url.searchParams.set("db", opts.database);
  if (opts.retentionPolicy) url.searchParams.set("rp", opts.retentionPolicy);
  url.searchParams.set("precision", "ms");
  return {
    async send(payload) {
      const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "content-encoding": "gzip" };
      if (opts.authorization) headers.authorization = opts.authorization;
      let res: Response;
      let body: string;
      try {
        res = await fetch(url, { method: "POST", body: await gzipAsync(payload), headers, signal: AbortSignal.timeout(opts.timeoutMs) });
        body = await res.text();
      } catch (err) {
        return networkOutcome(err);
      }
      return classifyStatus(res.status, body, res.headers.get("retry-after"), Date.now());
    },
  };
}
