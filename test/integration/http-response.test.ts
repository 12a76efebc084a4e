import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { createHttpResponseCollector, httpResponseConfigSchema } from "../../src/collector/http-response.js";
import { onePoint, testContext } from "../../src/collector/test-helpers.js";
import type { Point } from "../../src/core/point.js";
import { createTestCa, type TestCa } from "../support/openssl-pki.js";

const DAY_MS = 86_400_000;

let dir: string;
let ca: TestCa;
let httpBase: string;
let httpsBase: string;
let closedPort: number;
const servers: Array<http.Server | https.Server> = [];

/** Routes of the test server; /never and /stall leave the client waiting. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  switch (url.pathname) {
    case "/ok":
      res.end('{"service_status": "up"}');
      return;
    case "/down":
      res.writeHead(503).end('{"service_status": "down"}');
      return;
    case "/redirect":
      res.writeHead(302, { location: "/ok" }).end();
      return;
    case "/method":
      res.end(`method=${req.method} probe=${req.headers["x-probe"] ?? ""}`);
      return;
    case "/never":
      return;
    case "/stall":
      res.writeHead(200, { "content-length": "1000" });
      res.write("partial");
      return;
    default:
      res.writeHead(404).end("not found");
  }
}

async function start<S extends http.Server | https.Server>(server: S): Promise<number> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ansai-http-"));
  ca = createTestCa(dir, "ANSAI HTTP Test CA");
  const now = Date.now();
  const leaf = ca.issue({ cn: "localhost", san: "DNS:localhost,IP:127.0.0.1", notBeforeMs: now - DAY_MS, notAfterMs: now + 30 * DAY_MS });
  httpBase = `http://127.0.0.1:${await start(http.createServer(handler))}`;
  httpsBase = `https://127.0.0.1:${await start(https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, handler))}`;
  const probe = net.createServer();
  closedPort = await new Promise<number>((resolve) => probe.listen(0, "127.0.0.1", () => resolve((probe.address() as net.AddressInfo).port)));
  probe.close();
  await once(probe, "close");
});

afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

type TargetInput = NonNullable<z.input<typeof httpResponseConfigSchema>["targets"]>[number];

async function probe(target: TargetInput): Promise<Point> {
  const ctx = testContext(Date.now());
  const points = await createHttpResponseCollector({ targets: [target] }).collect(ctx);
  expect(ctx.errors).toEqual([]);
  return onePoint(points, "http_response", { server: String(target.url) });
}

describe("http_response", () => {
  it.each([
    ["a 200 whose body matches", { url: "/ok", response_string_match: '"service_status": "up"' }, "success", 200, 1],
    ["an HTTP error is still a success", { url: "/down" }, "success", 503, undefined],
    ["a body that does not match", { url: "/down", response_string_match: '"service_status": "up"' }, "response_string_mismatch", 503, 0],
    ["a redirect not followed", { url: "/redirect" }, "success", 302, undefined],
    ["a redirect followed", { url: "/redirect", follow_redirects: true, response_string_match: "up" }, "success", 200, 1],
  ] as const)("%s", async (_what, t, result, status, match) => {
    const url = httpBase + t.url;
    const p = await probe({ ...t, url });
    expect(p.tags).toMatchObject({ server: url, method: "GET", result, status_code: String(status), host: "test-host" });
    expect(p.fields.result_code).toBe({ success: 0, response_string_mismatch: 1 }[result]);
    expect(p.fields.http_response_code).toBe(status);
    expect(p.fields.response_string_match).toBe(match);
    expect(p.fields.response_time).toBeGreaterThan(0);
    expect(p.fields.tls_handshake_time_s).toBeUndefined();
  });

  it("counts the body bytes", async () => {
    const p = await probe({ url: `${httpBase}/ok` });
    expect(p.fields.content_length).toBe('{"service_status": "up"}'.length);
  });

  it("sends the method, headers and body it is given", async () => {
    const p = await probe({ url: `${httpBase}/method`, method: "POST", body: "x=1", headers: { "X-Probe": "ansai" }, response_string_match: "^method=POST probe=ansai$" });
    expect(p.tags.method).toBe("POST");
    expect(p.fields.response_string_match).toBe(1);
  });

  it.each([
    [503, 1, "success"],
    [200, 0, "response_status_code_mismatch"],
  ])("expected_status %i: response_status_code_match %i", async (expected, match, result) => {
    const p = await probe({ url: `${httpBase}/down`, expected_status: expected });
    expect(p.fields.response_status_code_match).toBe(match);
    expect(p.tags.result).toBe(result);
  });

  it.each([
    ["a server that never answers", "/never", "timeout", 4],
    ["a body that stalls", "/stall", "timeout", 4],
  ])("%s times out", async (_what, route, result, code) => {
    const p = await probe({ url: httpBase + route, timeout: "300ms" });
    expect(p.tags.result).toBe(result);
    expect(p.fields.result_code).toBe(code);
  });

  it.each([
    ["a refused connection", () => `http://127.0.0.1:${closedPort}/`, "connection_failed", 3],
    ["a name that does not resolve", () => "http://nonexistent.invalid/", "dns_error", 5],
  ])("%s", async (_what, url, result, code) => {
    const p = await probe({ url: url() });
    expect(p.tags.result).toBe(result);
    expect(p.fields.result_code).toBe(code);
    expect(p.tags.status_code).toBeUndefined();
    expect(p.fields.response_time).toBeUndefined();
  });

  it("times the TLS handshake over https", async () => {
    const p = await probe({ url: `${httpsBase}/ok`, tls_ca: ca.certPath, response_string_match: "up" });
    expect(p.tags.result).toBe("success");
    expect(p.fields.http_response_code).toBe(200);
    expect(p.fields.tls_handshake_time_s).toBeGreaterThan(0);
    expect(p.fields.tls_handshake_time_s).toBeLessThan(p.fields.response_time as number);
  });

  it.each([
    [{}, "connection_failed"],
    [{ insecure_skip_verify: true }, "success"],
  ])("an https certificate from an unknown CA: %j gives %s", async (extra, result) => {
    const p = await probe({ url: `${httpsBase}/ok`, ...extra });
    expect(p.tags.result).toBe(result);
  });

  it("reports an unreadable tls_ca and keeps the other targets", async () => {
    const ctx = testContext(Date.now());
    const missing = path.join(dir, "missing-ca.pem");
    const targets = [
      { url: `${httpsBase}/ok`, tls_ca: missing },
      { url: `${httpBase}/ok` },
    ];
    const points = await createHttpResponseCollector({ targets }).collect(ctx);
    expect(ctx.errors.map((e) => e.item)).toEqual([`${httpsBase}/ok`]);
    expect(points.map((p) => p.tags.server)).toEqual([`${httpBase}/ok`]);
  });

  it.each([{ url: "ftp://example.org/" }, { url: "http://x/", method: "get" }, { url: "http://x/", response_string_match: "(" }])(
    "rejects the config %j",
    (t) => expect(httpResponseConfigSchema.safeParse({ targets: [t] }).success).toBe(false),
  );
});
