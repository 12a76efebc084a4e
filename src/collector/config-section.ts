import type { z } from "zod";
import { AnsaiError, ErrorCodes } from "../core/errors.js";

/**
 * Validates a collector's config section and applies its defaults. A collector built from code
 * (tests, embedders) gets the same checks as the config file; a failure is ANSAI_CONFIG_INVALID
 * naming the key, and the item's `name` when the key is inside a named list entry.
 */
export function parseSection<S extends z.ZodType>(plugin: string, schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${describePath(plugin, input, i.path)}: ${i.message}`);
  throw new AnsaiError(
    ErrorCodes.CONFIG_INVALID,
    `invalid collectors.${plugin} config: ${issues.join("; ")}`,
    `Fix the listed keys under collectors.${plugin}; \`ansai check\` validates a config file without starting.`,
  );
}

/** `plugin.match[2] ("worker").pattern`: the path, with list entries' names where they have one. */
function describePath(plugin: string, input: unknown, path: ReadonlyArray<PropertyKey>): string {
  let out = `collectors.${plugin}`;
  let at: unknown = input;
  for (const key of path) {
    at = typeof at === "object" && at !== null ? (at as Record<PropertyKey, unknown>)[key] : undefined;
    if (typeof key !== "number") {
      out += `.${String(key)}`;
      continue;
    }
    const name = typeof at === "object" && at !== null ? (at as { name?: unknown }).name : undefined;
    out += typeof name === "string" ? `[${key}] ("${name}")` : `[${key}]`;
  }
  return out;
}
