import { createHmac, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { AnsaiError } from "../../core/errors.js";
import { testAlert } from "../../notifier/test-helpers.js";
import { freePort } from "../../../test/support/ports.js";
import { createWebhookAction, webhookActionSchema } from "./webhook.js";

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const SECRET = "s3cret-shared";
const received: Received[] = [];
let server: Server;
let base: string;
let dir: string;

/** What a receiver does: HMAC over "<timestamp>.<raw body>", compared in constant time. */
function verifies(r: Received, secret: string): boolean {
  const ts = String(r.headers["x-ansai-timestamp"] ?? "");
  const sig = String(r.headers["x-ansai-signature"] ?? "");
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")}`);
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), expected);
}

const action = (input: Partial<z.input<typeof webhookActionSchema>>, name?: string) =>
  createWebhookAction(webhookActionSchema.parse({ type: "webhook", url: `${base}/ok`, ...input }), { baseEnv: {}, ...(name === undefined ? {} : { name }) });

const signal = () => new AbortController().signal;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ansai-webhook-"));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      if (req.url?.startsWith("/slow")) return; // never answers
      if (req.url?.startsWith("/fail")) return void res.writeHead(500).end(`boom ${"x".repeat(3000)}`);
      res.writeHead(200, { "content-type": "text/plain" }).end("thanks");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("webhook action", () => {
  it("posts { action, alert, sent_at } signed with HMAC-SHA256 over timestamp.body", async () => {
    const alert = testAlert({ state: "firing", mount: "/var" });
    const before = received.length;
    const result = await action({ url: `${base}/ok?token=abc`, secret: SECRET, headers: { Authorization: "Bearer t" } }, "notify-ops").run(alert, signal());
    expect(result).toMatchObject({ ok: true, exitCode: null, details: { status: 200 } });
    expect(result.outputTail).toBe("HTTP 200 OK\nthanks");
    const r = received[before];
    if (r === undefined) throw new Error("no request arrived");
    expect(r.method).toBe("POST");
    expect(r.url).toBe("/ok?token=abc");
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.headers.authorization).toBe("Bearer t");
    expect(verifies(r, SECRET)).toBe(true);
    expect(verifies(r, "another-secret")).toBe(false);
    const body = JSON.parse(r.body) as { action: string; alert: { id: string }; sent_at: string };
    expect(body.action).toBe("notify-ops");
    expect(body.alert.id).toBe(alert.id);
    expect(Math.abs(Date.parse(body.sent_at) / 1000 - Number(r.headers["x-ansai-timestamp"]))).toBeLessThan(1);
  });

  it("reads the secret from secret_file and sends no signature without a secret", async () => {
    const file = path.join(dir, "secret");
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const before = received.length;
    await action({ secret_file: file, method: "PUT" }).run(testAlert({ state: "firing" }), signal());
    await action({}).run(testAlert({ state: "firing" }), signal());
    const [signed, unsigned] = received.slice(before);
    expect(signed?.method).toBe("PUT");
    expect(signed && verifies(signed, SECRET)).toBe(true);
    expect(unsigned?.headers["x-ansai-signature"]).toBeUndefined();
    expect(JSON.parse(unsigned?.body ?? "{}")).toMatchObject({ action: "webhook" });
  });

  it("reports a non-2xx answer as a failure with the status and the first KiB of the body", async () => {
    const result = await action({ url: `${base}/fail` }).run(testAlert({ state: "firing" }), signal());
    expect(result).toMatchObject({ ok: false, details: { status: 500 } });
    expect(result.error).toMatch(/answered HTTP 500; expected 2xx/);
    expect(result.outputTail.startsWith("HTTP 500 Internal Server Error\nboom xxx")).toBe(true);
    expect(Buffer.byteLength(result.outputTail.split("\n")[1] ?? "")).toBe(1024);
  });

  it("gives up after the timeout with a clear error", async () => {
    const result = await action({ url: `${base}/slow`, timeout: "300ms" }).run(testAlert({ state: "firing" }), signal());
    expect(result.ok).toBe(false);
    expect(result.error).toBe(`no complete answer from ${base} within 300 ms`);
  });

  it("reports an unreachable endpoint", async () => {
    const port = await freePort();
    const result = await action({ url: `http://127.0.0.1:${port}/hook` }).run(testAlert({ state: "firing" }), signal());
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it("stops when the remediator aborts", async () => {
    const ctl = new AbortController();
    const pending = action({ url: `${base}/slow`, timeout: "1m" }).run(testAlert({ state: "firing" }), ctl.signal);
    ctl.abort();
    expect(await pending).toMatchObject({ ok: false, error: "aborted" });
  });

  it("names only the origin as target and in describe, since paths often hold tokens", () => {
    const a = action({ url: "https://hooks.example.com/services/T0/B0/SECRETPART" });
    const alert = testAlert({ state: "firing" });
    expect(a.target?.(alert)).toBe("https://hooks.example.com");
    expect(a.describe(alert)).not.toContain("SECRETPART");
  });

  it.each([
    ["both secret and secret_file", { secret: "a", secret_file: "/nonexistent" }, /both secret and secret_file/],
    ["an unreadable secret_file", { secret_file: "/nonexistent/ansai-secret" }, /secret_file \/nonexistent\/ansai-secret cannot be read/],
  ])("refuses %s", (_name, input, message) => {
    expect(() => action(input)).toThrow(AnsaiError);
    expect(() => action(input)).toThrow(message);
  });

  it.each([
    ["ftp URL", { url: "ftp://example.com/x" }],
    ["GET", { method: "GET" }],
    ["header name with a space", { headers: { "X Bad": "v" } }],
    ["header value with a newline", { headers: { "X-Ok": "a\r\nInjected: 1" } }],
  ])("schema rejects %s", (_name, input) => {
    expect(webhookActionSchema.safeParse({ type: "webhook", url: "http://127.0.0.1/x", ...input }).success).toBe(false);
  });
});
