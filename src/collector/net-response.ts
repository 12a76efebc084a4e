import net from "node:net";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { duration, durationMs, regex } from "../config/zod-types.js";
import { parseSection } from "./config-section.js";

/** Telegraf's `result` tag values and their `result_code`. */
export const NET_RESULT_CODES = {
  success: 0,
  timeout: 1,
  connection_failed: 2,
  read_failed: 3,
  string_mismatch: 4,
} as const;

export type NetResult = keyof typeof NET_RESULT_CODES;

/** A `host:port` address; IPv6 hosts in brackets ("[::1]:22"). */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(address);
  if (m === null) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
}

/** Bytes read while waiting for the expected string; a banner is a line, not a download. */
const MAX_READ_BYTES = 64 * 1024;

const target = z.strictObject({
  address: z
    .string()
    .refine((a) => parseAddress(a) !== undefined, { message: 'expected "host:port", e.g. "db.internal:5432" or "[::1]:22"' })
    .describe("host:port to connect to."),
  protocol: z.literal("tcp").default("tcp").describe("Only tcp for now."),
  timeout: duration.default("1s").describe("Connect deadline."),
  read_timeout: duration.default("1s").describe("How long to wait for the expected string after connecting (and sending)."),
  send: z.string().optional().describe("String written once connected, e.g. a protocol greeting."),
  expect: regex.optional().describe("Regular expression the first line the server sends (without its line ending) must match."),
});

/** The `collectors.net_response` config section. */
export const netResponseConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect net_response points."),
  targets: z.array(target).default([]).describe("Addresses to probe, one net_response point each per pass."),
});

export type NetResponseConfig = z.output<typeof netResponseConfigSchema>;
export type NetTarget = z.output<typeof target>;

/** What one probe observed. */
export interface NetProbe {
  result: NetResult;
  /** Connect (and, with expect, the answer) time in seconds; absent when the connection failed. */
  responseTimeS?: number;
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** The first line the server sends (or what came before it closed or went quiet); undefined when nothing came. */
function readFirstLine(socket: net.Socket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let data = "";
    const done = (): void => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      resolve(data === "" ? undefined : data);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      data += chunk;
      const nl = data.indexOf("\n");
      if (nl >= 0) {
        data = data.slice(0, nl + 1);
        done();
      } else if (data.length > MAX_READ_BYTES) done();
    });
    socket.once("end", done);
    socket.once("error", done);
  });
}

/** Probes one target; never throws: failures are results. */
export async function probeNet(t: NetTarget): Promise<NetProbe> {
  const addr = parseAddress(t.address);
  if (addr === undefined) return { result: "connection_failed" };
  const start = performance.now();
  let socket: net.Socket;
  try {
    socket = await connect(addr.host, addr.port, durationMs(t.timeout));
  } catch (err) {
    return { result: (err as NodeJS.ErrnoException).code === "ETIMEDOUT" ? "timeout" : "connection_failed" };
  }
  try {
    socket.on("error", () => {}); // reported through readFirstLine; keep a late reset from throwing
    if (t.send !== undefined) socket.write(t.send);
    if (t.expect === undefined) return { result: "success", responseTimeS: (performance.now() - start) / 1000 };
    const line = await readFirstLine(socket, durationMs(t.read_timeout));
    const responseTimeS = (performance.now() - start) / 1000;
    if (line === undefined) return { result: "read_failed", responseTimeS };
    // Matched without its line ending, so "$" anchors at the end of the text.
    const text = line.replace(/\r?\n$/, "");
    return { result: new RegExp(t.expect).test(text) ? "success" : "string_mismatch", responseTimeS };
  } finally {
    socket.destroy();
  }
}

/** Telegraf's net_response point for one probe. */
export function netResponsePoint(ctx: CollectContext, t: NetTarget, p: NetProbe): Point {
  const addr = parseAddress(t.address);
  const fields: Record<string, number> = { result_code: NET_RESULT_CODES[p.result] };
  if (p.responseTimeS !== undefined) fields.response_time = p.responseTimeS;
  return {
    measurement: "net_response",
    tags: { server: addr?.host ?? t.address, port: String(addr?.port ?? ""), protocol: t.protocol, result: p.result, host: ctx.host },
    fields,
    timeMs: ctx.nowMs,
  };
}

/**
 * Collects Telegraf's `net_response` measurement: one point per target per pass (tags server,
 * port, protocol, result; fields response_time in seconds, result_code). A refused or silent
 * port is a result, not an error. Throws AnsaiError (ANSAI_CONFIG_INVALID) when the section is malformed.
 */
export function createNetResponseCollector(input: z.input<typeof netResponseConfigSchema> = {}): Collector {
  const config: NetResponseConfig = parseSection("net_response", netResponseConfigSchema, input);
  return {
    name: "net_response",
    async collect(ctx) {
      return Promise.all(config.targets.map(async (t) => netResponsePoint(ctx, t, await probeNet(t))));
    },
  };
}
