import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { verifySignature } from "../notifier/webhook.js";
import { reportsConfigSchema } from "./config.js";
import { buildReportEmail, postReport, reportSmtp, reportSubject } from "./send.js";
import { REPORT_SCHEMA, type Report } from "./types.js";

const report: Report = {
  schema: REPORT_SCHEMA,
  id: "20260105T070000Z",
  generatedAtMs: Date.UTC(2026, 0, 5, 7),
  generatedAt: "2026-01-05T07:00:00.000Z",
  timezone: "UTC",
  horizonMs: 30 * 86_400_000,
  historyMs: 14 * 86_400_000,
  hosts: [],
  summary: { items: 3, critical: 1, warning: 2, watch: 0, ok: 0, unknown: 0 },
  errors: [],
};

const smtp = { name: "mail", host: "127.0.0.1", port: 25, starttls: false, from: "ANSAI <ansai@example.org>", to: ["ops@example.org"], timeout: "30s" };

describe("report delivery", () => {
  it("POSTs the report's JSON, signed with the secret", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ansai-report-hook-"));
    const secretFile = path.join(dir, "secret");
    await writeFile(secretFile, "s3cret\n");
    const got: Array<{ body: string; signature: string | undefined }> = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        got.push({ body, signature: req.headers["x-ansai-signature"] as string | undefined });
        res.writeHead(204).end();
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const webhook = reportsConfigSchema.parse({ webhook: { url, secret_file: secretFile } }).webhook!;
      await postReport(webhook, report, "ansai/test", AbortSignal.timeout(10_000));
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0]!.body)).toEqual({ version: "1", kind: "capacity_report", report });
      expect(verifySignature(got[0]!.body, "s3cret", got[0]!.signature)).toBe(true);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("mails the Markdown as text with the HTML page attached", () => {
    const mail = buildReportEmail(report, "# Capacity report\n\nrenew example.org", "<!doctype html><p>é</p>", smtp.from, ["ops@example.org"]);
    expect(mail).toMatch(/^Subject: ANSAI capacity report 2026-01-05: 1 critical, 2 warning$/m);
    expect(mail).toMatch(/^Content-Type: multipart\/mixed; boundary="ansai-[0-9a-f-]+"$/m);
    expect(mail).toContain('Content-Disposition: attachment; filename="20260105T070000Z-capacity.html"');
    const b64 = mail.split("Content-Transfer-Encoding: base64\r\n\r\n")[1]!.split("\r\n--")[0]!;
    expect(Buffer.from(b64.replace(/\r\n/g, ""), "base64").toString("utf8")).toBe("<!doctype html><p>é</p>");
    expect(mail.trimEnd().endsWith("--")).toBe(true);
  });

  it("uses the named SMTP server, and says what to add when there is none", () => {
    const notifiers = { email: [smtp, { ...smtp, name: "other", host: "mail.example.org" }] };
    expect(reportSmtp({ email: { to: ["a@b.c"], notifier: "other" } }, notifiers)?.host).toBe("mail.example.org");
    expect(reportSmtp({ email: { to: ["a@b.c"] } }, notifiers)?.name).toBe("mail");
    expect(reportSmtp({}, notifiers)).toBeUndefined();
    expect(() => reportSmtp({ email: { to: ["a@b.c"] } }, { email: [] })).toThrow(/notifiers\.email lists no SMTP server/);
    expect(() => reportSmtp({ email: { to: ["a@b.c"], notifier: "nope" } }, notifiers)).toThrow(/"nope" is not in notifiers\.email/);
  });

  it("says all ok in the subject when nothing needs doing", () => {
    expect(reportSubject({ ...report, summary: { ...report.summary, critical: 0, warning: 0 } })).toBe("ANSAI capacity report 2026-01-05: all ok");
  });
});
