import { once } from "node:events";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { createNetResponseCollector, netResponseConfigSchema, parseAddress } from "../../src/collector/net-response.js";
import { onePoint, testContext } from "../../src/collector/test-helpers.js";
import type { Point } from "../../src/core/point.js";

const servers: net.Server[] = [];
const ports: Record<string, number> = {};

async function listen(name: string, onConnection: (s: net.Socket) => void): Promise<void> {
  const server = net.createServer((s) => {
    s.on("error", () => {}); // the probe hangs up as soon as it has its answer
    onConnection(s);
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  ports[name] = (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  await listen("banner", (s) => s.end("SSH-2.0-AnsaiTest\r\n"));
  // Answers PING n with PONG n.
  await listen("echo", (s) => s.on("data", (d) => s.end(`${d.toString().trim().replace(/^PING/, "PONG")}\n`)));
  await listen("silent", () => {});
  await listen("closes", (s) => s.end());
  await listen("closed", () => {});
  const closed = servers.pop();
  closed?.close();
  if (closed !== undefined) await once(closed, "close");
});

afterAll(() => {
  for (const s of servers) s.close();
});

type TargetInput = NonNullable<z.input<typeof netResponseConfigSchema>["targets"]>[number];

async function probe(target: TargetInput): Promise<Point> {
  const ctx = testContext(Date.now());
  const points = await createNetResponseCollector({ targets: [target] }).collect(ctx);
  expect(ctx.errors).toEqual([]);
  return onePoint(points, "net_response");
}

describe("net_response", () => {
  it.each([
    ["an open port", "banner", {}, "success", 0],
    ["a closed port", "closed", {}, "connection_failed", 2],
    ["a banner that matches", "banner", { expect: "^SSH-2\\.0-" }, "success", 0],
    ["a banner that does not match", "banner", { expect: "^220 " }, "string_mismatch", 4],
    ["send and expect", "echo", { send: "PING 42\n", expect: "^PONG 42$" }, "success", 0],
    ["a server that says nothing", "silent", { expect: "x", read_timeout: "200ms" }, "read_failed", 3],
    ["a server that hangs up at once", "closes", { expect: "x" }, "read_failed", 3],
  ])("%s", async (_what, name, extra, result, code) => {
    const p = await probe({ address: `127.0.0.1:${ports[name]}`, ...extra });
    expect(p.tags).toEqual({ server: "127.0.0.1", port: String(ports[name]), protocol: "tcp", result, host: "test-host" });
    expect(p.fields.result_code).toBe(code);
    if (result === "connection_failed") expect(p.fields.response_time).toBeUndefined();
    else expect(p.fields.response_time).toBeGreaterThan(0);
  });

  it.each([
    ["db.internal:5432", { host: "db.internal", port: 5432 }],
    ["[::1]:22", { host: "::1", port: 22 }],
    ["db.internal", undefined],
    ["db.internal:0", undefined],
    [":80", undefined],
  ])("address %s", (address, want) => expect(parseAddress(address)).toEqual(want));

  it("rejects an address without a port in the config", () => {
    expect(netResponseConfigSchema.safeParse({ targets: [{ address: "localhost" }] }).success).toBe(false);
  });
});
