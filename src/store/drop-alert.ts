import type { Alert } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { statusAlert } from "../core/status-alert.js";

/** Rule name of the alert raised when the store gives points up. */
export const STORE_DROPS_RULE = "store_points_dropped";
/** The alert resolves once no point was dropped for this long. */
const QUIET_MS = 10 * 60_000;

/**
 * Turns the store's drop counters (points given up: buffer full, rejected by InfluxDB, ...) into
 * a critical alert, so an overflow is never only a log line. Fires on the first new drop, stays
 * firing while drops continue, resolves after ten quiet minutes.
 */
export class StoreDropWatch {
  private lastTotal = 0;
  private lastDropMs: number | null = null;
  private alert: Alert | null = null;

  constructor(private readonly host: string) {}

  /** Takes the drop counters by reason; returns the alert if its state changed. */
  evaluate(nowMs: number, dropped: Readonly<Record<string, number>>): Alert[] {
    const total = Object.values(dropped).reduce((a, b) => a + b, 0);
    const fresh = total - this.lastTotal;
    this.lastTotal = total;
    if (fresh > 0) {
      this.lastDropMs = nowMs;
      const firing = this.alert?.state === "firing";
      this.alert = this.firing(nowMs, total, dropped, firing ? this.alert!.activeSinceMs : nowMs);
      return firing ? [] : [this.alert];
    }
    if (this.alert?.state === "firing" && this.lastDropMs !== null && nowMs - this.lastDropMs >= QUIET_MS) {
      this.alert = { ...this.alert, state: "resolved", resolvedAtMs: nowMs, summary: `the store has dropped no point for ${formatDuration(QUIET_MS)}` };
      return [this.alert];
    }
    return [];
  }

  /** The alert while firing or recently resolved. */
  alerts(): Alert[] {
    return this.alert ? [this.alert] : [];
  }

  private firing(nowMs: number, total: number, dropped: Readonly<Record<string, number>>, sinceMs: number): Alert {
    const reasons = Object.entries(dropped)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(", ");
    return statusAlert({
      rule: STORE_DROPS_RULE,
      severity: "critical",
      model: "counter",
      measurement: "ansai_internal",
      field: "points_dropped",
      tags: { host: this.host },
      value: total,
      threshold: 0,
      slopePerS: 0,
      etaMs: nowMs,
      nowMs,
      sinceMs,
      summary: `ANSAI gave up ${total} points writing to its store (${reasons}): ${advice(dropped)}`,
    });
  }
}

/** What to do, by where the points were lost: the embedded store's disk, or the way to InfluxDB. */
function advice(dropped: Readonly<Record<string, number>>): string {
  const embedded = (dropped.queue_full ?? 0) + (dropped.flush_failed ?? 0) > 0 && Object.keys(dropped).every((r) => r === "queue_full" || r === "flush_failed");
  if (embedded) return "the data dir's disk is full, failing or too slow: check free space (df) and its health, or collect less often (interval)";
  return "check that InfluxDB is up and accepts them, or raise store.influxdb.buffer.max_bytes";
}
