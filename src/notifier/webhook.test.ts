import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotifierDispatcher } from "./dispatcher.js";
import { NotifyError } from "./notifier.js";
import { manualClock, quietLog, testAlert } from "./test-helpers.js";
import { createWebhookNotifier, SIGNATURE_HEADER, verifySignature, webhookPayload, type WebhookPayload } from "./webhook.js";

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver answering with the next scripted status (the last one repeats). */
async function receiver(): Promise<{ url: string; got: Received[]; script: (statuses: Array<number | [number, Record<string, string>]>) => void; close: () => Promise<void> }> {
  const got: Received[] = [];
  let statuses: Array<number | [number, Record<string, string>]> = [200];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const next = statuses.length > 1 ? statuses.shift()! : statuses[0]!;
      const [status, headers] = typeof next === "number" ? [next, {}] : next;
      res.writeHead(status, headers).end(status >= 400 ? "nope" : "ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}/hook`,
    got,
    script: (s) => {
      statuses = [...s];
      got.length = 0;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("webhook notifier against a real HTTP server", () => {
  let rx: Awaited<ReturnType<typeof receiver>>;
  let dir: string;
  let secretFile: string;
  const secret = "s3cret-key";
  const fastRetry = { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 20 };

  beforeAll(async () => {
    rx = await receiver();
    dir = mkdtempSync(path.join(os.tmpdir(), "ansai-webhook-"));
    secretFile = path.join(dir, "secret");
    writeFileSync(secretFile, `${secret}\n`);
  });
  afterAll(async () => {
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (opts: { secretFile?: string; url?: string } = {}) => {
    const registry = new Registry();
    const notifier = createWebhookNotifier({ name: "hook", url: opts.url ?? rx.url, secretFile: opts.secretFile, timeoutMs: 2000, userAgent: "ansai/test" });
    const d = createNotifierDispatcher({ notifiers: [notifier], log: quietLog, clock: manualClock(1_700_000_000_000), defaultHost: "h", retry: fastRetry, registry });
    d.handle([testAlert({ state: "firing" }), testAlert({ state: "firing", mount: "/data" })]);
    await d.idle();
    await d.close();
    return (await registry.getSingleMetricAsString("ansai_notifications_total")).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  };

  it("posts the documented JSON, signed with HMAC-SHA256 over the raw body", async () => {
    rx.script([200]);
    await run({ secretFile });
    expect(rx.got).toHaveLength(1);
    const { headers, body } = rx.got[0]!;
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["user-agent"]).toBe("ansai/test");
    const sig = headers[SIGNATURE_HEADER.toLowerCase()] as string;
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(body, secret, sig)).toBe(true);
    expect(verifySignature(body, "other", sig)).toBe(false);
    expect(verifySignature(`${body} `, secret, sig)).toBe(false);

    const payload = JSON.parse(body) as WebhookPayload;
    const a = testAlert({ state: "firing" });
    expect(payload).toMatchObject({ version: "1", status: "firing", host: "web-01" });
    expect(payload.alerts.map((x) => x.tags.path)).toEqual(["/var", "/data"]);
    expect(payload.alerts[0]).toEqual({
      id: a.id,
      rule: "disk_full_24h",
      severity: "warning",
      state: "firing",
      summary: a.summary,
      tags: { host: "web-01", path: "/var" },
      series: "disk,host=web-01,path=/var used_percent",
      activeSince: new Date(a.activeSinceMs).toISOString(),
      firedAt: new Date(a.firedAtMs!).toISOString(),
      resolvedAt: null,
      eta: new Date(a.prediction.etaMs!).toISOString(),
      etaLow: new Date(a.prediction.etaLowMs!).toISOString(),
      etaHigh: new Date(a.prediction.etaHighMs!).toISOString(),
      value: 91.5,
      threshold: 100,
    });
  });

  it("sends no signature header without a secret", async () => {
    rx.script([200]);
    await run();
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.headers[SIGNATURE_HEADER.toLowerCase()]).toBeUndefined();
  });

  it("retries 503 twice, then succeeds with the same signed body", async () => {
    rx.script([503, 503, 200]);
    const metrics = await run({ secretFile });
    expect(rx.got).toHaveLength(3);
    expect(new Set(rx.got.map((g) => g.body)).size).toBe(1);
    for (const g of rx.got) expect(verifySignature(g.body, secret, g.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(true);
    expect(metrics).toEqual(expect.arrayContaining(['ansai_notifications_total{notifier="hook",outcome="retried"} 2', 'ansai_notifications_total{notifier="hook",outcome="sent"} 1']));
  });

  it("retries 429 (honouring a Retry-After of 0 s)", async () => {
    rx.script([[429, { "retry-after": "0" }], 200]);
    await run();
    expect(rx.got).toHaveLength(2);
  });

  it.each([400, 401, 404, 422])("does not retry %i", async (status) => {
    rx.script([status]);
    const metrics = await run();
    expect(rx.got).toHaveLength(1);
    expect(metrics).toEqual(['ansai_notifications_total{notifier="hook",outcome="failed"} 1']);
  });

  it("gives up after maxAttempts on a server that keeps failing", async () => {
    rx.script([500]);
    const metrics = await run();
    expect(rx.got).toHaveLength(fastRetry.maxAttempts);
    expect(metrics).toEqual(expect.arrayContaining(['ansai_notifications_total{notifier="hook",outcome="failed"} 1']));
  });

  it("reports a refused connection as retriable and a missing secret file as not", async () => {
    const dead = await receiver();
    await dead.close();
    const send = (url: string, file?: string) =>
      createWebhookNotifier({ name: "x", url, secretFile: file, timeoutMs: 1000 }).send(
        { host: "h", status: "firing", alerts: [testAlert({ state: "firing" })], atMs: 0 },
        new AbortController().signal,
      );
    await expect(send(dead.url)).rejects.toMatchObject({ retriable: true, message: expect.stringMatching(/ECONNREFUSED/) });
    await expect(send(rx.url, path.join(dir, "missing"))).rejects.toBeInstanceOf(NotifyError);
    await expect(send(rx.url, path.join(dir, "missing"))).rejects.toMatchObject({ retriable: false });
  });

  it("names the timeout when the receiver does not answer", async () => {
    const silent = http.createServer(() => undefined).listen(0, "127.0.0.1");
    await once(silent, "listening");
    const port = (silent.address() as { port: number }).port;
    const notifier = createWebhookNotifier({ name: "x", url: `http://127.0.0.1:${port}/`, timeoutMs: 100 });
    await expect(notifier.send({ host: "h", status: "firing", alerts: [], atMs: 0 }, new AbortController().signal)).rejects.toMatchObject({
      retriable: true,
      message: expect.stringContaining("no answer within 100 ms"),
    });
    silent.closeAllConnections();
    silent.close();
  });

  it("payload status is resolved only when no alert fires", () => {
    const batch = { host: "h", status: "resolved" as const, alerts: [testAlert({ state: "resolved" })], atMs: 0 };
    expect(webhookPayload(batch)).toMatchObject({ status: "resolved", alerts: [{ state: "resolved", resolvedAt: expect.any(String) }] });
  });
});
