import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import type { Point } from "../core/point.js";
import { openEmbeddedStore, type EmbeddedStore } from "../store/embedded.js";

// Generated history for report tests: an embedded store in a temp dir, filled with known shapes.

export const DAY_MS = 86_400_000;
export const STEP_MS = 10 * 60_000;
/** "Now" of the generated data: a Monday 07:00 UTC. */
export const NOW_MS = Date.UTC(2026, 0, 5, 7, 0, 0);
/** The filling disk's truth: 30% at NOW − 14 d, +2 points a day, so full at NOW + 21 d. */
export const FILL_START_PERCENT = 30;
export const FILL_PER_DAY = 2;
export const FULL_AT_MS = NOW_MS - 14 * DAY_MS + ((100 - FILL_START_PERCENT) / FILL_PER_DAY) * DAY_MS;
/** The certificate's notAfter: 9 days after NOW. */
export const CERT_NOT_AFTER_MS = NOW_MS + 9 * DAY_MS;

/** Deterministic noise in [-amplitude, amplitude]. */
function noise(i: number, amplitude: number): number {
  return amplitude * Math.sin(i * 12.9898 + Math.sin(i * 78.233) * 43.758);
}

export interface Fixture {
  store: EmbeddedStore;
  dir: string;
  close(): Promise<void>;
}

export interface FixtureOptions {
  host?: string;
  /** Tag value of the filling disk's path (tests put hostile text here). */
  fillPath?: string;
  /** Extra tags on the certificate (e.g. a hostile common_name). */
  commonName?: string;
  /**
   * CPU with a daily rhythm instead of flat: busy {@link DAILY_CPU_MEAN_START} % + 1 point a day
   * on average, ± {@link DAILY_CPU_SWING} over the day, so the busy hour saturates long before the mean.
   */
  dailyCpu?: boolean;
}

export const DAILY_CPU_MEAN_START = 30;
export const DAILY_CPU_SWING = 35;
/** When the daily CPU's busy hour first reaches 100 % (mean + swing = 100). */
export const DAILY_CPU_PEAK_FULL_MS = NOW_MS - 14 * DAY_MS + (100 - DAILY_CPU_MEAN_START - DAILY_CPU_SWING) * DAY_MS;

/**
 * 14 days every 10 minutes on one host: /data filling linearly (with noise), / flat, memory
 * flat, CPU idle flat, /var/log growing (dir_size), a process growing, and a certificate
 * sampled hourly over the last 3 days that expires 9 days after NOW.
 */
export async function filledStore(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), "ansai-report-"));
  const store = await openEmbeddedStore({ dataDir: dir, log: pino({ level: "silent" }), clock: { nowMs: () => NOW_MS } });
  const host = opts.host ?? "web-01";
  const startMs = NOW_MS - 14 * DAY_MS;
  const points: Point[] = [];
  for (let i = 0, t = startMs; t <= NOW_MS; i++, t += STEP_MS) {
    const days = (t - startMs) / DAY_MS;
    const fill = FILL_START_PERCENT + FILL_PER_DAY * days + noise(i, 0.4);
    points.push(
      { measurement: "disk", tags: { host, path: opts.fillPath ?? "/data", device: "sdb1", fstype: "ext4", mode: "rw" }, fields: { used_percent: fill, inodes_used_percent: 5, used: fill * 1e9 }, timeMs: t },
      { measurement: "disk", tags: { host, path: "/", device: "sda1", fstype: "ext4", mode: "rw" }, fields: { used_percent: 50 + noise(i, 0.3), inodes_used_percent: 10, used: 50e9 }, timeMs: t },
      { measurement: "mem", tags: { host }, fields: { used_percent: 40 + noise(i + 7, 2) }, timeMs: t },
      { measurement: "cpu", tags: { host, cpu: "cpu-total" }, fields: { usage_idle: opts.dailyCpu ? 100 - dailyCpuBusy(days) + noise(i + 3, 2) : 80 + noise(i + 3, 5) }, timeMs: t },
      { measurement: "dir_size", tags: { host, path: "/data/logs" }, fields: { size_bytes: 1e8 + days * 5e8 }, timeMs: t },
      { measurement: "procstat", tags: { host, process_name: "worker", pid: "4242" }, fields: { memory_rss: 2e8 + days * 3e7 + noise(i, 1e6) }, timeMs: t },
    );
  }
  for (let t = NOW_MS - 3 * DAY_MS; t <= NOW_MS; t += 3_600_000) {
    points.push({
      measurement: "x509_cert",
      tags: { host, common_name: opts.commonName ?? "example.org", source: "tcp://example.org:443", serial_number: "0a1b" },
      fields: { expiry: Math.trunc((CERT_NOT_AFTER_MS - t) / 1000), enddate: Math.floor(CERT_NOT_AFTER_MS / 1000) },
      timeMs: t,
    });
  }
  store.write(points);
  await store.flush();
  return {
    store,
    dir,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Busy percent of the daily CPU `days` after the history starts (the day starts at 00:00 UTC). */
function dailyCpuBusy(days: number): number {
  return DAILY_CPU_MEAN_START + days + DAILY_CPU_SWING * Math.sin(2 * Math.PI * days);
}
