// Writes docs/CONFIG.md, the configuration reference, from the zod config schema.
// Run: npx tsx scripts/config-reference.ts   (add --check to only compare with the committed file)
// src/config/reference.test.ts fails while the committed reference is out of date.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_REFERENCE_COMMAND, CONFIG_REFERENCE_FILE, renderConfigReference } from "../src/config/reference.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = path.join(ROOT, CONFIG_REFERENCE_FILE);
const generated = renderConfigReference();

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(file, "utf8");
  } catch {
    // Missing counts as out of date.
  }
  if (committed !== generated) {
    process.stderr.write(`${CONFIG_REFERENCE_FILE} is out of date: run ${CONFIG_REFERENCE_COMMAND}\n`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(file, generated);
  process.stdout.write(`wrote ${CONFIG_REFERENCE_FILE}\n`);
}
