import { describe, expect, it } from "vitest";
import { buildEmail, emailSubject, encodeHeader, quotedPrintable } from "./email.js";
import { bareAddress, dotStuff } from "./smtp.js";
import { testAlert, type AlertSpec } from "./test-helpers.js";

/** Decodes quoted-printable (RFC 2045 §6.7) back to text, to check the encoder round-trips. */
function decodeQp(qp: string): string {
  const bytes: number[] = [];
  const text = qp.replace(/=\r\n/g, "");
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "=") {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8").replace(/\r\n/g, "\n");
}

const batchOf = (specs: AlertSpec[]) => {
  const alerts = specs.map(testAlert);
  return { host: "web-01", status: alerts.some((a) => a.state === "firing") ? ("firing" as const) : ("resolved" as const), alerts, atMs: 0 };
};

describe("email formatting", () => {
  it.each([
    { specs: [{ state: "firing" as const, summary: "/var full in 3 h 10 m" }, { state: "firing" as const, mount: "/data" }], subject: "[FIRING 2] web-01: /var full in 3 h 10 m" },
    { specs: [{ state: "firing" as const, summary: "a" }, { state: "resolved" as const, mount: "/data" }], subject: "[FIRING 1, RESOLVED 1] web-01: a" },
    { specs: [{ state: "resolved" as const, summary: "b\r\nSubject: injected" }], subject: "[RESOLVED 1] web-01: b Subject: injected" },
  ])("subject $subject", ({ specs, subject }) => {
    expect(emailSubject(batchOf(specs))).toBe(subject);
  });

  it.each([
    "plain ascii line",
    "trailing space ",
    "trailing tab\t",
    "equals = sign and é, ü, – and 😀",
    `${"long ".repeat(60)}end`,
    "multi\nline\n\nwith blank\n.dot start",
    "é".repeat(100),
  ])("quoted-printable round-trips %j with lines of at most 76 chars", (text) => {
    const qp = quotedPrintable(text);
    expect(decodeQp(qp)).toBe(text);
    for (const line of qp.split("\r\n")) {
      expect(line.length).toBeLessThanOrEqual(76);
      expect(line).not.toMatch(/[ \t]$/);
      expect(line).toMatch(/^[\x21-\x7e \t]*$/);
    }
  });

  it("encodes non-ASCII headers as RFC 2047 words no longer than 75 chars", () => {
    const text = `données – ${"ü".repeat(50)}`;
    const encoded = encodeHeader(text);
    const words = encoded.split("\r\n ");
    expect(words.length).toBeGreaterThan(1);
    for (const w of words) expect(w.length).toBeLessThanOrEqual(75);
    const decoded = words.map((w) => Buffer.from(/^=\?UTF-8\?B\?(.*)\?=$/.exec(w)![1]!, "base64").toString("utf8")).join("");
    expect(decoded).toBe(text);
    expect(encodeHeader("plain")).toBe("plain");
    expect(encodeHeader("a\r\nBcc: evil@x")).toBe("a Bcc: evil@x");
  });

  it("builds CRLF headers, a blank line and a QP body", () => {
    const mail = buildEmail(batchOf([{ state: "firing" }]), "ANSAI <ansai@example.org>", ["ops@example.org"]);
    const [head, body] = mail.split("\r\n\r\n");
    expect(head!.split("\r\n")[0]).toBe("From: ANSAI <ansai@example.org>");
    expect(head).toContain("Content-Transfer-Encoding: quoted-printable");
    expect(decodeQp(body!)).toContain("ANSAI alerts on web-01: 1 firing.");
  });

  it.each([
    ["a\nb", "a\r\nb"],
    [".a\n..b\nc.\n.", "..a\r\n...b\r\nc.\r\n.."],
    ["x\r\n.\r\ny", "x\r\n..\r\ny"],
    ["lone\rcr", "lone\r\ncr"],
  ])("dot-stuffs %j", (input, stuffed) => {
    expect(dotStuff(input)).toBe(stuffed);
  });

  it.each([
    ["ANSAI <ansai@example.org>", "ansai@example.org"],
    ["ops@example.org", "ops@example.org"],
    ["  Oncall Team <oncall@example.org> ", "oncall@example.org"],
  ])("bare address of %j", (input, bare) => {
    expect(bareAddress(input)).toBe(bare);
  });
});
