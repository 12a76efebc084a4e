import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Alert } from "../core/contracts.js";
import { formatValue } from "../core/format.js";
import { isoOrNull, NotifyError, type NotificationBatch, type Notifier } from "./notifier.js";
import { bareAddress, sendMail, type SmtpResult } from "./smtp.js";

export interface EmailOptions {
  name: string;
  host: string;
  port: number;
  starttls: boolean;
  /** PEM file of extra CAs trusted for STARTTLS. */
  tlsCaFile?: string;
  username?: string;
  /** File whose first line is the password, read at each send. */
  passwordFile?: string;
  /** "addr" or "Name <addr>". */
  from: string;
  to: readonly string[];
  timeoutMs: number;
  /** Name in EHLO; default this machine's host name. */
  clientName?: string;
}

/** Characters of the first summary kept in a subject. */
const SUBJECT_SUMMARY_CHARS = 160;
/** Quoted-printable lines are at most 76 characters (RFC 2045 §6.7). */
const QP_LINE = 76;

/** "[FIRING 2] web-01: /var on web-01 full in 3 h 10 m", or "[FIRING 1, RESOLVED 1] ...", "[RESOLVED 2] ...". */
export function emailSubject(batch: NotificationBatch): string {
  const firing = batch.alerts.filter((a) => a.state === "firing").length;
  const resolved = batch.alerts.length - firing;
  const counts = [firing > 0 ? `FIRING ${firing}` : "", resolved > 0 ? `RESOLVED ${resolved}` : ""].filter(Boolean).join(", ");
  const first = oneLine(batch.alerts[0]?.summary ?? "").slice(0, SUBJECT_SUMMARY_CHARS);
  return `[${counts}] ${batch.host}: ${first}`;
}

/** Plain text for people: every alert of the batch with its forecast, firing first. */
export function emailBody(batch: NotificationBatch): string {
  const firing = batch.alerts.filter((a) => a.state === "firing").length;
  const resolved = batch.alerts.length - firing;
  const head = [firing > 0 ? `${firing} firing` : "", resolved > 0 ? `${resolved} resolved` : ""].filter(Boolean).join(", ");
  const out = [`ANSAI alerts on ${batch.host}: ${head}.`, ""];
  for (const a of batch.alerts) out.push(...alertLines(a), "");
  out.push("-- ", "Sent by ANSAI. Alerts repeat while firing; a resolved notice follows when they end.");
  return out.join("\n");
}

function alertLines(a: Alert): string[] {
  const p = a.prediction;
  const when = (ms: number | null): string => isoOrNull(ms) ?? "never";
  const lines = [`${a.state.toUpperCase()} [${a.severity}] ${a.rule}`, `  ${oneLine(a.summary)}`, `  series:    ${a.series}`, `  value:     ${formatValue(p.value)} (threshold ${formatValue(p.threshold)})`];
  if (a.state === "firing") lines.push(`  eta:       ${when(p.etaMs)} (between ${when(p.etaLowMs)} and ${p.etaHighMs === null ? "unbounded" : when(p.etaHighMs)})`);
  lines.push(`  since:     ${when(a.firedAtMs ?? a.activeSinceMs)}`);
  if (a.state === "resolved") lines.push(`  resolved:  ${when(a.resolvedAtMs)}`);
  const tags = Object.entries(a.tags).map(([k, v]) => `${k}=${v}`).join(" ");
  if (tags) lines.push(`  tags:      ${tags}`);
  return lines;
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, " ").trim();

/** RFC 2047 encoded words (UTF-8, base64) when the text is not plain ASCII, folded so header lines stay within 78 chars. */
export function encodeHeader(text: string): string {
  const clean = oneLine(text);
  if (/^[\x20-\x7e]*$/.test(clean)) return clean;
  const words: string[] = [];
  let chunk = "";
  for (const ch of clean) {
    // 39 bytes make 52 of base64, a 64-char word: a line stays within 78 even after "X-Ansai-Host: ".
    if (Buffer.byteLength(chunk + ch) > 39) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join("\r\n ");
}

/** Quoted-printable (RFC 2045 §6.7) of UTF-8 text, CRLF line ends, soft breaks at 76 chars. */
export function quotedPrintable(text: string): string {
  return text
    .replace(/\r\n|\r/g, "\n")
    .split("\n")
    .map((line) => {
      const bytes = Buffer.from(line, "utf8");
      const out: string[] = [];
      let cur = "";
      bytes.forEach((b, i) => {
        const last = i === bytes.length - 1;
        const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
        const token = literal ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
        if (cur.length + token.length > QP_LINE - 1) {
          out.push(`${cur}=`);
          cur = "";
        }
        cur += token;
      });
      out.push(cur);
      return out.join("\r\n");
    })
    .join("\r\n");
}

/** RFC 5322 date, e.g. "Tue, 02 Jan 2024 03:04:05 +0000". */
const mailDate = (ms: number): string => new Date(ms).toUTCString().replace(/GMT$/, "+0000");

/** The whole RFC 5322 message for one batch. */
export function buildEmail(batch: NotificationBatch, from: string, to: readonly string[]): string {
  const domain = bareAddress(from).split("@")[1] ?? "ansai";
  const headers = [
    `From: ${encodeHeader(from)}`,
    `To: ${to.map(oneLine).join(", ")}`,
    `Subject: ${encodeHeader(emailSubject(batch))}`,
    `Date: ${mailDate(batch.atMs)}`,
    `Message-ID: <${batch.atMs}.${randomUUID()}@${domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "Auto-Submitted: auto-generated",
    `X-Ansai-Status: ${batch.status}`,
    `X-Ansai-Host: ${encodeHeader(batch.host)}`,
  ];
  return `${headers.join("\r\n")}\r\n\r\n${quotedPrintable(emailBody(batch))}\r\n`;
}

/** One plain-text mail per batch over SMTP. */
export function createEmailNotifier(opts: EmailOptions): Notifier {
  return {
    name: opts.name,
    async send(batch, signal): Promise<void> {
      const password = opts.passwordFile === undefined ? undefined : await readFirstLine(opts.passwordFile);
      const ca = opts.tlsCaFile === undefined ? undefined : await readConfigFile(opts.tlsCaFile, "CA");
      const result: SmtpResult = await sendMail(
        { host: opts.host, port: opts.port, starttls: opts.starttls, ca, username: opts.username, password, clientName: opts.clientName, timeoutMs: opts.timeoutMs, signal },
        { from: bareAddress(opts.from), to: opts.to.map(bareAddress) },
        buildEmail(batch, opts.from, opts.to),
      );
      if (result.rejected.length > 0) {
        // Delivered to the others; retrying would mail them twice.
        throw new NotifyError(`the SMTP server refused ${result.rejected.join(", ")}; the others got the mail`, { retriable: false });
      }
    },
  };
}

async function readFirstLine(file: string): Promise<string> {
  return (await readConfigFile(file, "password")).split(/\r?\n/)[0] ?? "";
}

/** A file the config names; unreadable is a config error, not worth a retry. */
async function readConfigFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new NotifyError(`cannot read the ${what} file ${file}: ${(err as Error).message}`, { retriable: false, cause: err });
  }
}
