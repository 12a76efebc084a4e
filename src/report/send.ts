import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { durationMs } from "../config/zod-types.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import type { NotifierConfig } from "../notifier/config.js";
import { encodeHeader, quotedPrintable } from "../notifier/email.js";
import { post } from "../notifier/http.js";
import { NotifyError } from "../notifier/notifier.js";
import { bareAddress, sendMail } from "../notifier/smtp.js";
import { readSecret, SIGNATURE_HEADER, signBody } from "../notifier/webhook.js";
import type { ReportsConfig } from "./config.js";
import { reportFileName } from "./files.js";
import type { Report } from "./types.js";

// Delivery of a finished report through the alert notifiers' SMTP client and HTTP poster.

type SmtpConfig = NotifierConfig["email"][number];

/** The notifiers.email entry that reports.email uses: the named one, else the first. */
export function reportSmtp(reports: Pick<ReportsConfig, "email">, notifiers: Pick<NotifierConfig, "email">): SmtpConfig | undefined {
  const want = reports.email?.notifier;
  if (reports.email === undefined) return undefined;
  const found = want === undefined ? notifiers.email[0] : notifiers.email.find((e) => e.name === want);
  if (found) return found;
  throw new AnsaiError(
    ErrorCodes.CONFIG_INVALID,
    want === undefined ? "reports.email is set but notifiers.email lists no SMTP server" : `reports.email.notifier "${want}" is not in notifiers.email`,
    "Add the SMTP server under notifiers.email (host, port, from, to), and name it in reports.email.notifier or leave that out to use the first.",
  );
}

/** "ANSAI capacity report 2026-01-05: 1 critical, 2 warning" (or "all ok"). */
export function reportSubject(report: Report): string {
  const s = report.summary;
  const counts = [s.critical > 0 ? `${s.critical} critical` : "", s.warning > 0 ? `${s.warning} warning` : "", s.watch > 0 ? `${s.watch} to watch` : ""].filter(Boolean);
  return `ANSAI capacity report ${report.generatedAt.slice(0, 10)}: ${counts.length > 0 ? counts.join(", ") : "all ok"}`;
}

/** base64 in lines of 76 (RFC 2045). */
function base64Lines(text: string): string {
  return (Buffer.from(text, "utf8").toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
}

/** The whole mail: the Markdown as the text body, the HTML page (with its charts) attached. */
export function buildReportEmail(report: Report, markdown: string, html: string | undefined, from: string, to: readonly string[]): string {
  const boundary = `ansai-${randomUUID()}`;
  const domain = bareAddress(from).split("@")[1] ?? "ansai";
  const headers = [
    `From: ${encodeHeader(from)}`,
    `To: ${to.map((a) => a.replace(/[\r\n]+/g, " ")).join(", ")}`,
    `Subject: ${encodeHeader(reportSubject(report))}`,
    `Date: ${new Date(report.generatedAtMs).toUTCString().replace(/GMT$/, "+0000")}`,
    `Message-ID: <${report.generatedAtMs}.${randomUUID()}@${domain}>`,
    "MIME-Version: 1.0",
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "Auto-Submitted: auto-generated",
  ];
  const parts = [["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "", quotedPrintable(markdown)].join("\r\n")];
  if (html !== undefined) {
    const name = reportFileName(report.id, "html");
    parts.push(
      [`Content-Type: text/html; charset=utf-8; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, "Content-Transfer-Encoding: base64", "", base64Lines(html)].join("\r\n"),
    );
  }
  const body = parts.map((p) => `--${boundary}\r\n${p}`).join("\r\n") + `\r\n--${boundary}--`;
  return `${headers.join("\r\n")}\r\n\r\n${body}\r\n`;
}

/** Mails a report through the SMTP server of a notifiers.email entry to `to`. Throws NotifyError. */
export async function emailReport(smtp: SmtpConfig, to: readonly string[], report: Report, markdown: string, html: string | undefined, signal: AbortSignal): Promise<void> {
  const password = smtp.password_file === undefined ? undefined : ((await readText(smtp.password_file, "password")).split(/\r?\n/)[0] ?? "");
  const ca = smtp.tls_ca === undefined ? undefined : await readText(smtp.tls_ca, "CA");
  const result = await sendMail(
    { host: smtp.host, port: smtp.port, starttls: smtp.starttls, ca, username: smtp.username, password, timeoutMs: durationMs(smtp.timeout), signal },
    { from: bareAddress(smtp.from), to: to.map(bareAddress) },
    buildReportEmail(report, markdown, html, smtp.from, to),
  );
  if (result.rejected.length > 0) throw new NotifyError(`the SMTP server refused ${result.rejected.join(", ")}; the others got the report`, { retriable: false });
}

/** The JSON a report webhook receives. */
export interface ReportWebhookPayload {
  version: "1";
  kind: "capacity_report";
  report: Report;
}

/** POSTs the report's JSON, signed like alert webhooks when a secret file is set. Throws NotifyError. */
export async function postReport(webhook: NonNullable<ReportsConfig["webhook"]>, report: Report, userAgent: string, signal: AbortSignal): Promise<void> {
  const payload: ReportWebhookPayload = { version: "1", kind: "capacity_report", report };
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": userAgent };
  if (webhook.secret_file !== undefined) headers[SIGNATURE_HEADER] = signBody(body, await readSecret(webhook.secret_file));
  await post({ url: webhook.url, body, headers, timeoutMs: durationMs(webhook.timeout), signal });
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new NotifyError(`cannot read the ${what} file ${file}: ${(err as Error).message}`, { retriable: false, cause: err });
  }
}
