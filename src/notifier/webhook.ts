import { createHmac, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { post } from "./http.js";
import { NotifyError, alertToJson, type AlertJson, type NotificationBatch, type Notifier } from "./notifier.js";

/** Header carrying `sha256=<hex>` of the raw body, keyed with the configured secret. */
export const SIGNATURE_HEADER = "X-Ansai-Signature";

/** The JSON a webhook receives. `version` changes only when a field changes meaning. */
export interface WebhookPayload {
  version: "1";
  status: "firing" | "resolved";
  host: string;
  alerts: AlertJson[];
}

export interface WebhookOptions {
  name: string;
  url: string;
  /** File holding the HMAC key, read at each send so rotation needs no restart. */
  secretFile?: string;
  timeoutMs: number;
  /** Value of the User-Agent header, e.g. "ansai/0.1.0". */
  userAgent?: string;
}

export function webhookPayload(batch: NotificationBatch): WebhookPayload {
  return { version: "1", status: batch.status, host: batch.host, alerts: batch.alerts.map(alertToJson) };
}

/** `sha256=<hex>` HMAC of the body, as GitHub signs its webhooks. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Constant-time check of a signature header, for receivers (and tests). */
export function verifySignature(body: string, secret: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const want = Buffer.from(signBody(body, secret));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** POSTs one signed JSON document per batch. */
export function createWebhookNotifier(opts: WebhookOptions): Notifier {
  return {
    name: opts.name,
    async send(batch, signal) {
      const body = JSON.stringify(webhookPayload(batch));
      const headers: Record<string, string> = { "content-type": "application/json", "user-agent": opts.userAgent ?? "ansai" };
      if (opts.secretFile !== undefined) headers[SIGNATURE_HEADER] = signBody(body, await readSecret(opts.secretFile));
      await post({ url: opts.url, body, headers, timeoutMs: opts.timeoutMs, signal });
    },
  };
}

/** The trimmed content of a secret file; a missing file is a config error, not worth a retry. */
export async function readSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw new NotifyError(`cannot read the secret file ${file}: ${(err as Error).message}`, { retriable: false, cause: err });
  }
}
