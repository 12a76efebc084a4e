import { readFileSync } from "node:fs";
import path from "node:path";
import { createSecureContext } from "node:tls";
import { z } from "zod";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { duration, durationMs } from "../config/zod-types.js";
import { hashToken, TOKEN_SCOPES, type ApiToken, type TokenScope } from "./auth.js";

/** Default API port: clear of Prometheus (9090), Alertmanager (9093/9094), node_exporter (9100), Grafana (3000) and InfluxDB (8086/8088). */
export const DEFAULT_API_PORT = 9847;

const SHA256_HEX = /^[0-9a-f]{64}$/;

const apiTokenSchema = z
  .strictObject({
    name: z.string().min(1).describe("Who holds the token; shown in logs and in 403 problems, never the token itself."),
    token_sha256: z
      .string()
      .regex(SHA256_HEX, "expected 64 lowercase hex digits: the SHA-256 of the token (`ansai token create` prints it)")
      .optional()
      .describe("Hex SHA-256 of the token; the token itself is never stored. `ansai token create` prints both."),
    token_file: z.string().min(1).optional().describe("A file holding the raw token (e.g. a mounted secret), hashed when ANSAI starts."),
    scopes: z
      .array(z.enum(TOKEN_SCOPES))
      .min(1)
      .describe("read: GET routes; write: ingest (/api/v2/write, /write); admin: approve actions, silence alerts, generate reports (implies read and write)."),
  })
  .refine((t) => (t.token_sha256 === undefined) !== (t.token_file === undefined), {
    message: "give exactly one of token_sha256 or token_file",
  });

/** The `api:` config section; the config schema imports it. */
export const apiConfigSchema = z
  .strictObject({
    listen: z.string().min(1).default("127.0.0.1").describe("Address to bind; keep 127.0.0.1 unless a proxy fronts it or tokens and TLS are set."),
    port: z.number().int().min(0).max(65535).default(DEFAULT_API_PORT).describe("TCP port of the API."),
    tokens: z
      .array(apiTokenSchema)
      .default([])
      .refine((tokens) => new Set(tokens.map((t) => t.name)).size === tokens.length, { message: "token names must be unique" })
      .describe("API tokens with scopes. Once any token (or server.write_tokens) is set, every route but /healthz and /ping needs one."),
    tls: z
      .strictObject({
        cert_file: z.string().min(1).describe("PEM certificate chain (leaf first)."),
        key_file: z.string().min(1).describe("PEM private key of the certificate."),
      })
      .optional()
      .describe("Serve HTTPS with these files; default: plain HTTP."),
    rate_limit: z
      .strictObject({
        max: z.number().int().min(0).default(600).describe("Requests per window per token (per client address without a token); 0: no limit."),
        window: duration.default("1m").describe("Length of the rate-limit window."),
      })
      .prefault({})
      .describe("Requests over the limit get 429 with Retry-After. Not limited: /healthz, /ping, and ingest with a valid write token (it has backpressure)."),
    cors_origins: z
      .array(z.string().min(1))
      .default([])
      .describe('Origins allowed to call the API from a browser, e.g. "https://grafana.example.com"; empty: CORS off.'),
    max_json_bytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024)
      .describe("Largest JSON request body in bytes; line-protocol and agent pushes use server.max_push_bytes."),
  })
  .prefault({});

export type ApiConfig = z.output<typeof apiConfigSchema>;

/** What buildApi needs to secure the API, with every file already read. */
export interface ApiSecurity {
  /** Configured tokens, hashed; empty: no authentication. */
  tokens: readonly ApiToken[];
  /** PEM certificate and key; absent: plain HTTP. */
  tls?: { cert: Buffer; key: Buffer };
  /** Requests per window per token or client address; 0: no limit. */
  rateLimit: { max: number; windowMs: number };
  /** Browser origins allowed by CORS; empty: no CORS headers at all. */
  corsOrigins: readonly string[];
  /** Largest JSON body in bytes. */
  maxJsonBytes: number;
}

/** The security of an API with no config: no tokens, plain HTTP, the default limits. */
export function defaultApiSecurity(): ApiSecurity {
  return resolveApiSecurity(apiConfigSchema.parse({}), { writeTokens: [], cwd: process.cwd() });
}

/**
 * Reads what the `api:` section names (token files, TLS files) once at start-up, hashes raw
 * tokens, and adds the legacy `server.write_tokens` as tokens of scope `write`.
 * Throws ANSAI_API_SECRET_UNREADABLE naming the file that cannot be used.
 */
export function resolveApiSecurity(api: ApiConfig, opts: { writeTokens: readonly { name: string; token: string }[]; cwd: string }): ApiSecurity {
  const tokens: ApiToken[] = api.tokens.map((t, i) => ({
    name: t.name,
    sha256: t.token_sha256 ?? hashToken(readSecret(opts.cwd, t.token_file ?? "", `api.tokens[${i}].token_file`).toString("utf8").trim()),
    scopes: [...new Set<TokenScope>(t.scopes)],
  }));
  for (const w of opts.writeTokens) tokens.push({ name: w.name, sha256: hashToken(w.token), scopes: ["write"] });
  return {
    tokens,
    ...(api.tls === undefined ? {} : { tls: readTls(opts.cwd, api.tls.cert_file, api.tls.key_file) }),
    rateLimit: { max: api.rate_limit.max, windowMs: durationMs(api.rate_limit.window) },
    corsOrigins: [...api.cors_origins],
    maxJsonBytes: api.max_json_bytes,
  };
}

function readSecret(cwd: string, file: string, key: string): Buffer {
  const full = path.resolve(cwd, file);
  try {
    const content = readFileSync(full);
    if (content.toString("utf8").trim() === "") throw new Error("the file is empty");
    return content;
  } catch (err) {
    throw new AnsaiError(
      ErrorCodes.API_SECRET_UNREADABLE,
      `cannot read ${key} "${full}": ${(err as Error).message}`,
      "Check the path (relative paths start at the working directory) and that the ANSAI user may read the file.",
      { cause: err },
    );
  }
}

function readTls(cwd: string, certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const cert = readSecret(cwd, certFile, "api.tls.cert_file");
  const key = readSecret(cwd, keyFile, "api.tls.key_file");
  try {
    // Fails here, naming both files, rather than deep inside the server's start.
    createSecureContext({ cert, key });
  } catch (err) {
    throw new AnsaiError(
      ErrorCodes.API_SECRET_UNREADABLE,
      `api.tls: "${path.resolve(cwd, certFile)}" and "${path.resolve(cwd, keyFile)}" are not a usable PEM certificate and key: ${(err as Error).message}`,
      "Check that cert_file holds the certificate (BEGIN CERTIFICATE) and key_file its private key: `openssl x509 -in CERT -noout -subject`, `openssl pkey -in KEY -noout`.",
      { cause: err },
    );
  }
  return { cert, key };
}
