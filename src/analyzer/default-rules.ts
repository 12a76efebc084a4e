import type { Severity } from "../core/contracts.js";
import type { RuleSpec } from "./rules.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

const DISK_SUMMARY = "{{tags.path}} on {{tags.host}} full in {{eta}} ({{eta_low}} – {{eta_high}})";

/** A disk's used_percent reaching 100 within the horizon, trend over the last 6 h. */
function diskFullRule(name: string, severity: Severity, horizonMs: number, forMs: number): RuleSpec {
  return {
    name,
    severity,
    match: { measurement: "disk", field: "used_percent" },
    threshold: { value: 100 },
    horizonMs,
    forMs,
    windowMs: 6 * HOUR_MS,
    minSamples: 5,
    summary: DISK_SUMMARY,
  };
}

/** Rules that run with no configuration. Names follow Telegraf's measurements and fields. */
export const defaultRules: RuleSpec[] = [
  diskFullRule("disk_full_24h", "warning", 24 * HOUR_MS, 10 * MINUTE_MS),
  diskFullRule("disk_full_4h", "critical", 4 * HOUR_MS, 5 * MINUTE_MS),
  {
    name: "process_memory_limit",
    severity: "warning",
    match: { measurement: "procstat", field: "memory_rss" },
    threshold: { field: "memory_limit" },
    horizonMs: 4 * HOUR_MS,
    forMs: 5 * MINUTE_MS,
    windowMs: 2 * HOUR_MS,
    minSamples: 5,
    summary: "{{tags.process_name}} (pid {{tags.pid}}) on {{tags.host}} reaches its memory limit in {{eta}} ({{eta_low}} – {{eta_high}})",
  },
];
