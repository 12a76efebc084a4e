import type { Severity } from "../core/contracts.js";
import type { RuleSpec } from "./rules.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const RANGE = "({{eta_low}} – {{eta_high}})";

/** A percentage reaching 100 within the horizon, on the linear trend of the last `windowMs`. */
function fullRule(name: string, severity: Severity, measurement: string, field: string, horizonMs: number, forMs: number, summary: string, windowMs = 6 * HOUR_MS): RuleSpec {
  return {
    name,
    severity,
    match: { measurement, field },
    threshold: { value: 100 },
    horizonMs,
    forMs,
    windowMs,
    minSamples: 5,
    summary,
  };
}

/** A certificate's expiry (seconds left) reaching 0 within the horizon: exact, from the certificate. */
function certRule(name: string, severity: Severity, horizonMs: number): RuleSpec {
  return {
    name,
    model: "cert_expiry",
    severity,
    match: { measurement: "x509_cert", field: "expiry" },
    threshold: { value: 0 },
    horizonMs,
    forMs: 0,
    windowMs: DAY_MS,
    minSamples: 3,
    summary: "certificate {{tags.common_name}} ({{tags.source}}) on {{tags.host}} expires in {{eta}}",
  };
}

/**
 * Disk rules forecast on the sawtooth-aware trend, so log rotation and clean-up cycles are seen as
 * cycles, not trends. The 24 h warning weighs 3 days (several daily cycles) and must hold for an
 * hour; the 4 h critical weighs 6 h, so a disk filling in an hour or two on a new host is still
 * caught. In `bench/prometheus-quality.ts` a plain 6 h linear trend fired on every busy day.
 */
function diskRule(name: string, severity: Severity, field: string, horizonMs: number, forMs: number, summary: string, windowMs: number, minHistoryMs = 0): RuleSpec {
  return { ...fullRule(name, severity, "disk", field, horizonMs, forMs, summary, windowMs), model: "sawtooth_trend", minHistoryMs };
}

const DISK = `{{tags.path}} on {{tags.host}} full in {{eta}} ${RANGE}`;
const INODES = `{{tags.path}} on {{tags.host}} out of inodes in {{eta}} ${RANGE}`;

/** Rules that run with no configuration. Names follow Telegraf's measurements and fields. */
export const defaultRules: RuleSpec[] = [
  diskRule("disk_full_24h", "warning", "used_percent", 24 * HOUR_MS, HOUR_MS, DISK, 3 * DAY_MS, DAY_MS),
  diskRule("disk_full_4h", "critical", "used_percent", 4 * HOUR_MS, 30 * MINUTE_MS, DISK, 6 * HOUR_MS),
  diskRule("disk_inodes_24h", "warning", "inodes_used_percent", 24 * HOUR_MS, HOUR_MS, INODES, 3 * DAY_MS, DAY_MS),
  diskRule("disk_inodes_4h", "critical", "inodes_used_percent", 4 * HOUR_MS, 30 * MINUTE_MS, INODES, 6 * HOUR_MS),
  {
    name: "process_memory_limit",
    severity: "warning",
    match: { measurement: "procstat", field: "memory_rss" },
    threshold: { field: "memory_limit" },
    horizonMs: 4 * HOUR_MS,
    forMs: 5 * MINUTE_MS,
    windowMs: 2 * HOUR_MS,
    minSamples: 5,
    summary: `{{tags.process_name}} (pid {{tags.pid}}) on {{tags.host}} reaches its memory limit in {{eta}} ${RANGE}`,
  },
  {
    // The leak detector alerts only on a monotonic rise of the RSS troughs (not warm-up that
    // plateaus, not a deploy step), so it may look further ahead than the plain trend above.
    name: "process_memory_leak",
    model: "leak_detector",
    severity: "warning",
    match: { measurement: "procstat", field: "memory_rss" },
    threshold: { field: "memory_limit" },
    horizonMs: 24 * HOUR_MS,
    forMs: 15 * MINUTE_MS,
    windowMs: 6 * HOUR_MS,
    minSamples: 5,
    summary: `{{tags.process_name}} (pid {{tags.pid}}) on {{tags.host}} leaks {{rate}}: out of memory in {{eta}} ${RANGE}`,
  },
  fullRule("swap_full_4h", "warning", "swap", "used_percent", 4 * HOUR_MS, 10 * MINUTE_MS, `swap on {{tags.host}} full in {{eta}} ${RANGE}`, 2 * HOUR_MS),
  fullRule("host_fds_4h", "warning", "linux_sysctl_fs", "file_used_percent", 4 * HOUR_MS, 10 * MINUTE_MS, `open files on {{tags.host}} reach file-max in {{eta}} ${RANGE}`, 2 * HOUR_MS),
  fullRule(
    "process_fds_4h",
    "warning",
    "procstat",
    "fd_used_percent",
    4 * HOUR_MS,
    10 * MINUTE_MS,
    `{{tags.process_name}} (pid {{tags.pid}}) on {{tags.host}} reaches its open-files limit in {{eta}} ${RANGE}`,
    2 * HOUR_MS,
  ),
  {
    // No threshold exists for latency: alert when it stays far above what this endpoint normally
    // answers in (score = σ above the learned baseline), for long enough to matter.
    name: "http_latency_anomaly",
    model: "anomaly",
    severity: "warning",
    match: { measurement: "http_response", field: "response_time" },
    threshold: { value: 6 },
    horizonMs: HOUR_MS,
    forMs: 5 * MINUTE_MS,
    windowMs: HOUR_MS,
    minSamples: 30,
    summary: "{{tags.server}} (checked from {{tags.host}}) answers slowly: {{value}} s, {{score}} σ above its usual",
  },
  certRule("cert_expiry_14d", "warning", 14 * DAY_MS),
  certRule("cert_expiry_3d", "critical", 3 * DAY_MS),
];
