import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { z } from "zod";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { duration, durationMs, regex } from "../config/zod-types.js";
import { parseSection } from "./config-section.js";

/** Telegraf's `result` tag values and their `result_code`. */
export const HTTP_RESULT_CODES = {
  success: 0,
  response_string_mismatch: 1,
  body_read_error: 2,
  connection_failed: 3,
  timeout: 4,
  dns_error: 5,
  response_status_code_mismatch: 6,
} as const;

export type HttpResult = keyof typeof HTTP_RESULT_CODES;

/** Bodies past this size are not read (Telegraf's default response_body_max_size, 32 MiB). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const isHttpUrl = (s: string): boolean => {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
};

const target = z.strictObject({
  url: z.string().refine(isHttpUrl, { message: "expected an http:// or https:// URL" }).describe("URL to request; also the `server` tag."),
  method: z
    .string()
    .regex(/^[A-Z]+$/, "expected an HTTP method in capitals, e.g. GET")
    .default("GET")
    .describe("HTTP method."),
  timeout: duration.default("5s").describe("Whole-request deadline: connect, TLS, headers and body."),
  response_string_match: regex.optional().describe("Regular expression the response body must match (case sensitive)."),
  expected_status: z.number().int().min(100).max(599).optional().describe("Status code the response must have; adds response_status_code_match."),
  follow_redirects: z.boolean().default(false).describe("Follow 3xx redirects (up to 10); false reports the redirect itself."),
  headers: z.record(z.string(), z.string()).default({}).describe('Request headers, e.g. {Host: "example.org"}.'),
  body: z.string().optional().describe("Request body."),
  tls_ca: z.string().min(1).optional().describe("PEM file of CA certificates trusted for https, added to Node's default roots."),
  insecure_skip_verify: z.boolean().default(false).describe("Accept any https certificate (chain and host name unchecked)."),
});

/** The `collectors.http_response` config section. */
export const httpResponseConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect http_response points."),
  targets: z.array(target).default([]).describe("URLs to probe, one http_response point each per pass."),
});

export type HttpResponseConfig = z.output<typeof httpResponseConfigSchema>;
export type HttpTarget = z.output<typeof target>;

/** What one probe observed; fields are absent when the request never got that far. */
export interface HttpProbe {
  result: HttpResult;
  statusCode?: number;
  /** Time to the final response's headers, seconds (Telegraf's response_time). */
  responseTimeS?: number;
  /** TCP connect to TLS established on the final connection, seconds; https only. */
  tlsHandshakeTimeS?: number;
  /** Bytes of body read. */
  contentLengthBytes?: number;
  /** 1/0 when response_string_match is set. */
  stringMatch?: number;
  /** 1/0 when expected_status is set. */
  statusCodeMatch?: number;
}

interface Hop {
  res: http.IncomingMessage;
  tlsHandshakeTimeS?: number;
}

class ProbeTimeout extends Error {}

function classifyError(err: unknown, timedOut: boolean): HttpResult {
  if (timedOut || err instanceof ProbeTimeout) return "timeout";
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "dns_error";
  return "connection_failed";
}

/** Sends one request and resolves on its response headers, timing the TLS handshake. */
function sendRequest(url: URL, t: HttpTarget, method: string, ca: string[] | undefined, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    let connectedAt: number | undefined;
    let tlsHandshakeTimeS: number | undefined;
    const isHttps = url.protocol === "https:";
    const options: https.RequestOptions = {
      method,
      headers: t.headers,
      signal,
      // A fresh connection per probe, so every pass measures connect and handshake.
      agent: false,
      ...(isHttps ? { ca, rejectUnauthorized: !t.insecure_skip_verify } : {}),
    };
    const req = (isHttps ? https : http).request(url, options, (res) => resolve({ res, tlsHandshakeTimeS }));
    req.once("socket", (socket: Socket) => {
      socket.once("connect", () => (connectedAt = performance.now()));
      if (socket instanceof tls.TLSSocket) {
        socket.once("secureConnect", () => {
          if (connectedAt !== undefined) tlsHandshakeTimeS = (performance.now() - connectedAt) / 1000;
        });
      }
    });
    req.once("error", reject);
    req.end(method === "GET" || method === "HEAD" ? undefined : t.body);
  });
}

/** Reads the body, keeping it only when it has to be matched. */
function readBody(res: http.IncomingMessage, keep: boolean): Promise<{ bytes: number; body?: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_BODY_BYTES) {
        res.destroy(new Error(`body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      if (keep) chunks.push(chunk);
    });
    res.once("end", () => resolve({ bytes, body: keep ? Buffer.concat(chunks) : undefined }));
    res.once("error", reject);
    res.once("close", () => {
      if (!res.complete) reject(new Error("connection closed before the body ended"));
    });
  });
}

/** Follows redirects when asked; returns the final response. */
async function fetchFinal(t: HttpTarget, ca: string[] | undefined, signal: AbortSignal): Promise<Hop> {
  let url = new URL(t.url);
  let method = t.method;
  for (let hop = 0; ; hop++) {
    const result = await sendRequest(url, t, method, ca, signal);
    const status = result.res.statusCode ?? 0;
    const location = result.res.headers.location;
    if (!t.follow_redirects || !REDIRECT_STATUSES.has(status) || location === undefined) return result;
    if (hop >= MAX_REDIRECTS) throw new Error(`stopped after ${MAX_REDIRECTS} redirects`);
    result.res.resume();
    url = new URL(location, url);
    // As browsers and Go do: 303, and 301/302 after a POST, continue with GET.
    if (status === 303 || ((status === 301 || status === 302) && method === "POST")) method = "GET";
  }
}

/** Probes one target; never throws: failures are results. */
export async function probeHttp(t: HttpTarget, ca: string[] | undefined): Promise<HttpProbe> {
  const timeoutMs = durationMs(t.timeout);
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new ProbeTimeout(`no complete response within ${timeoutMs} ms`));
  }, timeoutMs);
  const start = performance.now();
  try {
    let hop: Hop;
    try {
      hop = await fetchFinal(t, ca, ac.signal);
    } catch (err) {
      return { result: classifyError(err, timedOut) };
    }
    const statusCode = hop.res.statusCode ?? 0;
    const probe: HttpProbe = { result: "success", statusCode, responseTimeS: (performance.now() - start) / 1000 };
    if (hop.tlsHandshakeTimeS !== undefined) probe.tlsHandshakeTimeS = hop.tlsHandshakeTimeS;
    const matcher = t.response_string_match === undefined ? undefined : new RegExp(t.response_string_match);
    try {
      const { bytes, body } = await readBody(hop.res, matcher !== undefined);
      probe.contentLengthBytes = bytes;
      if (matcher !== undefined) {
        probe.stringMatch = matcher.test((body ?? Buffer.alloc(0)).toString("utf8")) ? 1 : 0;
        if (probe.stringMatch === 0) probe.result = "response_string_mismatch";
      }
    } catch {
      if (timedOut) return { ...probe, result: "timeout" };
      probe.result = "body_read_error";
      if (matcher !== undefined) probe.stringMatch = 0;
    }
    // As Telegraf: a status mismatch outranks a body mismatch.
    if (t.expected_status !== undefined) {
      probe.statusCodeMatch = statusCode === t.expected_status ? 1 : 0;
      if (probe.statusCodeMatch === 0) probe.result = "response_status_code_mismatch";
    }
    return probe;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** Telegraf's http_response point for one probe. */
export function httpResponsePoint(ctx: CollectContext, t: HttpTarget, p: HttpProbe): Point {
  const tags: Record<string, string> = { server: t.url, method: t.method, result: p.result, host: ctx.host };
  const fields: Record<string, number> = { result_code: HTTP_RESULT_CODES[p.result] };
  if (p.statusCode !== undefined) {
    tags.status_code = String(p.statusCode);
    fields.http_response_code = p.statusCode;
  }
  if (p.responseTimeS !== undefined) fields.response_time = p.responseTimeS;
  if (p.tlsHandshakeTimeS !== undefined) fields.tls_handshake_time_s = p.tlsHandshakeTimeS;
  if (p.contentLengthBytes !== undefined) fields.content_length = p.contentLengthBytes;
  if (p.stringMatch !== undefined) fields.response_string_match = p.stringMatch;
  if (p.statusCodeMatch !== undefined) fields.response_status_code_match = p.statusCodeMatch;
  return { measurement: "http_response", tags, fields, timeMs: ctx.nowMs };
}

async function trustedCas(t: HttpTarget): Promise<string[] | undefined> {
  if (t.tls_ca === undefined) return undefined;
  const pem = await readFile(t.tls_ca, "utf8");
  return [...tls.rootCertificates, pem];
}

/**
 * Collects Telegraf's `http_response` measurement: one point per target per pass (tags server,
 * method, status_code, result; fields response_time and tls_handshake_time_s in seconds,
 * http_response_code, content_length in bytes, result_code, response_string_match,
 * response_status_code_match). Network failures are results, not errors; an unreadable
 * tls_ca file is reported and that target skipped. Bodies are matched, never logged.
 * Throws AnsaiError (ANSAI_CONFIG_INVALID) when the section is malformed.
 */
export function createHttpResponseCollector(input: z.input<typeof httpResponseConfigSchema> = {}): Collector {
  const config: HttpResponseConfig = parseSection("http_response", httpResponseConfigSchema, input);
  return {
    name: "http_response",
    async collect(ctx) {
      const points = await Promise.all(
        config.targets.map(async (t) => {
          let ca: string[] | undefined;
          try {
            ca = await trustedCas(t);
          } catch (err) {
            ctx.reportError(t.url, err);
            return undefined;
          }
          return httpResponsePoint(ctx, t, await probeHttp(t, ca));
        }),
      );
      return points.filter((p): p is Point => p !== undefined);
    },
  };
}
