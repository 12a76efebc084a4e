import { mkdtempSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiConfigSchema, resolveApiSecurity } from "../../src/api/config.js";
import { offlineApiDeps } from "../../src/api/openapi-document.js";
import { buildApi } from "../../src/api/server.js";
import { createTestCa, type TestCa } from "../support/openssl-pki.js";

const TOKEN = "tls-test-token-0123456789";

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** One HTTPS GET trusting only the test CA. */
function get(url: string, ca: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }));
    });
    req.on("error", reject);
  });
}

/** The API over a real TLS socket: certificate from files made with openssl, token from a file. */
describe("the API over HTTPS", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-api-tls-"));
  let ca: TestCa;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    ca = createTestCa(dir, "ANSAI API test CA");
    const leaf = ca.issue({ cn: "ansai-api", san: "IP:127.0.0.1,DNS:localhost", notBeforeMs: Date.now() - 60_000, notAfterMs: Date.now() + 86_400_000 });
    writeFileSync(path.join(dir, "api.token"), `${TOKEN}\n`);
    const api = apiConfigSchema.parse({
      tls: { cert_file: leaf.certPath, key_file: leaf.keyPath },
      tokens: [{ name: "ops", token_file: "api.token", scopes: ["read"] }],
    });
    app = buildApi(offlineApiDeps({ security: resolveApiSecurity(api, { writeTokens: [], cwd: dir }) }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    base = `https://127.0.0.1:${address.port}`;
  });
  afterAll(async () => app?.close());

  it("serves the status to the token read from token_file", async () => {
    const res = await get(`${base}/api/v1/status`, ca.certPem, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ version: "offline", predictions: [], alerts: [] });
  });

  it("refuses a request without the token with a 401 problem", async () => {
    const res = await get(`${base}/api/v1/status`, ca.certPem);
    expect(res.status).toBe(401);
    expect(res.type).toContain("application/problem+json");
    expect(JSON.parse(res.body)).toMatchObject({ code: "ANSAI_API_UNAUTHORIZED" });
  });

  it("is a TLS server a client without the CA does not trust", async () => {
    await expect(get(`${base}/healthz`, "")).rejects.toThrow(/self.signed|unable to (get|verify)|certificate/i);
  });
});
