import { NotifyError } from "./notifier.js";

/** Bytes of a failed response's body kept in the error message. */
const ERROR_BODY_CHARS = 300;

export interface PostOptions {
  url: string;
  /** Exact bytes to send (signatures are computed over them). */
  body: string;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  signal: AbortSignal;
}

/** True for statuses worth retrying: server errors, 408 Request Timeout, 429 Too Many Requests. */
export function retriableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Retry-After as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const dateMs = Date.parse(value);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
}

/** POSTs a body; resolves on 2xx, else throws a NotifyError saying whether a retry can help. */
export async function post(opts: PostOptions): Promise<void> {
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  let res: Response;
  try {
    res = await fetch(opts.url, { method: "POST", body: opts.body, headers: opts.headers, signal, redirect: "manual" });
  } catch (err) {
    const timedOut = signal.aborted && !opts.signal.aborted;
    const why = timedOut ? `no answer within ${opts.timeoutMs} ms` : causeMessage(err);
    // Shutting down (our own signal) is not worth retrying; a network error or a timeout is.
    throw new NotifyError(`POST ${redact(opts.url)} failed: ${why}`, { retriable: !opts.signal.aborted, cause: err });
  }
  const text = await res.text().catch(() => "");
  if (res.ok) return;
  throw new NotifyError(`POST ${redact(opts.url)} answered ${res.status}: ${text.slice(0, ERROR_BODY_CHARS).trim()}`, {
    retriable: retriableStatus(res.status),
    status: res.status,
    retryAfterMs: parseRetryAfterMs(res.headers.get("retry-after"), Date.now()),
  });
}

/** fetch hides the socket error in `cause`; that is the part people can act on. */
function causeMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

/** A URL without its user info, for logs and errors (webhook URLs may embed credentials). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "";
      u.password = "";
    }
    u.search = u.search ? "?…" : "";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}
