import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Action, ActionResult, Alert } from "../../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../../core/errors.js";
import { duration, durationMs } from "../../config/zod-types.js";

// Calls an HTTP endpoint with the alert. With a secret, every request is signed:
//   X-Ansai-Timestamp: <unix seconds>
//   X-Ansai-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
// A receiver verifies by recomputing the HMAC over the exact bytes it received, comparing in
// constant time (crypto.timingSafeEqual, hmac.compare_digest), and rejecting timestamps more
// than a few minutes from its own clock, which stops replays. See docs/WEBHOOKS.md.

const RESPONSE_HEAD_BYTES = 1024;
/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const webhookActionSchema = z.strictObject({
  type: z.literal("webhook").describe("Sends the alert as JSON to an HTTP endpoint; ok only on a 2xx answer."),
  url: z.url({ protocol: /^https?$/ }).describe("http:// or https:// URL to call. Only its origin appears in the journal, since paths often hold tokens."),
  method: z.enum(["POST", "PUT", "PATCH"]).default("POST").describe("HTTP method."),
  headers: z
    .record(
      z.string().regex(HEADER_NAME, "expected an HTTP header name"),
      z.string().refine((v) => !/[\r\n\0]/.test(v), { message: "a header value cannot hold CR, LF or NUL" }),
    )
    .default({})
    .describe("Extra request headers, e.g. Authorization. Content-Type and the X-Ansai-* headers are set by ANSAI."),
  secret: z.string().min(1).optional().describe("Shared secret for the X-Ansai-Signature HMAC-SHA256 header. Prefer secret_file."),
  secret_file: z.string().min(1).optional().describe("File holding the shared secret (read once at start; surrounding whitespace ignored)."),
  timeout: duration.default("10s").describe("Give up when the endpoint has not answered (headers and body) within this long."),
});

export type WebhookActionConfig = z.output<typeof webhookActionSchema>;

export interface WebhookActionDeps {
  baseEnv: Readonly<Record<string, string | undefined>>;
  /** The configured action's name, sent as `action` in the body; default "webhook". */
  name?: string;
}

/** `sha256=<hex>` over `<timestampS>.<body>`: the X-Ansai-Signature header value. */
export function webhookSignature(secret: string, timestampS: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestampS}.${body}`).digest("hex")}`;
}

function loadSecret(config: WebhookActionConfig): string | undefined {
  if (config.secret !== undefined && config.secret_file !== undefined) {
    throw new AnsaiError(ErrorCodes.CONFIG_INVALID, "webhook action sets both secret and secret_file", "keep one of them; secret_file keeps the secret out of the config");
  }
  if (config.secret_file === undefined) return config.secret;
  let text: string;
  try {
    text = readFileSync(config.secret_file, "utf8").trim();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `webhook secret_file ${config.secret_file} cannot be read: ${reason}`, "create it (mode 0600, readable by ANSAI) holding the shared secret, or fix the path", { cause: err });
  }
  if (text === "") throw new AnsaiError(ErrorCodes.CONFIG_INVALID, `webhook secret_file ${config.secret_file} is empty`, "write the shared secret into it");
  return text;
}

/** The first `maxBytes` of the body; the rest is not waited for. */
async function readHead(res: Response, maxBytes: number): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString("utf8");
}

/** undici hides the reason (ECONNREFUSED, ENOTFOUND, a TLS error) in `cause`. */
function fetchFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  return cause instanceof Error ? cause.message : err.message;
}

/** Sends `{ action, alert, sent_at }` to `config.url`, signed when a secret is set. */
export function createWebhookAction(config: WebhookActionConfig, deps: WebhookActionDeps): Action {
  const timeoutMs = durationMs(config.timeout);
  const secret = loadSecret(config);
  const origin = new URL(config.url).origin;
  const actionName = deps.name ?? "webhook";

  function request(alert: Alert, nowMs: number): { body: string; headers: Record<string, string> } {
    const body = JSON.stringify({ action: actionName, alert, sent_at: new Date(nowMs).toISOString() });
    const timestampS = Math.floor(nowMs / 1000);
    const headers: Record<string, string> = { "user-agent": "ansai-webhook" };
    for (const [name, value] of Object.entries(config.headers)) headers[name.toLowerCase()] = value;
    headers["content-type"] = "application/json";
    if (secret !== undefined) {
      headers["x-ansai-timestamp"] = String(timestampS);
      headers["x-ansai-signature"] = webhookSignature(secret, timestampS, body);
    }
    return { body, headers };
  }

  async function run(alert: Alert, signal: AbortSignal): Promise<ActionResult> {
    const startedMs = Date.now();
    const timeout = AbortSignal.timeout(timeoutMs);
    const { body, headers } = request(alert, startedMs);
    const done = (result: Omit<ActionResult, "durationMs">): ActionResult => ({ ...result, durationMs: Date.now() - startedMs });
    try {
      // No redirects: a 3xx is reported, and the signed request never goes to another origin.
      const res = await fetch(config.url, { method: config.method, headers, body, redirect: "manual", signal: AbortSignal.any([signal, timeout]) });
      const head = await readHead(res, RESPONSE_HEAD_BYTES);
      const outputTail = `HTTP ${res.status} ${res.statusText}\n${head}`;
      const details = { status: res.status };
      if (res.status >= 200 && res.status < 300) return done({ ok: true, exitCode: null, outputTail, details });
      return done({ ok: false, exitCode: null, outputTail, details, error: `${origin} answered HTTP ${res.status}; expected 2xx` });
    } catch (err) {
      const error = timeout.aborted
        ? `no complete answer from ${origin} within ${timeoutMs} ms`
        : signal.aborted
          ? "aborted"
          : `cannot reach ${origin}: ${fetchFailure(err)}`;
      return done({ ok: false, exitCode: null, outputTail: "", error, details: { status: null } });
    }
  }

  return {
    type: "webhook",
    describe: () => `webhook ${config.method} ${origin}/… (timeout ${timeoutMs} ms${secret === undefined ? "" : ", signed"})`,
    target: () => origin,
    preview: (alert) => Promise.resolve([`${config.method} ${origin}/… with body ${request(alert, Date.now()).body}`]),
    run,
  };
}
