import path from "node:path";
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { duration } from "../config/zod-types.js";

/** Output formats of a capacity report; each is one file `<id>-capacity.<ext>`. */
export const REPORT_FORMATS = ["html", "markdown", "json"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** File extension of each format. */
export const FORMAT_EXTENSIONS: Readonly<Record<ReportFormat, string>> = Object.freeze({ html: "html", markdown: "md", json: "json" });

/** True when `zone` is an IANA time zone this Node.js knows (e.g. "Europe/Paris", "UTC"). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const httpUrl = z.string().refine(
  (s) => {
    try {
      return ["http:", "https:"].includes(new URL(s).protocol);
    } catch {
      return false;
    }
  },
  { message: "expected an http:// or https:// URL" },
);

const email = z.strictObject({
  to: z.array(z.string().min(3)).min(1).describe("Recipients of the report mail (Markdown in the body, the HTML page attached)."),
  notifier: z
    .string()
    .min(1)
    .optional()
    .describe("Name of the entry in notifiers.email whose SMTP server, credentials and sender are used; default: the first one."),
});

const webhook = z.strictObject({
  url: httpUrl.describe("URL the report's JSON (schema 1) is POSTed to after each run."),
  secret_file: z
    .string()
    .min(1)
    .optional()
    .describe("File whose content (trimmed) is the HMAC-SHA256 key; the body is signed in `X-Ansai-Signature: sha256=<hex>`, as alert webhooks are."),
  timeout: duration.default("30s").describe("Deadline of the POST: connect, send and the answer."),
});

/** The `reports:` config section: scheduled capacity reports. */
export const reportsConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Write capacity reports on the schedule; `ansai report` and POST /api/v1/reports work either way."),
    schedule: z
      .string()
      .refine((s) => validateCron(s), { message: 'expected a cron expression such as "0 7 * * 1" (minute hour day-of-month month day-of-week, optional seconds first)' })
      .default("0 7 * * 1")
      .describe('When reports are made, as a cron expression in `timezone`; default Mondays at 07:00. Six fields put seconds first.'),
    timezone: z
      .string()
      .refine(isTimeZone, { message: 'expected an IANA time zone such as "UTC" or "Europe/Paris"' })
      .default("UTC")
      .describe("IANA time zone of the schedule and of the dates shown in reports."),
    horizon: duration.default("30d").describe("How far ahead reports look: items predicted to run out within it are flagged, and headroom is given at its end."),
    history: duration.default("14d").describe("How much past data each forecast is fitted on (and each chart shows)."),
    formats: z
      .array(z.enum(REPORT_FORMATS))
      .min(1)
      .default([...REPORT_FORMATS])
      .describe("Files written per report: html (self-contained page with charts), markdown, json (schema 1, for programs)."),
    dir: z.string().min(1).optional().describe("Where reports are written; default <data_dir>/reports. Relative paths are against the working directory."),
    keep: z.number().int().min(1).default(12).describe("Reports kept in `dir`; older ones are deleted after each run."),
    email: email.optional().describe("Mail each report through an SMTP server from notifiers.email."),
    webhook: webhook.optional().describe("POST each report's JSON to a URL."),
  })
  .prefault({})
  .describe("Capacity reports: per host and resource, usage, growth, predicted exhaustion and what to do.");

export type ReportsConfig = z.output<typeof reportsConfigSchema>;

/** The reports directory: `dir`, else `<dataDir>/reports`, resolved against `cwd`. */
export function reportsDir(config: Pick<ReportsConfig, "dir">, dataDir: string, cwd = process.cwd()): string {
  return path.resolve(cwd, config.dir ?? path.join(dataDir, "reports"));
}
