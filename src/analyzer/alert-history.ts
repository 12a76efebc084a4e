import type { Alert } from "../core/contracts.js";

/** Transitions kept; older ones drop off (the store keeps `ansai_alert` points for the long run). */
const DEFAULT_CAPACITY = 5000;

/** One alert transition as it happened: the alert at that moment, and when. */
export interface AlertTransition {
  atMs: number;
  alert: Alert;
}

export interface HistoryQuery {
  sinceMs?: number;
  rule?: string;
  host?: string;
  limit?: number;
}

/** The latest alert transitions (pending, firing, resolved), newest last, in a bounded ring. */
export class AlertHistory {
  private readonly ring: AlertTransition[] = [];

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  record(transitions: readonly Alert[], atMs: number): void {
    for (const alert of transitions) this.ring.push({ atMs, alert });
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
  }

  /** Matching transitions, oldest first; `limit` keeps the newest. */
  list(q: HistoryQuery = {}): AlertTransition[] {
    const out = this.ring.filter(
      (t) => (q.sinceMs === undefined || t.atMs >= q.sinceMs) && (q.rule === undefined || t.alert.rule === q.rule) && (q.host === undefined || t.alert.tags.host === q.host),
    );
    return q.limit === undefined ? out : out.slice(-q.limit);
  }
}
