// Writes docs/openapi.json, the OpenAPI document of the HTTP API, from the routes' zod schemas.
// Run: npx tsx scripts/openapi.ts   (add --check to only compare with the committed file)
// src/api/openapi.test.ts fails while the committed document is out of date.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateOpenApiDocument, OPENAPI_DOCUMENT_FILE } from "../src/api/openapi-document.js";
import { writeOrCheck } from "./generated-file.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = path.join(ROOT, OPENAPI_DOCUMENT_FILE);
const generated = await generateOpenApiDocument();

writeOrCheck(file, OPENAPI_DOCUMENT_FILE, generated, "npx tsx scripts/openapi.ts");
