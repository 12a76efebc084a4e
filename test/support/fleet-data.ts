// A deterministic fleet for query tests: several hosts and disks, with gaps, in Telegraf's and ANSAI's names.
import type { Point } from "../../src/core/point.js";

export interface FleetOptions {
  /** Last sample time (ms); rounded down to the step. */
  endMs: number;
  /** Length of the history (ms). Default 3 h. */
  spanMs?: number;
  /** Sample step of host metrics (ms). Default 10 s. */
  stepMs?: number;
}

export const FLEET_HOSTS = ["db-01", "web-01", "web-02"] as const;
const DISKS: Record<string, string[]> = { "db-01": ["/", "/data"], "web-01": ["/", "/var"], "web-02": ["/", "/var"] };
const PROCESSES = ["nginx", "postgres"];

/** Small deterministic generator (LCG): same data on every run and both stores. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * cpu, mem, disk, procstat every step; x509_cert, ansai_prediction and ansai_alert every minute.
 * Gaps: web-02 is silent for 20 minutes mid-range; db-01 starts an hour late.
 */
export function generateFleet(opts: FleetOptions): Point[] {
  const stepMs = opts.stepMs ?? 10_000;
  const endMs = Math.floor(opts.endMs / stepMs) * stepMs;
  const startMs = endMs - (opts.spanMs ?? 3 * 3_600_000);
  const rnd = random(42);
  const points: Point[] = [];
  const gapStart = startMs + (endMs - startMs) / 2;
  for (let t = startMs; t <= endMs; t += stepMs) {
    const minuteTick = t % 60_000 === 0;
    const progress = (t - startMs) / (endMs - startMs);
    for (const [hi, host] of FLEET_HOSTS.entries()) {
      if (host === "web-02" && t >= gapStart && t < gapStart + 20 * 60_000) continue;
      if (host === "db-01" && t < startMs + 3_600_000) continue;
      const idle = round(40 + 50 * rnd());
      points.push({ measurement: "cpu", tags: { host, cpu: "cpu-total" }, fields: { usage_idle: idle, usage_user: round((100 - idle) * 0.7), usage_system: round((100 - idle) * 0.3) }, timeMs: t });
      points.push({ measurement: "mem", tags: { host }, fields: { used_percent: round(50 + 20 * progress + 5 * rnd()), available: Math.round(8e9 * (1 - progress / 2)) }, timeMs: t });
      for (const [di, p] of (DISKS[host] ?? []).entries()) {
        points.push({
          measurement: "disk",
          tags: { host, path: p, device: `sd${String.fromCharCode(97 + di)}1`, fstype: "ext4" },
          fields: { used_percent: round(30 + 10 * hi + 40 * progress * (di + 1) / 2 + rnd()), inodes_used_percent: round(5 + rnd()) },
          timeMs: t,
        });
      }
      for (const [pi, name] of PROCESSES.entries()) {
        points.push({ measurement: "procstat", tags: { host, process_name: name, pid: String(1000 + 10 * hi + pi) }, fields: { memory_rss: Math.round(1e8 * (1 + pi + progress * (hi + 1)) + 1e6 * rnd()) }, timeMs: t });
      }
      if (!minuteTick) continue;
      points.push({ measurement: "x509_cert", tags: { host, common_name: `${host}.example.org`, source: "/etc/ssl/site.pem" }, fields: { expiry: Math.round(86_400 * (30 - 10 * hi) - (t - startMs) / 1000) }, timeMs: t });
      const path0 = DISKS[host]?.[1] ?? "/";
      const eta = round(86_400 * (2 + hi) * (1 - progress) + 600);
      const prediction: Record<string, number> = { slope_per_s: round(1e-4 * (hi + 1), 6), forecast_value: round(70 + 10 * hi), confidence: round(0.5 + 0.4 * rnd()), value: round(30 + 40 * progress), threshold: 90 };
      if (hi !== 1 || progress < 0.5) Object.assign(prediction, { eta_s: eta, eta_low_s: round(eta * 0.8), eta_high_s: round(eta * 1.3) });
      points.push({ measurement: "ansai_prediction", tags: { host, path: path0, rule: "disk_full", model: "linear", source_measurement: "disk" }, fields: prediction, timeMs: t });
      const state = progress < 0.3 ? 0 : progress < 0.5 ? 1 : 2;
      if (host !== "web-01") points.push({ measurement: "ansai_alert", tags: { host, path: path0, rule: "disk_full", severity: hi === 0 ? "critical" : "warning" }, fields: { state, eta_s: eta }, timeMs: t });
    }
  }
  return points;
}
