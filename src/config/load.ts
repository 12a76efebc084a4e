import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { DURATION_PATTERN } from "../core/duration.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { configJsonSchema, configSchema, type Config } from "./schema.js";

/** Where `ansai` looks for a config when none is given, in order. */
export const DEFAULT_CONFIG_PATHS = ["ansai.yaml", "/etc/ansai/ansai.yaml"];

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or null when running on defaults. */
  file: string | null;
}

const HINT = "Fix the lines above; `ansai config schema` prints every key, and docs/CONFIG.md explains them.";

/** Finds, reads and validates the config; with no file anywhere, returns the defaults. */
export function loadConfig(opts: { file?: string; cwd: string }): LoadedConfig {
  if (opts.file !== undefined) {
    const file = path.resolve(opts.cwd, opts.file);
    return { config: parseConfig(readConfigFile(file), opts.file), file };
  }
  for (const candidate of DEFAULT_CONFIG_PATHS) {
    const file = path.resolve(opts.cwd, candidate);
    if (existsSync(file)) return { config: parseConfig(readConfigFile(file), candidate), file };
  }
  return { config: deepFreeze(configSchema.parse({})), file: null };
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : String(err);
    throw new AnsaiError(
      ErrorCodes.CONFIG_UNREADABLE,
      `cannot read config file ${file}: ${reason}`,
      "Check the path given to --config, or run without --config to use the defaults.",
      { cause: err },
    );
  }
}

/** Validates YAML text; errors name the file (as the user gave it), line, path, what was expected and a likely fix. */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const name = file;
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return `${name}:${pos.line}:${pos.col}: YAML syntax error: ${e.message.split("\n")[0]}`;
    });
    throw invalid(file, lines);
  }
  const input: unknown = doc.toJS() ?? {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw invalid(file, [`${name}:1:1: the file must be a mapping of keys (version: 1, interval: 10s, ...), got ${describeValue(input)}`]);
  }
  const result = configSchema.safeParse(input);
  if (result.success) return deepFreeze(result.data);
  const located = (p: PropertyKey[]): string => {
    const pos = positionOf(doc, lineCounter, p);
    return pos ? `${name}:${pos.line}:${pos.col}` : name;
  };
  const lines = result.error.issues.flatMap((issue) => describeIssue(issue, input, located));
  throw invalid(file, lines);
}

function invalid(file: string, lines: string[]): AnsaiError {
  const count = lines.length === 1 ? "an error" : `${lines.length} errors`;
  return new AnsaiError(ErrorCodes.CONFIG_INVALID, `config file ${file} has ${count}:\n  ${lines.join("\n  ")}`, HINT);
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, located: (p: PropertyKey[]) => string): string[] {
  const where = issue.path;
  const value = valueAt(input, where);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const keyPath = [...where, key];
        const known = knownKeysAt(where);
        const guess = closest(key, known);
        const fix = guess ? `did you mean "${guess}"?` : `valid keys here: ${known.join(", ")}`;
        return `${located(keyPath)}: ${formatPath(keyPath)}: unknown key "${key}"; ${fix}`;
      });
    case "invalid_type": {
      const isDuration = schemaNodesAt(where).some((n) => n.pattern === DURATION_PATTERN.source);
      const expected = isDuration ? 'a duration such as "15s", "5m" or "4h"' : issue.expected;
      if (value === undefined) return [`${located(where)}: ${formatPath(where)}: missing; expected ${expected}`];
      const fix = isDuration && typeof value === "number" ? `; did you mean "${value}s"?` : "";
      return [`${located(where)}: ${formatPath(where)}: expected ${expected}, got ${describeValue(value)}${fix}`];
    }
    case "invalid_value": {
      const options = issue.values.map((v) => JSON.stringify(v));
      const guess = typeof value === "string" ? closest(value, issue.values.map(String)) : undefined;
      const fix = guess ? `; did you mean "${guess}"?` : "";
      return [`${located(where)}: ${formatPath(where)}: expected ${options.join(" or ")}, got ${describeValue(value)}${fix}`];
    }
    case "invalid_union": {
      // Explain through the branch the value was meant for: the one whose base type matched.
      const meant = issue.errors
        .filter((branch) => !branch.some((e) => e.code === "invalid_type" && e.path.length === 0))
        .sort((a, b) => a.length - b.length)[0];
      if (meant) {
        return meant.flatMap((e) => describeIssue({ ...e, path: [...where, ...e.path] } as z.core.$ZodIssue, input, located));
      }
      const about = describedAt(where);
      return [`${located(where)}: ${formatPath(where)}: got ${describeValue(value)}; expected ${about ? lowerFirst(about) : "another shape"}`];
    }
    default:
      return [`${located(where)}: ${formatPath(where)}: ${lowerFirst(issue.message)}, got ${describeValue(value)}`];
  }
}

function formatPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return "(top level)";
  return p.reduce<string>((acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), "");
}

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null (an empty value)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

function valueAt(input: unknown, p: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const seg of p) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** Line and column of the key (or value) at `p` in the YAML source. */
function positionOf(doc: Document, lc: LineCounter, p: readonly PropertyKey[]): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (node as Node | null)?.range?.[0];
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lc.linePos(offset);
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  description?: string;
  pattern?: string;
};

let cachedSchema: JsonSchema | undefined;

/** The JSON Schema nodes that describe the value at `p` (several under a union). */
function schemaNodesAt(p: readonly PropertyKey[]): JsonSchema[] {
  cachedSchema ??= configJsonSchema() as JsonSchema;
  let nodes: JsonSchema[] = [cachedSchema];
  for (const seg of p) {
    const next: JsonSchema[] = [];
    for (const node of nodes.flatMap((n) => [n, ...(n.anyOf ?? [])])) {
      if (typeof seg === "number" && node.items) next.push(node.items);
      const prop = typeof seg === "string" ? node.properties?.[seg] : undefined;
      if (prop) next.push(prop);
      else if (typeof seg === "string" && typeof node.additionalProperties === "object") next.push(node.additionalProperties);
    }
    nodes = next;
  }
  return nodes.flatMap((n) => [n, ...(n.anyOf ?? [])]);
}

function knownKeysAt(p: readonly PropertyKey[]): string[] {
  return [...new Set(schemaNodesAt(p).flatMap((n) => Object.keys(n.properties ?? {})))];
}

function describedAt(p: readonly PropertyKey[]): string | undefined {
  return schemaNodesAt(p).find((n) => n.description)?.description;
}

/** The known word nearest to `word` by edit distance, if close enough to be a typo. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Edit distance where swapping two neighbours ("strat" → "start") counts as one typo. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
