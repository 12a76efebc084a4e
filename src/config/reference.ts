import { DURATION_PATTERN } from "../core/duration.js";
import { configJsonSchema } from "./schema.js";

// Renders docs/CONFIG.md from the config's JSON Schema (itself generated from the zod
// schema), so the reference can never drift from what the loader accepts.
// scripts/config-reference.ts writes the file; src/config/reference.test.ts checks it.

/** Where the generated reference lives, relative to the repository root. */
export const CONFIG_REFERENCE_FILE = "docs/CONFIG.md";

/** The command that regenerates the reference. */
export const CONFIG_REFERENCE_COMMAND = "npx tsx scripts/config-reference.ts";

/** The subset of JSON Schema (draft 2020-12) that `z.toJSONSchema` emits for the config. */
export interface JsonSchemaNode {
  type?: string;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  additionalProperties?: JsonSchemaNode | boolean;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  $ref?: string;
  $defs?: Record<string, JsonSchemaNode>;
}

/** One heading of the reference: a mapping of keys (a section, a list item, a variant). */
interface Section {
  path: string;
  description?: string;
  rows: Row[];
}

interface Row {
  key: string;
  type: string;
  /** Path of the section that details this key's value, if any. */
  link?: string;
  /** Variants of a list item: each value of `type` with the path of its section. */
  variants?: { value: string; path: string }[];
  defaultText: string;
  description: string;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const SAFE_MIN = Number.MIN_SAFE_INTEGER;

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function createSlugger(): (heading: string) => string {
  const seen = new Map<string, number>();
  return (heading) => {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  };
}

const isSection = (n: JsonSchemaNode): boolean => n.type === "object" && n.properties !== undefined;
const code = (text: string): string => `\`${text}\``;
/** Table cells: a pipe would end the cell, a newline the row. */
const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** A default as it is written in YAML: bare strings, flow lists and mappings. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") return value === "" || /^[\s[{]|[:#]\s|\s$/.test(value) ? JSON.stringify(value) : value;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`).join(", ")}}`;
  }
  return String(value);
}

function numberType(n: JsonSchemaNode): string {
  const name = n.type === "integer" ? "integer" : "number";
  const min = n.minimum !== undefined && n.minimum > SAFE_MIN ? n.minimum : undefined;
  const max = n.maximum !== undefined && n.maximum < SAFE_MAX ? n.maximum : undefined;
  if (n.exclusiveMinimum !== undefined) return `${name} > ${n.exclusiveMinimum}`;
  if (min !== undefined && max !== undefined) return `${name} ${min}–${max}`;
  if (min !== undefined) return `${name} ≥ ${min}`;
  if (max !== undefined) return `${name} ≤ ${max}`;
  return name;
}

/** `a or b`, or `one of a, b, c`. */
const oneOf = (values: string[]): string => (values.length > 2 ? `one of ${values.join(", ")}` : values.join(" or "));

/** Keys of an object branch, for naming it: `{measurement, field, on, fallback}`. */
const shapeOf = (n: JsonSchemaNode): string => `{${Object.keys(n.properties ?? {}).join(", ")}}`;

/** The value type of one key, in words. */
function typeOf(n: JsonSchemaNode, root: JsonSchemaNode): string {
  if (n.$ref !== undefined) return refType(n.$ref, root);
  if (n.const !== undefined) return code(formatValue(n.const));
  if (n.enum !== undefined) return oneOf(n.enum.map((v) => code(formatValue(v))));
  const branches = n.anyOf ?? n.oneOf;
  if (branches !== undefined) return branches.map((b) => (isSection(b) ? `mapping ${shapeOf(b)}` : typeOf(b, root))).join(" or ");
  switch (n.type) {
    case "string":
      if (n.pattern === DURATION_PATTERN.source) return "duration";
      return n.format === "uri" ? "URL" : "string";
    case "integer":
    case "number":
      return numberType(n);
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = n.items === undefined ? "any" : isSection(n.items) || variantsOf(n.items) !== undefined ? "mappings" : typeOf(n.items, root);
      return `${n.minItems !== undefined && n.minItems > 0 ? "non-empty list" : "list"} of ${item}`;
    }
    case "object":
      if (isSection(n)) return "section";
      if (typeof n.additionalProperties === "object") return `map of string to ${typeOf(n.additionalProperties, root)}`;
      return "mapping";
    default:
      return "any";
  }
}

/** A `$ref` names a shared definition; the only one today is zod's recursive JSON value. */
function refType(ref: string, root: JsonSchemaNode): string {
  const name = ref.replace(/^#\/\$defs\//, "");
  const def = root.$defs?.[name];
  if (def === undefined) return "any";
  return JSON.stringify(def).includes(`"${ref}"`) ? "any JSON value" : typeOf(def, root);
}

function defaultOf(n: JsonSchemaNode, required: boolean): string {
  if (required) return "**required**";
  if (isSection(n)) return "";
  if (n.default === undefined) return "—";
  return code(formatValue(n.default));
}

/** Items of a list told apart by one key (`type`, `action`): its name and each branch's values. */
interface Variants {
  key: string;
  branches: { node: JsonSchemaNode; values: unknown[] }[];
}

/** The variants of a union whose branches all fix one key to a constant or an enum, or undefined. */
function variantsOf(n: JsonSchemaNode): Variants | undefined {
  const branches = n.anyOf ?? n.oneOf;
  if (branches === undefined || branches.length < 2 || !branches.every(isSection)) return undefined;
  const fixedValues = (b: JsonSchemaNode, key: string): unknown[] | undefined => {
    const p = b.properties?.[key];
    return p?.const !== undefined ? [p.const] : p?.enum;
  };
  const key = Object.keys(branches[0]?.properties ?? {}).find((k) => branches.every((b) => fixedValues(b, k) !== undefined));
  if (key === undefined) return undefined;
  return { key, branches: branches.map((node) => ({ node, values: fixedValues(node, key) ?? [] })) };
}

/** The section that details a key's value: its own mapping, or its list items. */
function linkOf(path: string, n: JsonSchemaNode): string | undefined {
  if (isSection(n)) return path;
  if (n.type === "array" && n.items !== undefined && (isSection(n.items) || variantsOf(n.items) !== undefined)) return `${path}[]`;
  return undefined;
}

/** Walks the schema, collecting one section per mapping, depth first in schema order. */
class Walker {
  readonly sections: Section[] = [];
  constructor(private readonly root: JsonSchemaNode) {}

  section(path: string, n: JsonSchemaNode, description = n.description, only?: ReadonlySet<string>): Section {
    const target: Section = { path, rows: [], ...(description === undefined ? {} : { description }) };
    this.sections.push(target);
    const required = new Set(n.required ?? []);
    for (const [key, child] of Object.entries(n.properties ?? {})) {
      if (only !== undefined && !only.has(key)) continue;
      const childPath = `${path === "" ? "" : `${path}.`}${key}`;
      target.rows.push(this.row(key, child, required.has(key), linkOf(childPath, child)));
      this.children(childPath, child);
    }
    return target;
  }

  private row(key: string, n: JsonSchemaNode, required: boolean, link: string | undefined): Row {
    return { key, type: typeOf(n, this.root), defaultText: defaultOf(n, required), description: n.description ?? "", ...(link === undefined ? {} : { link }) };
  }

  /** Sub-sections below a key: its mapping, its list items, its variants, its mapping forms. */
  private children(path: string, n: JsonSchemaNode): void {
    if (isSection(n)) {
      this.section(path, n);
      return;
    }
    if (n.type === "array" && n.items !== undefined) return this.items(`${path}[]`, n.items, n.description);
    if (n.type === "object" && typeof n.additionalProperties === "object" && isSection(n.additionalProperties)) {
      this.section(`${path}.<name>`, n.additionalProperties);
      return;
    }
    for (const branch of n.anyOf ?? n.oneOf ?? []) {
      if (isSection(branch)) this.section(`${path} as ${shapeOf(branch)}`, branch, branch.description);
    }
  }

  private items(path: string, item: JsonSchemaNode, listDescription: string | undefined): void {
    const variants = variantsOf(item);
    if (variants === undefined) {
      if (isSection(item)) this.section(path, item, item.description ?? listDescription);
      return;
    }
    // Keys identical in every variant are listed once; each variant then lists its own.
    const nodes = variants.branches.map((b) => b.node);
    const first = nodes[0] as JsonSchemaNode;
    const common = Object.keys(first.properties ?? {}).filter((key) => {
      const text = JSON.stringify(first.properties?.[key]);
      return key !== variants.key && nodes.every((v) => v.properties?.[key] !== undefined && JSON.stringify(v.properties[key]) === text);
    });
    const commonSet = new Set(common);
    const listed = this.section(path, first, listDescription, commonSet);
    const kinds = variants.branches.map((b) => {
      const value = b.values.map(formatValue).join("/");
      return { node: b.node, value, path: `${path.slice(0, -2)}[${variants.key}=${value}]` };
    });
    listed.rows.push({
      key: variants.key,
      type: oneOf(kinds.map((k) => code(k.value))),
      defaultText: "**required**",
      description: "Selects the kind of item; each kind has its own keys, listed below.",
      variants: kinds.map(({ value, path: p }) => ({ value, path: p })),
    });
    for (const k of kinds) {
      const own = new Set(Object.keys(k.node.properties ?? {}).filter((key) => !commonSet.has(key)));
      this.section(k.path, k.node, k.node.properties?.[variants.key]?.description, own);
    }
  }
}

const titleOf = (s: Section): string => (s.path === "" ? "Top level" : s.path);

function renderSection(s: Section, level: number, anchors: ReadonlyMap<string, string>): string {
  const lines = [`${"#".repeat(level)} ${titleOf(s)}`, ""];
  if (s.description !== undefined) lines.push(s.description, "");
  if (s.rows.length === 0) return lines.join("\n");
  lines.push("| key | type | default | description |", "|---|---|---|---|");
  for (const r of s.rows) {
    const anchor = r.link === undefined ? undefined : anchors.get(r.link);
    let type = anchor === undefined ? cell(r.type) : `[${cell(r.type)}](#${anchor})`;
    if (r.variants !== undefined) type = oneOf(r.variants.map((v) => `[${code(v.value)}](#${anchors.get(v.path) ?? ""})`));
    lines.push(`| ${code(r.key)} | ${type} | ${cell(r.defaultText)} | ${cell(r.description)} |`);
  }
  lines.push("");
  return lines.join("\n");
}

const INTRO = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`${CONFIG_REFERENCE_COMMAND}\`. Do not edit by hand. -->

ANSAI reads one optional YAML file: \`--config FILE\`, else \`./ansai.yaml\`, else
\`/etc/ansai/ansai.yaml\`, else the defaults below. \`ansai check\` validates a file and prints the
effective config; \`ansai config schema\` prints the JSON Schema for editors.

- Every key may be left out unless its default says **required**; unknown keys are refused.
- A *duration* is a string: a number and a unit (\`ms\`, \`s\`, \`m\`, \`h\`, \`d\`, \`w\`), e.g. \`15s\`, \`4h\`, \`1h30m\`.
- Tag matchers map a tag to an exact value, or to \`"/regex/"\`.
- \`path[]\` is one item of a list; \`path[type=X]\` lists the keys of the items whose \`type\` is X
  (\`a/b\`: either value).
`;

/** The whole reference as Markdown; the same schema always gives the same text. */
export function renderConfigReference(schema: JsonSchemaNode = configJsonSchema() as JsonSchemaNode): string {
  const walker = new Walker(schema);
  walker.section("", schema, undefined);
  const slug = createSlugger();
  // The headings above the sections take their anchors first, as on GitHub.
  slug("Configuration reference");
  slug("Contents");
  const anchors = new Map(walker.sections.map((s) => [s.path, slug(titleOf(s))]));
  const toc = walker.sections.map((s) => {
    const depth = s.path === "" ? 0 : Math.min(3, s.path.split(".").length - 1);
    return `${"  ".repeat(depth)}- [${titleOf(s)}](#${anchors.get(s.path) ?? ""})`;
  });
  const body = walker.sections.map((s) => renderSection(s, s.path === "" || !s.path.includes(".") ? 2 : 3, anchors));
  return `${INTRO}\n## Contents\n\n${toc.join("\n")}\n\n${body.join("\n").trimEnd()}\n`;
}
