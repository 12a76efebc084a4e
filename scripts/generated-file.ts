import { readFileSync, writeFileSync } from "node:fs";

/**
 * Writes a generated file, or with --check on the command line only compares it with the committed
 * one and fails (exit code 1) naming `command` when they differ; a missing file counts as out of date.
 */
export function writeOrCheck(file: string, label: string, generated: string, command: string): void {
  if (!process.argv.includes("--check")) {
    writeFileSync(file, generated);
    process.stdout.write(`wrote ${label}\n`);
    return;
  }
  let committed = "";
  try {
    committed = readFileSync(file, "utf8");
  } catch {
    // Missing counts as out of date.
  }
  if (committed !== generated) {
    process.stderr.write(`${label} is out of date: run ${command}\n`);
    process.exitCode = 1;
  }
}
