import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import type { Alert, Clock } from "../core/contracts.js";
import { batchesByHost, isRetriable, NotifyError, type NotificationBatch, type Notifier } from "./notifier.js";

/** How failed deliveries are retried. Times in ms. */
export interface RetryPolicy {
  /** Attempts per batch, the first included. */
  maxAttempts: number;
  /** Delay before the first retry; doubles per retry, then jittered. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** No retry starts after this long since the first attempt. */
  maxElapsedMs: number;
  /** After a batch is given up, its firing alerts are tried again this long later (capped at the repeat interval). */
  giveUpRetryMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxElapsedMs: 120_000,
  giveUpRetryMs: 5 * 60_000,
};

/** Alertmanager's default repeat_interval. */
export const DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000;
const DEFAULT_MAX_QUEUED_BATCHES = 1_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface DispatcherOptions {
  notifiers: readonly Notifier[];
  log: Logger;
  /** Timestamps for de-duplication and repeats; retry sleeps use real timers. */
  clock: Clock;
  /** prom-client registry for the dispatcher's metrics; never the global one. */
  registry?: Registry;
  /** A still-firing alert is sent again after this long (ms); default 4 h. A notifier may set its own. */
  repeatIntervalMs?: number;
  /** Host of alerts that have no `host` tag (this machine's name). */
  defaultHost: string;
  retry?: Partial<RetryPolicy>;
  /** Batches waiting per notifier; past it the oldest is dropped. Default 1000. */
  maxQueuedBatches?: number;
  /** 0..1 source for jitter; injected so tests are reproducible. */
  random?: () => number;
  /** A silenced alert is not sent while this says so (first notice and repeats); it goes out once unmuted. */
  muted?: (alert: Alert, nowMs: number) => boolean;
}

export interface NotifierDispatcher {
  /**
   * Takes the alerts whose state just changed, and optionally every current alert (fresher
   * summaries for repeats). Queues what each notifier must send; never blocks, never throws.
   * Call it on every evaluation, even with no transitions: repeats are decided here.
   */
  handle(transitions: readonly Alert[], current?: readonly Alert[]): void;
  /** The firing alerts each notifier received, by notifier name, to carry across a restart. */
  notices(): SavedNotices;
  /**
   * After a restart, with the alerts the analyzer restored as firing (`stillFiring`, by id): a
   * notifier that received one before (`saved`) repeats it a repeat interval after its last
   * notice, not at once; one that had not gets it now. Their resolutions are sent.
   */
  restoreNotices(saved: SavedNotices, stillFiring: ReadonlySet<string>): void;
  /** Resolves when every queue is empty and nothing is in flight. */
  idle(): Promise<void>;
  /** Stops taking work, drains the queues for up to `drainTimeoutMs` (default 10 s), then aborts what is left. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Per notifier name: the alerts it received as firing, and when that notice was last queued (ms). */
export type SavedNotices = Record<string, Array<{ id: string; lastMs: number }>>;

/** What one notifier knows of one alert. */
interface SentState {
  /** When a firing notice was last queued (ms, dispatcher clock). */
  lastMs: number;
  /** A firing notice reached the notifier at least once. */
  delivered: boolean;
  /** Queued or in-flight batches that carry this alert as firing. */
  inFlight: number;
}

interface QueueEntry {
  batch: NotificationBatch;
  /** States of the firing alerts in the batch, settled when the batch is sent or given up. */
  firing: SentState[];
}

interface Lane {
  notifier: Notifier;
  repeatMs: number;
  queue: QueueEntry[];
  running: Promise<void> | null;
  sent: Map<string, SentState>;
}

/**
 * Turns alert transitions into notifications: one batch per host and notifier, de-duplicated,
 * repeated while firing, a resolved notice only for alerts whose firing was notified, retried
 * with backoff, one queue per notifier so a slow one delays nobody else.
 */
export function createNotifierDispatcher(opts: DispatcherOptions): NotifierDispatcher {
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const random = opts.random ?? Math.random;
  const maxQueued = opts.maxQueuedBatches ?? DEFAULT_MAX_QUEUED_BATCHES;
  const defaultRepeatMs = opts.repeatIntervalMs ?? DEFAULT_REPEAT_INTERVAL_MS;
  const registers = opts.registry ? [opts.registry] : [];
  const total = new Counter({
    name: "ansai_notifications_total",
    help: "Notification batches by notifier and outcome (sent, failed, retried, dropped).",
    labelNames: ["notifier", "outcome"],
    registers,
  });
  const duration = new Histogram({
    name: "ansai_notification_duration_seconds",
    help: "Time of one delivery attempt.",
    labelNames: ["notifier"],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const names = new Set<string>();
  for (const n of opts.notifiers) {
    if (names.has(n.name)) throw new Error(`two notifiers are named "${n.name}"; names must be unique`);
    names.add(n.name);
  }
  const lanes: Lane[] = opts.notifiers.map((notifier) => ({
    notifier,
    repeatMs: notifier.repeatIntervalMs ?? defaultRepeatMs,
    queue: [],
    running: null,
    sent: new Map(),
  }));
  /** Alerts firing now, by id: the ones repeats are made of. */
  const firing = new Map<string, Alert>();
  /** Alerts restored as firing after a restart, until the current alerts show them (no firing transition will). */
  const restoredFiring = new Set<string>();
  const abort = new AbortController();
  let closing = false;

  function handle(transitions: readonly Alert[], current: readonly Alert[] = []): void {
    if (closing) return;
    const nowMs = opts.clock.nowMs();
    const resolved: Alert[] = [];
    for (const a of transitions) {
      if (a.state === "firing") firing.set(a.id, a);
      if (a.state !== "resolved") continue;
      firing.delete(a.id);
      restoredFiring.delete(a.id);
      resolved.push(a);
    }
    for (const a of current) {
      if (a.state !== "firing" || !(firing.has(a.id) || restoredFiring.delete(a.id))) continue;
      firing.set(a.id, a);
    }
    for (const lane of lanes) plan(lane, resolved, nowMs);
  }

  function plan(lane: Lane, resolved: readonly Alert[], nowMs: number): void {
    const out: Alert[] = [];
    const states = new Map<string, SentState>();
    for (const a of resolved) {
      const st = lane.sent.get(a.id);
      lane.sent.delete(a.id);
      // Resolved notices only for alerts the receiver saw (or will see, FIFO) as firing.
      if (st && (st.delivered || st.inFlight > 0)) out.push(a);
    }
    for (const a of firing.values()) {
      if (opts.muted?.(a, nowMs)) continue;
      let st = lane.sent.get(a.id);
      if (st && (st.inFlight > 0 || nowMs - st.lastMs < lane.repeatMs)) continue;
      if (!st) {
        st = { lastMs: nowMs, delivered: false, inFlight: 0 };
        lane.sent.set(a.id, st);
      }
      st.lastMs = nowMs;
      st.inFlight++;
      states.set(a.id, st);
      out.push(a);
    }
    if (out.length === 0) return;
    for (const batch of batchesByHost(out, opts.defaultHost, nowMs)) {
      const entry: QueueEntry = { batch, firing: batch.alerts.flatMap((a) => states.get(a.id) ?? []) };
      if (lane.queue.length >= maxQueued) drop(lane, lane.queue.shift()!, "queue full");
      lane.queue.push(entry);
    }
    pump(lane);
  }

  function pump(lane: Lane): void {
    if (lane.running) return;
    lane.running = (async () => {
      while (lane.queue.length > 0 && !abort.signal.aborted) {
        const entry = lane.queue.shift()!;
        settle(lane, entry, await deliver(lane, entry.batch));
      }
      for (const entry of lane.queue.splice(0)) drop(lane, entry, "shutting down");
    })().finally(() => {
      lane.running = null;
      if (lane.queue.length > 0 && !abort.signal.aborted) pump(lane);
    });
  }

  /** Sends with retries; true when delivered. Never throws. */
  async function deliver(lane: Lane, batch: NotificationBatch): Promise<boolean> {
    const name = lane.notifier.name;
    const startedMs = performance.now();
    const ctx = { notifier: name, host: batch.host, status: batch.status, alerts: batch.alerts.length };
    for (let attempt = 1; ; attempt++) {
      const end = duration.startTimer({ notifier: name });
      try {
        await lane.notifier.send(batch, abort.signal);
        end();
        total.inc({ notifier: name, outcome: "sent" });
        opts.log.info({ ...ctx, attempt }, "notification sent");
        return true;
      } catch (err) {
        end();
        const message = err instanceof Error ? err.message : String(err);
        const delayMs = backoffMs(attempt, err);
        const elapsedMs = performance.now() - startedMs;
        const giveUp = !isRetriable(err) || abort.signal.aborted || attempt >= retry.maxAttempts || elapsedMs + delayMs > retry.maxElapsedMs;
        if (giveUp) {
          total.inc({ notifier: name, outcome: "failed" });
          opts.log.error({ ...ctx, attempt, retriable: isRetriable(err), err: message }, "notification failed; giving up on this batch");
          return false;
        }
        total.inc({ notifier: name, outcome: "retried" });
        opts.log.warn({ ...ctx, attempt, retryInMs: Math.round(delayMs), err: message }, "notification failed; retrying");
        await sleep(delayMs, abort.signal);
      }
    }
  }

  /** Exponential backoff with "equal jitter" (half fixed, half random); honours Retry-After up to maxDelayMs. */
  function backoffMs(attempt: number, err: unknown): number {
    const exp = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + (random() * exp) / 2;
    const asked = err instanceof NotifyError ? err.retryAfterMs : undefined;
    return asked === undefined ? jittered : Math.min(retry.maxDelayMs, Math.max(jittered, asked));
  }

  function settle(lane: Lane, entry: QueueEntry, ok: boolean): void {
    const nowMs = opts.clock.nowMs();
    for (const st of entry.firing) {
      st.inFlight--;
      if (ok) st.delivered = true;
      // Not delivered: due again after giveUpRetryMs rather than a whole repeat interval.
      else st.lastMs = nowMs - lane.repeatMs + Math.min(retry.giveUpRetryMs, lane.repeatMs);
    }
  }

  function drop(lane: Lane, entry: QueueEntry, reason: string): void {
    total.inc({ notifier: lane.notifier.name, outcome: "dropped" });
    opts.log.warn({ notifier: lane.notifier.name, host: entry.batch.host, alerts: entry.batch.alerts.length, reason }, "notification dropped");
    settle(lane, entry, false);
  }

  async function idle(): Promise<void> {
    for (;;) {
      const running = lanes.flatMap((l) => (l.running ? [l.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  async function close(drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS): Promise<void> {
    closing = true;
    const timer = setTimeout(() => abort.abort(), drainTimeoutMs);
    try {
      await idle();
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }

  function notices(): SavedNotices {
    const out: SavedNotices = {};
    for (const lane of lanes) {
      const delivered = [...lane.sent].filter(([, st]) => st.delivered).map(([id, st]) => ({ id, lastMs: st.lastMs }));
      if (delivered.length > 0) out[lane.notifier.name] = delivered;
    }
    return out;
  }

  function restoreNotices(saved: SavedNotices, stillFiring: ReadonlySet<string>): void {
    // All of them: a notifier that had not received one (its notice failed before the restart) gets it now.
    for (const id of stillFiring) restoredFiring.add(id);
    for (const lane of lanes) {
      for (const { id, lastMs } of saved[lane.notifier.name] ?? []) {
        if (!stillFiring.has(id) || lane.sent.has(id)) continue;
        lane.sent.set(id, { lastMs, delivered: true, inFlight: 0 });
      }
    }
  }

  return { handle, notices, restoreNotices, idle, close };
}

/** Waits `ms`, or less when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
