import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateOpenApiDocument, OPENAPI_DOCUMENT_FILE } from "./openapi-document.js";

describe("docs/openapi.json", () => {
  it("matches the routes' schemas (regenerate with: npx tsx scripts/openapi.ts)", async () => {
    const committed = readFileSync(new URL(`../../${OPENAPI_DOCUMENT_FILE}`, import.meta.url), "utf8");
    const generated = await generateOpenApiDocument();
    // Compared as text so the failure shows the lines that changed.
    expect(committed, "docs/openapi.json is out of date: run npx tsx scripts/openapi.ts").toBe(generated);
  });

  it("gives every operation an operationId, a summary, tags, a scope and its problem responses", async () => {
    const doc = JSON.parse(await generateOpenApiDocument()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId?: string; summary?: string; tags?: string[]; "x-ansai-scope"?: string; responses: Record<string, unknown> }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const ids = new Set<string>();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.operationId, where).toMatch(/^[a-z][A-Za-z0-9]+$/);
        expect(ids.has(op.operationId ?? ""), `${where}: operationId ${op.operationId} is used twice`).toBe(false);
        ids.add(op.operationId ?? "");
        expect(op.summary, where).toBeTruthy();
        expect(op.tags?.length, where).toBeGreaterThan(0);
        expect(op["x-ansai-scope"], where).toMatch(/^(public|read|write|admin|agent)$/);
        if (op["x-ansai-scope"] !== "public") expect(Object.keys(op.responses), where).toContain("4XX");
      }
    }
  });
});
