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
 * Disk rules. The 24 h warning forecasts on the sawtooth-aware trend over 3 days (several daily
 * cycles), so log rotation and clean-up cycles are seen as cycles, not trends, and must hold for
 * an hour on a series with a day of history. In `bench/prometheus-quality.ts` a plain 6 h linear
 * trend fired on every busy day.
 *
 * The 4 h critical forecasts on the multi-scale linear trend over 6 h (node-mixin's window), which
 * switches to the short scale that sees only the new regime: a runaway that fills a disk in 2 h
 * is seen within minutes, where one slow fit over the window saw it only at 95 %.
 *
 * Burst rejection (backups, cron jobs: a temporary fill deleted soon after). While it ramps, a
 * burst looks exactly like a runaway; it differs in stopping. Once the ramp stops, the short
 * scales see a plateau and the ETA goes within about ten minutes (the single slow fit this rule
 * used before kept extrapolating the step for over an hour). So the 4 h critical must hold for
 * 50 min: a job whose fill ramps for up to ~35 min is not paged, while a runaway filling the disk
 * in 1.5 h is still paged ≥ 30 min ahead. A fill ramping for longer at a pace that would fill the
 * disk within 4 h is paged: while it ramps, only a daily history could tell it from a runaway.
 * The 24 h warning never reads a burst as a trend: its 3-day fit barely moves over a short ramp,
 * the deletion is a reset, and after a first reset the model stays silent until the next one or
 * for 1.5 cycles as the drop implies (sawtooth-trend.ts), so a first saw tooth is not a fill.
 */
function diskRule(name: string, severity: Severity, field: string, horizonMs: number, forMs: number, summary: string, windowMs: number, minHistoryMs = 0): RuleSpec {
  return { ...fullRule(name, severity, "disk", field, horizonMs, forMs, summary, windowMs), model: "sawtooth_trend", minHistoryMs };
}

/** The 4 h disk critical: multi-scale linear trend over 6 h, held 50 min (see above). */
function diskCriticalRule(name: string, field: string, summary: string): RuleSpec {
  return fullRule(name, "critical", "disk", field, 4 * HOUR_MS, 50 * MINUTE_MS, summary, 6 * HOUR_MS);
}

const DISK = `{{tags.path}} on {{tags.host}} full in {{eta}} ${RANGE}`;
const INODES = `{{tags.path}} on {{tags.host}} out of inodes in {{eta}} ${RANGE}`;

/** Rules that run with no configuration. Names follow Telegraf's measurements and fields. */
export const defaultRules: RuleSpec[] = [
  diskRule("disk_full_24h", "warning", "used_percent", 24 * HOUR_MS, HOUR_MS, DISK, 3 * DAY_MS, DAY_MS),
  diskCriticalRule("disk_full_4h", "used_percent", DISK),
  diskRule("disk_inodes_24h", "warning", "inodes_used_percent", 24 * HOUR_MS, HOUR_MS, INODES, 3 * DAY_MS, DAY_MS),
  diskCriticalRule("disk_inodes_4h", "inodes_used_percent", INODES),
  {
    // Fast growth to the limit, whatever the cause, on the troughs of the RSS over 3 h: a straight
    // line through a garbage collector's saw fired on every busy process in
    // bench/prometheus-quality.ts, and one through a deploy step or a warm-up on most of them.
    // The cost: growth is judged once it has lasted 1.5 h (half the window).
    name: "process_memory_limit",
    model: "leak_detector",
    severity: "warning",
    match: { measurement: "procstat", field: "memory_rss" },
    threshold: { field: "memory_limit" },
    horizonMs: 4 * HOUR_MS,
    forMs: 15 * MINUTE_MS,
    windowMs: 3 * HOUR_MS,
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
