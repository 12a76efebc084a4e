import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { classifyStatus, createV1Sender, createV2Sender, parseRetryAfterMs } from "./influxdb-write.js";

interface Seen {
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A local HTTP server answering each request with the next scripted response. */
async function scripted(responses: Array<{ status: number; body?: string; headers?: Record<string, string> }>): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      seen.push({ url: req.url ?? "", headers: req.headers, body: (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString() });
      const next = responses.shift() ?? { status: 204 };
      res.writeHead(next.status, { "content-type": "application/json", ...next.headers });
      res.end(next.body ?? "");
    });
  }).listen(0, "127.0.0.1");
  await once(server, "listening");
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("no address");
  return { url: `http://127.0.0.1:${addr.port}`, seen, server };
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

const NOW_MS = Date.UTC(2026, 0, 1);

describe("classifyStatus", () => {
  it.each([
    [204, "ok", undefined],
    [201, "ok", undefined],
    [400, "reject", undefined],
    [413, "reject", undefined],
    [422, "reject", undefined],
    [401, "retry", "unauthorized"],
    [403, "retry", "unauthorized"],
    [404, "retry", "not_found"],
    [408, "retry", "http_408"],
    [429, "retry", "http_429"],
    [500, "retry", "http_500"],
    [503, "retry", "http_503"],
  ])("HTTP %i is %s", (status, kind, reason) => {
    const outcome = classifyStatus(status, "{}", undefined, NOW_MS);
    expect(outcome.kind).toBe(kind);
    if (outcome.kind === "retry") expect(outcome.reason).toBe(reason);
  });
});

describe("parseRetryAfterMs", () => {
  it.each([
    ["3", 3000],
    [" 0 ", 0],
    [new Date(NOW_MS + 7000).toUTCString(), 7000],
    ["999999", 600_000],
    ["soon", undefined],
    [new Date(NOW_MS - 7000).toUTCString(), undefined],
    [undefined, undefined],
  ])("Retry-After %j waits %s ms", (header, ms) => {
    expect(parseRetryAfterMs(header, NOW_MS)).toBe(ms);
  });
});

describe("senders", () => {
  const payload = "m,host=a f=1 1000\nm,host=a f=2 2000\n";

  it("v2 posts the batch gzipped to /api/v2/write with the token, through the official client", async () => {
    const s = await scripted([{ status: 204 }]);
    servers.push(s.server);
    const outcome = await createV2Sender({ url: s.url, timeoutMs: 2000, org: "my org", bucket: "db/rp", token: "t0k" }).send(payload);
    expect(outcome).toEqual({ kind: "ok" });
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]?.url).toBe("/api/v2/write?org=my%20org&bucket=db%2Frp&precision=ms");
    expect(s.seen[0]?.headers.authorization).toBe("Token t0k");
    expect(s.seen[0]?.headers["content-encoding"]).toBe("gzip");
    expect(s.seen[0]?.body).toBe(payload.slice(0, -1));
  });

  it("v2 reports errors with the server's message and Retry-After, and never retries by itself", async () => {
    const s = await scripted([
      { status: 400, body: JSON.stringify({ code: "invalid", message: "partial write: field type conflict" }) },
      { status: 503, body: "{}", headers: { "retry-after": "2" } },
    ]);
    servers.push(s.server);
    const sender = createV2Sender({ url: s.url, timeoutMs: 2000, org: "o", bucket: "b" });
    const rejected = await sender.send(payload);
    expect(rejected.kind).toBe("reject");
    expect(rejected.kind === "reject" && rejected.message).toContain("field type conflict");
    const retried = await sender.send(payload);
    expect(retried).toMatchObject({ kind: "retry", reason: "http_503", retryAfterMs: 2000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(s.seen).toHaveLength(2);
  });

  it("v1 posts gzip to /write with db, rp, precision and basic auth", async () => {
    const s = await scripted([{ status: 204 }, { status: 400, body: '{"error":"unable to parse"}' }]);
    servers.push(s.server);
    const sender = createV1Sender({ url: `${s.url}/`, timeoutMs: 2000, database: "ansai db", retentionPolicy: "autogen", authorization: "Basic dTpw" });
    expect(await sender.send(payload)).toEqual({ kind: "ok" });
    expect(s.seen[0]?.url).toBe("/write?db=ansai+db&rp=autogen&precision=ms");
    expect(s.seen[0]?.headers.authorization).toBe("Basic dTpw");
    expect(s.seen[0]?.body).toBe(payload);
    expect(await sender.send(payload)).toMatchObject({ kind: "reject", status: 400, message: expect.stringContaining("unable to parse") });
  });

  it.each(["v1", "v2"])("%s reports an unreachable server as retriable", async (api) => {
    const s = await scripted([]);
    const url = s.url;
    s.server.close();
    await once(s.server, "close");
    const sender = api === "v1" ? createV1Sender({ url, timeoutMs: 2000, database: "d" }) : createV2Sender({ url, timeoutMs: 2000, org: "o", bucket: "b" });
    expect(await sender.send(payload)).toMatchObject({ kind: "retry", reason: "unreachable" });
  });
});
