// Writes docs/CONFIG.md, the configuration reference, from the zod config schema.
// Run: npx tsx scripts/config-reference.ts   (add --check to only compare with the committed file)
// src/config/reference.test.ts fails while the committed reference is out of date.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_REFERENCE_COMMAND, CONFIG_REFERENCE_FILE, renderConfigReference } from "../src/config/reference.js";
import { writeOrCheck } from "./generated-file.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = path.join(ROOT, CONFIG_REFERENCE_FILE);
const generated = renderConfigReference();

writeOrCheck(file, CONFIG_REFERENCE_FILE, generated, CONFIG_REFERENCE_COMMAND);
