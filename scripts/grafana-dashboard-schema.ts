// Generates test/fixtures/grafana-dashboard.schema.json from @grafana/schema's Dashboard type.
// Run: npx tsx scripts/grafana-dashboard-schema.ts   (add --check to compare with the committed file)
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createGenerator } from "ts-json-schema-generator";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Where the committed schema lives; test/integration/grafana.test.ts validates every dashboard with it. */
export const DASHBOARD_SCHEMA_FILE = path.join(ROOT, "test/fixtures/grafana-dashboard.schema.json");

// The "raw" (CUE-generated) types: the published dashboard v1 JSON model, without the UI veneer.
const DASHBOARD_TYPES = path.join(ROOT, "node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts");

/** The JSON Schema of Grafana's Dashboard type, as text with a trailing newline. */
export function generateDashboardSchema(): string {
  const generator = createGenerator({
    path: DASHBOARD_TYPES,
    type: "Dashboard",
    skipTypeCheck: true,
    // Grafana keeps unknown keys it does not model (plugin options, older fields): allow them.
    additionalProperties: true,
    expose: "export",
    topRef: true,
    jsDoc: "extended",
  });
  const schema = generator.createSchema("Dashboard");
  const version = (JSON.parse(readFileSync(path.join(ROOT, "node_modules/@grafana/schema/package.json"), "utf8")) as { version: string }).version;
  return `${JSON.stringify({ $comment: `generated from @grafana/schema ${version} by scripts/grafana-dashboard-schema.ts; do not edit`, ...schema }, null, 2)}\n`;
}

function main(argv: string[]): number {
  const fresh = generateDashboardSchema();
  if (argv.includes("--check")) {
    const same = readFileSync(DASHBOARD_SCHEMA_FILE, "utf8") === fresh;
    if (!same) process.stderr.write(`${DASHBOARD_SCHEMA_FILE} is stale: run npx tsx scripts/grafana-dashboard-schema.ts\n`);
    return same ? 0 : 1;
  }
  writeFileSync(DASHBOARD_SCHEMA_FILE, fresh);
  process.stdout.write(`wrote ${DASHBOARD_SCHEMA_FILE}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
