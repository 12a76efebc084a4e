import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_REFERENCE_COMMAND, formatValue, renderConfigReference, type JsonSchemaNode } from "./reference.js";

describe("docs/CONFIG.md", () => {
  it("matches the config schema", () => {
    const committed = readFileSync(new URL("../../docs/CONFIG.md", import.meta.url), "utf8");
    expect(committed, `docs/CONFIG.md is out of date: run ${CONFIG_REFERENCE_COMMAND}`).toBe(renderConfigReference());
  });
});

describe("renderConfigReference", () => {
  const schema: JsonSchemaNode = {
    type: "object",
    required: ["name"],
    properties: {
      name: { type: "string", description: "Who | what." },
      every: { type: "string", pattern: "^(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+$", default: "10s" },
      mode: { type: "string", enum: ["a", "b", "c"], default: "a" },
      sub: { type: "object", default: {}, description: "A section.", properties: { n: { type: "integer", minimum: 1, maximum: 9, default: 3 } } },
      acts: {
        type: "array",
        default: [],
        items: {
          oneOf: [
            { type: "object", required: ["type"], properties: { id: { type: "string" }, type: { type: "string", const: "x" }, argv: { type: "array", items: { type: "string" } } } },
            { type: "object", required: ["type"], properties: { id: { type: "string" }, type: { type: "string", const: "y" }, url: { type: "string" } } },
          ],
        },
      },
    },
  };
  const text = renderConfigReference(schema);

  it.each([
    ["a required key", "| `name` | string | **required** | Who \\| what. |"],
    ["a duration with its default", "| `every` | duration | `10s` |  |"],
    ["enum values", "| `mode` | one of `a`, `b`, `c` | `a` |  |"],
    ["a link to a nested section", "| `sub` | [section](#sub) |  | A section. |"],
    ["a nested section's heading and description", "## sub\n\nA section.\n"],
    ["a bounded integer", "| `n` | integer 1–9 | `3` |  |"],
    ["keys shared by every variant once", "## acts[]\n\n| key | type | default | description |\n|---|---|---|---|\n| `id` | string | — |  |\n| `type` | [`x`](#actstypex) or [`y`](#actstypey) | **required** |"],
    ["each variant's own keys", "## acts[type=y]\n\n| key | type | default | description |\n|---|---|---|---|\n| `type` | `y` | **required** |  |\n| `url` | string | — |  |"],
  ])("renders %s", (_what, expected) => {
    expect(text).toContain(expected);
  });

  it("tells variants apart by an enum key too, naming each branch by its values", () => {
    const relabel: JsonSchemaNode = {
      type: "object",
      properties: {
        rules: {
          type: "array",
          items: {
            anyOf: [
              { type: "object", required: ["action"], properties: { action: { type: "string", enum: ["drop", "keep"] }, regex: { type: "string" } } },
              { type: "object", required: ["action"], properties: { action: { type: "string", const: "rename" }, to: { type: "string" } } },
            ],
          },
        },
      },
    };
    const out = renderConfigReference(relabel);
    expect(out).toContain("| `action` | [`drop/keep`](#rulesactiondropkeep) or [`rename`](#rulesactionrename) | **required** |");
    expect(out).toContain("## rules[action=drop/keep]");
  });

  it("is deterministic", () => {
    expect(renderConfigReference(schema)).toBe(text);
  });

  it.each([
    ["10s", "10s"],
    ["", '""'],
    ["{{series}} in {{eta}}", '"{{series}} in {{eta}}"'],
    [["host"], "[host]"],
    [{ a: 1 }, "{a: 1}"],
    [true, "true"],
  ])("formats the default %j as %s", (value, expected) => {
    expect(formatValue(value)).toBe(expected);
  });
});
