import { z } from "zod";
import { parseDurationMs } from "../core/duration.js";

/** A time: epoch milliseconds, RFC 3339, or relative to now as "-1h". */
export const timeParam = z.string().transform((text, ctx) => {
  if (/^\d+$/.test(text)) return Number(text);
  if (text.startsWith("-")) {
    const ago = parseDurationMs(text.slice(1));
    if (ago !== undefined) return { agoMs: ago };
  }
  const parsed = Date.parse(text);
  if (!Number.isNaN(parsed)) return parsed;
  ctx.addIssue({ code: "custom", message: `"${text}" is not a time: use epoch ms, RFC 3339 or a relative time such as -1h` });
  return z.NEVER;
});

export const durationParam = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms !== undefined && ms > 0) return ms;
  ctx.addIssue({ code: "custom", message: `"${text}" is not a duration: use e.g. 15s, 1m, 1h` });
  return z.NEVER;
});

/** Resolves a parsed time parameter against now. */
export function resolveTime(t: number | { agoMs: number } | undefined, nowMs: number, fallbackMs: number): number {
  if (t === undefined) return fallbackMs;
  return typeof t === "number" ? t : nowMs - t.agoMs;
}

/** `tag.host=web-01&tag.path=/var` → { host: "web-01", path: "/var" }. */
export function tagParams(query: Record<string, unknown>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key.startsWith("tag.") && typeof value === "string") tags[key.slice(4)] = value;
  }
  return tags;
}

/** Formats zod issues of a query string as one line. */
export function describeParamIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; ");
}
