import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "./load.js";

// Every ```yaml block in docs/*.md is an ANSAI config and must load as one, so the docs cannot
// drift from the schema. Blocks whose first line is `# not ansai config` (docker-compose, Grafana,
// Alertmanager snippets) only have to be valid YAML.

const SKIP_MARK = "# not ansai config";
const DOCS = new URL("../../docs/", import.meta.url);

interface Block {
  /** `docs/file.md:line` of the block's first line of YAML. */
  where: string;
  text: string;
}

function yamlBlocks(): Block[] {
  const files = readdirSync(DOCS).filter((f) => f.endsWith(".md")).sort();
  return files.flatMap((file) => {
    const text = readFileSync(new URL(file, DOCS), "utf8");
    // Fences may be indented (inside a list item); the block's lines lose that indent.
    return [...text.matchAll(/^( *)```yaml[^\n]*\n([\s\S]*?)^\1```/gm)].map((m) => {
      const indent = m[1] ?? "";
      const lines = (m[2] ?? "").split("\n").map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line));
      return { where: `docs/${file}:${text.slice(0, m.index).split("\n").length + 1}`, text: lines.join("\n") };
    });
  });
}

const blocks = yamlBlocks();
const configs = blocks.filter((b) => !b.text.startsWith(SKIP_MARK));
const others = blocks.filter((b) => b.text.startsWith(SKIP_MARK));

describe("the YAML examples in docs/", () => {
  it("has config examples", () => expect(configs.length).toBeGreaterThan(10));

  it.each(configs.map((b) => [b.where, b.text]))("%s is a valid ANSAI config", (where, text) => {
    expect(() => parseConfig(text, where)).not.toThrow();
  });

  it.each(others.map((b) => [b.where, b.text]))("%s (not ANSAI config) is valid YAML", (_where, text) => {
    const errors = parseAllDocuments(text).flatMap((d) => ("errors" in d ? d.errors : []));
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
