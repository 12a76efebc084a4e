import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { hashToken } from "../api/auth.js";
import { apiConfigSchema } from "../api/config.js";
import { runToken } from "./token.js";

function run(argv: string[]): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = runToken(argv, { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } });
  return { code, out, err };
}

describe("ansai token create", () => {
  it("prints a fresh random token and the api.tokens entry holding its SHA-256", () => {
    const first = run(["create", "--name", "grafana", "--scopes", "read,write,read"]);
    expect(first.code).toBe(0);
    const token = /^token: (\S+)$/m.exec(first.out)?.[1] ?? "";
    expect(token).toMatch(/^ansai_[A-Za-z0-9_-]{43}$/);
    const yaml = first.out.slice(first.out.indexOf("api:"), first.out.indexOf("\nClients"));
    const api = apiConfigSchema.parse((parse(yaml) as { api: unknown }).api);
    expect(api.tokens).toEqual([{ name: "grafana", token_sha256: hashToken(token), scopes: ["read", "write"] }]);
    expect(first.out).not.toContain(`token_sha256: ${token}`);
    const second = run(["create", "--name", "grafana", "--scopes", "read"]);
    expect(/^token: (\S+)$/m.exec(second.out)?.[1]).not.toBe(token);
  });

  it.each([
    [["create", "--scopes", "read"], /--name is required/],
    [["create", "--name", "x"], /--scopes is required/],
    [["create", "--name", "x", "--scopes", "read,root"], /unknown scope "root"/],
    [["make", "--name", "x", "--scopes", "read"], /did you mean `ansai token create`/],
    [["create", "--name", "x", "--scopes", "read", "--bogus"], /bogus/],
  ])("refuses %j with exit code 2", (argv, message) => {
    const { code, err, out } = run(argv);
    expect(code).toBe(2);
    expect(err).toMatch(message);
    expect(out).toBe("");
  });
});
