import type { Alert } from "../core/contracts.js";

/** What one notification carries: alerts of ONE host that changed state or are due again. */
export interface NotificationBatch {
  /** Value of the alerts' `host` tag (the dispatcher's default host when an alert has none). */
  host: string;
  /** "firing" when at least one alert of the batch fires, else "resolved" (Alertmanager's rule). */
  status: "firing" | "resolved";
  /** Firing alerts first, then resolved ones; pending alerts are never notified. */
  alerts: readonly Alert[];
  /** When the batch was made (ms); notifiers stamp `endsAt` and the like from it. */
  atMs: number;
}

/** A destination for alert notifications. One file per kind in `src/notifier/`. */
export interface Notifier {
  /** Unique name from the config; the `notifier` label of the metrics. */
  readonly name: string;
  /**
   * How often a still-firing alert is sent again (ms); when absent, the dispatcher's
   * `repeatIntervalMs`. Alertmanager needs a short one: it expires alerts not re-posted.
   */
  readonly repeatIntervalMs?: number;
  /** Delivers one batch; throws a `NotifyError` (or any error, taken as retriable) on failure. */
  send(batch: NotificationBatch, signal: AbortSignal): Promise<void>;
}

/** A failed delivery, saying whether trying again can help. */
export class NotifyError extends Error {
  /** Network errors, timeouts, 5xx, 408 and 429 are retriable; other 4xx are not. */
  readonly retriable: boolean;
  /** HTTP status or SMTP reply code, when there was one. */
  readonly status: number | undefined;
  /** The server's Retry-After (ms), when it gave one. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, opts: { retriable: boolean; status?: number; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = "NotifyError";
    this.retriable = opts.retriable;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** True unless the error says retrying cannot help (a non-retriable NotifyError). */
export function isRetriable(err: unknown): boolean {
  return !(err instanceof NotifyError) || err.retriable;
}

/** RFC 3339 text of a time in ms, or null. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}

/** One alert in the JSON shape notifiers share (webhook body; times in RFC 3339). */
export interface AlertJson {
  id: string;
  rule: string;
  severity: Alert["severity"];
  state: Alert["state"];
  summary: string;
  tags: Readonly<Record<string, string>>;
  series: string;
  activeSince: string | null;
  firedAt: string | null;
  resolvedAt: string | null;
  eta: string | null;
  etaLow: string | null;
  etaHigh: string | null;
  value: number;
  threshold: number;
}

export function alertToJson(a: Alert): AlertJson {
  const p = a.prediction;
  return {
    id: a.id,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    summary: a.summary,
    tags: a.tags,
    series: a.series,
    activeSince: isoOrNull(a.activeSinceMs),
    firedAt: isoOrNull(a.firedAtMs),
    resolvedAt: isoOrNull(a.resolvedAtMs),
    eta: isoOrNull(p.etaMs),
    etaLow: isoOrNull(p.etaLowMs),
    etaHigh: isoOrNull(p.etaHighMs),
    value: p.value,
    threshold: p.threshold,
  };
}

/** Groups alerts into one batch per host, firing before resolved, hosts in first-seen order. */
export function batchesByHost(alerts: readonly Alert[], defaultHost: string, atMs: number): NotificationBatch[] {
  const byHost = new Map<string, Alert[]>();
  for (const a of alerts) {
    if (a.state === "pending") continue;
    const host = a.tags.host ?? defaultHost;
    const list = byHost.get(host);
    if (list) list.push(a);
    else byHost.set(host, [a]);
  }
  return [...byHost].map(([host, list]) => {
    const firing = list.filter((a) => a.state === "firing");
    const resolved = list.filter((a) => a.state === "resolved");
    return { host, status: firing.length > 0 ? "firing" : "resolved", alerts: [...firing, ...resolved], atMs };
  });
}
