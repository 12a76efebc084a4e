// Writes docs/openapi.json, the OpenAPI document of the HTTP API, from the routes' zod schemas.
// Run: npx tsx scripts/openapi.ts   (add --check to only compare with the committed file)
// src/api/openapi.test.ts fails while the committed document is out of date.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateOpenApiDocument, OPENAPI_DOCUMENT_FILE } from "../src/api/openapi-document.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = path.join(ROOT, OPENAPI_DOCUMENT_FILE);
const generated = await generateOpenApiDocument();

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(file, "utf8");
  } catch {
    // Missing counts as out of date.
  }
  if (committed !== generated) {
    process.stderr.write(`${OPENAPI_DOCUMENT_FILE} is out of date: run npx tsx scripts/openapi.ts\n`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(file, generated);
  process.stdout.write(`wrote ${OPENAPI_DOCUMENT_FILE}\n`);
}
