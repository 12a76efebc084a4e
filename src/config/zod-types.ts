import { z } from "zod";
import { DURATION_PATTERN, parseDurationMs } from "../core/duration.js";
import { isRegexMatcher } from "../core/tag-match.js";

// Shared building blocks for config schemas: the main schema and each plugin's own section.

/** Durations are strings in the file and the effective config; `durationMs` converts at the point of use. */
export const duration = z
  .string()
  .regex(DURATION_PATTERN, 'expected a duration such as "15s", "5m", "4h" or "14d"')
  .describe('A duration: a number and a unit (ms, s, m, h, d, w), e.g. "15s", "4h", "1h30m".');

export function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

export const regex = z.string().refine(isValidRegex, { message: "expected a valid regular expression" });

/** Tag matchers: exact values, or "/regex/" checked here so a bad one is reported with its place in the file. */
export const tagMatchers = z
  .record(z.string(), z.string().refine((v) => !isRegexMatcher(v) || isValidRegex(v.slice(1, -1)), { message: "expected a valid regular expression between the slashes" }))
  .default({});

/** A validated duration string in milliseconds. */
export function durationMs(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new Error(`not a duration: ${text}`);
  return ms;
}
