import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { hashToken, scopeAllows } from "./auth.js";
import { apiConfigSchema, DEFAULT_API_PORT, resolveApiSecurity } from "./config.js";

const dir = mkdtempSync(path.join(tmpdir(), "ansai-api-config-"));
const HASH = hashToken("some-token-0123456789");

describe("apiConfigSchema", () => {
  it("defaults to loopback, no tokens, no TLS, no CORS, a rate limit", () => {
    expect(apiConfigSchema.parse(undefined)).toEqual({
      listen: "127.0.0.1",
      port: DEFAULT_API_PORT,
      tokens: [],
      rate_limit: { max: 600, window: "1m" },
      cors_origins: [],
      max_json_bytes: 65_536,
    });
  });

  it.each([
    ["neither hash nor file", { name: "a", scopes: ["read"] }, /exactly one of token_sha256 or token_file/],
    ["both hash and file", { name: "a", token_sha256: HASH, token_file: "f", scopes: ["read"] }, /exactly one/],
    ["a hash that is not hex SHA-256", { name: "a", token_sha256: "abc", scopes: ["read"] }, /64 lowercase hex digits/],
    ["an unknown scope", { name: "a", token_sha256: HASH, scopes: ["root"] }, /read|write|admin/],
    ["no scope", { name: "a", token_sha256: HASH, scopes: [] }, /too small|>=1/i],
  ])("refuses a token with %s", (_name, token, message) => {
    const res = apiConfigSchema.safeParse({ tokens: [token] });
    expect(res.success).toBe(false);
    expect(res.error?.message).toMatch(message);
  });

  it("refuses two tokens with one name", () => {
    const t = { name: "a", token_sha256: HASH, scopes: ["read"] };
    expect(apiConfigSchema.safeParse({ tokens: [t, t] }).error?.message).toMatch(/unique/);
  });
});

describe("resolveApiSecurity", () => {
  it("hashes token files, keeps hashes, and makes server.write_tokens write-scoped tokens", () => {
    writeFileSync(path.join(dir, "grafana.token"), "file-token-0123456789\n");
    const api = apiConfigSchema.parse({
      tokens: [
        { name: "ops", token_sha256: HASH, scopes: ["admin", "admin"] },
        { name: "grafana", token_file: "grafana.token", scopes: ["read"] },
      ],
      rate_limit: { max: 10, window: "30s" },
    });
    const security = resolveApiSecurity(api, { writeTokens: [{ name: "telegraf", token: "telegraf-token-0123" }], cwd: dir });
    expect(security.tokens).toEqual([
      { name: "ops", sha256: HASH, scopes: ["admin"] },
      { name: "grafana", sha256: hashToken("file-token-0123456789"), scopes: ["read"] },
      { name: "telegraf", sha256: hashToken("telegraf-token-0123"), scopes: ["write"] },
    ]);
    expect(security.rateLimit).toEqual({ max: 10, windowMs: 30_000 });
    expect(security.tls).toBeUndefined();
  });

  it.each([
    ["a missing token file", { tokens: [{ name: "g", token_file: "missing.token", scopes: ["read"] }] }, /api\.tokens\[0\]\.token_file ".*missing\.token"/],
    ["an empty token file", { tokens: [{ name: "g", token_file: "empty.token", scopes: ["read"] }] }, /empty\.token".*empty/],
    ["a missing certificate", { tls: { cert_file: "nope.pem", key_file: "nope.key" } }, /api\.tls\.cert_file ".*nope\.pem"/],
    ["a certificate that is no PEM", { tls: { cert_file: "junk.pem", key_file: "junk.pem" } }, /junk\.pem" and ".*junk\.pem" are not a usable PEM/],
  ])("names the file when %s cannot be used", (_name, section, message) => {
    writeFileSync(path.join(dir, "empty.token"), "  \n");
    writeFileSync(path.join(dir, "junk.pem"), "not a certificate\n");
    let caught: unknown;
    try {
      resolveApiSecurity(apiConfigSchema.parse(section), { writeTokens: [], cwd: dir });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AnsaiError);
    expect((caught as AnsaiError).code).toBe(ErrorCodes.API_SECRET_UNREADABLE);
    expect((caught as AnsaiError).message).toMatch(message);
  });
});

describe("tokens and scopes", () => {
  it("hashes as SHA-256 hex", () => {
    expect(hashToken("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it.each([
    [["read"], "read", true],
    [["read"], "write", false],
    [["write"], "read", false],
    [["read", "write"], "admin", false],
    [["admin"], "read", true],
    [["admin"], "write", true],
    [["admin"], "admin", true],
    [[], "public", true],
  ] as const)("%j covers %s: %s", (scopes, needed, allowed) => {
    expect(scopeAllows(scopes, needed)).toBe(allowed);
  });
});
