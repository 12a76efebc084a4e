import { z } from "zod";
import { duration } from "../config/zod-types.js";

const isUrl = (protocols: readonly string[]) => (s: string): boolean => {
  try {
    return protocols.includes(new URL(s).protocol);
  } catch {
    return false;
  }
};

const httpUrl = z.string().refine(isUrl(["http:", "https:"]), { message: "expected an http:// or https:// URL" });
const name = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, "expected letters, digits, '_', '.' or '-'")
  .describe("Unique name of this notifier: the `notifier` label of ansai_notifications_total and the name in logs.");

const webhook = z.strictObject({
  name,
  url: httpUrl.describe("URL the JSON notification is POSTed to."),
  secret_file: z
    .string()
    .min(1)
    .optional()
    .describe("File whose content (trimmed) is the HMAC-SHA256 key; each body is signed in `X-Ansai-Signature: sha256=<hex>`, like GitHub's webhooks."),
  timeout: duration.default("10s").describe("Deadline of one request: connect, send and the answer."),
});

const alertmanager = z.strictObject({
  name,
  url: httpUrl.describe("Base URL of an Alertmanager, e.g. http://alertmanager:9093; alerts go to <url>/api/v2/alerts."),
  timeout: duration.default("10s").describe("Deadline of one request."),
  resend_interval: duration
    .default("1m")
    .describe("How often firing alerts are posted again; each post sets endsAt 4 intervals ahead, so Alertmanager resolves them itself if ANSAI stops (as Prometheus does)."),
});

const email = z.strictObject({
  name,
  host: z.string().min(1).describe("SMTP server host name or address."),
  port: z.number().int().min(1).max(65535).default(25).describe("SMTP port: 25 or 587 (submission, with starttls)."),
  starttls: z.boolean().default(false).describe("Upgrade the connection with STARTTLS before authenticating; the send fails if the server does not offer it."),
  tls_ca: z.string().min(1).optional().describe("PEM file of CA certificates trusted for STARTTLS, added to Node's default roots."),
  username: z.string().min(1).optional().describe("SMTP AUTH user (AUTH PLAIN, or LOGIN when the server offers only that)."),
  password_file: z.string().min(1).optional().describe("File whose first line is the SMTP password; read at each send, so rotation needs no restart."),
  from: z.string().min(3).describe('Sender address, e.g. "ansai@example.org" or "ANSAI <ansai@example.org>".'),
  to: z.array(z.string().min(3)).min(1).describe("Recipient addresses."),
  timeout: duration.default("30s").describe("Deadline of one whole SMTP conversation."),
});

/** The `notifiers:` config section. */
export const notifierConfigSchema = z
  .strictObject({
    repeat_interval: duration.default("4h").describe("A still-firing alert is notified again after this long (Alertmanager's repeat_interval)."),
    webhooks: z.array(webhook).default([]).describe("HTTP endpoints that receive a signed JSON document per host and change."),
    alertmanagers: z.array(alertmanager).default([]).describe("Alertmanagers to post alerts to (API v2); they route, group and silence."),
    email: z.array(email).default([]).describe("SMTP destinations: one plain-text mail per host and change."),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    for (const [kind, list] of [["webhooks", cfg.webhooks], ["alertmanagers", cfg.alertmanagers], ["email", cfg.email]] as const) {
      list.forEach((n, i) => {
        if (seen.has(n.name)) ctx.addIssue({ code: "custom", path: [kind, i, "name"], message: `notifier name "${n.name}" is used twice; names must be unique` });
        seen.add(n.name);
      });
    }
    cfg.email.forEach((e, i) => {
      if (e.password_file !== undefined && e.username === undefined) {
        ctx.addIssue({ code: "custom", path: ["email", i, "username"], message: "password_file needs a username" });
      }
    });
  })
  .default({ repeat_interval: "4h", webhooks: [], alertmanagers: [], email: [] })
  .describe("Where alerts are sent when they fire and resolve.");

export type NotifierConfig = z.output<typeof notifierConfigSchema>;
