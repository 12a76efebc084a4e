import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createNotifierDispatcher, type RetryPolicy } from "./dispatcher.js";
import { NotifyError, type NotificationBatch, type Notifier } from "./notifier.js";
import { manualClock, quietLog, testAlert, type AlertSpec } from "./test-helpers.js";

const H = 3_600_000;
const FAST_RETRY: Partial<RetryPolicy> = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2, giveUpRetryMs: 5 * 60_000 };

/** "web-01 firing: /var=firing /data=resolved" */
function describeBatch(b: NotificationBatch): string {
  return `${b.host} ${b.status}: ${b.alerts.map((a) => `${a.tags.path}=${a.state}`).join(" ")}`;
}

interface Recorder extends Notifier {
  sent: string[];
  batches: NotificationBatch[];
}

function recorder(name: string, opts: { repeatIntervalMs?: number; fail?: (b: NotificationBatch) => Error | undefined } = {}): Recorder {
  const sent: string[] = [];
  const batches: NotificationBatch[] = [];
  return {
    name,
    repeatIntervalMs: opts.repeatIntervalMs,
    sent,
    batches,
    async send(batch) {
      const err = opts.fail?.(batch);
      if (err) throw err;
      sent.push(describeBatch(batch));
      batches.push(batch);
    },
  };
}

interface Step {
  atMs: number;
  transitions: AlertSpec[];
  current?: AlertSpec[];
  /** What the notifier received in this step. */
  sends: string[];
}

const cases: Array<{ name: string; repeatIntervalMs?: number; notifierRepeatMs?: number; steps: Step[] }> = [
  {
    name: "firing is sent once, then again after the repeat interval",
    steps: [
      { atMs: 0, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
      { atMs: 1 * H, transitions: [{ state: "firing" }], sends: [] },
      { atMs: 3.9 * H, transitions: [], sends: [] },
      { atMs: 4 * H, transitions: [], sends: ["web-01 firing: /var=firing"] },
      { atMs: 5 * H, transitions: [], sends: [] },
      { atMs: 8 * H, transitions: [], sends: ["web-01 firing: /var=firing"] },
    ],
  },
  {
    name: "a resolved notice is sent once for a notified alert",
    steps: [
      { atMs: 0, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
      { atMs: 60_000, transitions: [{ state: "resolved" }], sends: ["web-01 resolved: /var=resolved"] },
      { atMs: 120_000, transitions: [{ state: "resolved" }], sends: [] },
      { atMs: 5 * H, transitions: [], sends: [] },
    ],
  },
  {
    name: "pending is never notified, and resolving without a firing notice sends nothing",
    steps: [
      { atMs: 0, transitions: [{ state: "pending" }], sends: [] },
      { atMs: 60_000, transitions: [{ state: "resolved" }], sends: [] },
    ],
  },
  {
    name: "a new episode after a resolution is notified at once",
    steps: [
      { atMs: 0, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
      { atMs: 60_000, transitions: [{ state: "resolved" }], sends: ["web-01 resolved: /var=resolved"] },
      { atMs: 120_000, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
    ],
  },
  {
    name: "alerts are grouped per host, firing before resolved",
    steps: [
      {
        atMs: 0,
        transitions: [{ state: "firing", mount: "/var" }, { state: "firing", mount: "/data" }, { state: "firing", host: "db-01", mount: "/pg" }],
        sends: ["web-01 firing: /var=firing /data=firing", "db-01 firing: /pg=firing"],
      },
      {
        atMs: 60_000,
        transitions: [{ state: "resolved", mount: "/var" }, { state: "firing", mount: "/home" }],
        sends: ["web-01 firing: /home=firing /var=resolved"],
      },
    ],
  },
  {
    name: "an alert without a host tag goes under the default host",
    steps: [{ atMs: 0, transitions: [{ state: "firing", host: null }], sends: ["this-host firing: /var=firing"] }],
  },
  {
    name: "a notifier's own repeat interval wins (Alertmanager re-posts every minute)",
    notifierRepeatMs: 60_000,
    steps: [
      { atMs: 0, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
      { atMs: 30_000, transitions: [], sends: [] },
      { atMs: 60_000, transitions: [], sends: ["web-01 firing: /var=firing"] },
      { atMs: 120_000, transitions: [], sends: ["web-01 firing: /var=firing"] },
    ],
  },
  {
    name: "the configured repeat interval applies",
    repeatIntervalMs: 10 * 60_000,
    steps: [
      { atMs: 0, transitions: [{ state: "firing" }], sends: ["web-01 firing: /var=firing"] },
      { atMs: 9 * 60_000, transitions: [], sends: [] },
      { atMs: 10 * 60_000, transitions: [], sends: ["web-01 firing: /var=firing"] },
    ],
  },
];

describe("notifier dispatcher de-duplication", () => {
  it.each(cases)("$name", async ({ repeatIntervalMs, notifierRepeatMs, steps }) => {
    const clock = manualClock();
    const n = recorder("rec", { repeatIntervalMs: notifierRepeatMs });
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock, defaultHost: "this-host", repeatIntervalMs, retry: FAST_RETRY });
    for (const step of steps) {
      clock.set(step.atMs);
      const before = n.sent.length;
      d.handle(step.transitions.map(testAlert), step.current?.map(testAlert));
      await d.idle();
      expect(n.sent.slice(before), `at ${step.atMs} ms`).toEqual(step.sends);
    }
    await d.close();
  });

  it("sends nothing for a muted (silenced) alert, and sends it once unmuted", async () => {
    const clock = manualClock();
    const n = recorder("rec");
    let muted = true;
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock, defaultHost: "h", muted: () => muted });
    d.handle([testAlert({ state: "firing" })]);
    await d.idle();
    clock.set(5 * H);
    d.handle([]);
    await d.idle();
    expect(n.sent).toEqual([]);
    muted = false;
    d.handle([]);
    await d.idle();
    expect(n.sent).toHaveLength(1);
    await d.close();
  });

  it("repeats carry the freshest summary from the current alerts", async () => {
    const clock = manualClock();
    const n = recorder("rec");
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock, defaultHost: "h" });
    d.handle([testAlert({ state: "firing", summary: "full in 3 h" })]);
    await d.idle();
    clock.set(4 * H);
    d.handle([], [testAlert({ state: "firing", summary: "full in 10 m" }), testAlert({ state: "firing", mount: "/other", summary: "not tracked" })]);
    await d.idle();
    expect(n.batches.map((b) => b.alerts.map((a) => a.summary))).toEqual([["full in 3 h"], ["full in 10 m"]]);
    expect(n.batches[1]!.atMs).toBe(4 * H);
    await d.close();
  });

  it("does not resolve what was never delivered, and tries a failed firing again after giveUpRetryMs", async () => {
    const clock = manualClock();
    let failing = true;
    const n = recorder("rec", { fail: () => (failing ? new NotifyError("400 bad", { retriable: false, status: 400 }) : undefined) });
    const registry = new Registry();
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock, defaultHost: "h", retry: FAST_RETRY, registry });
    d.handle([testAlert({ state: "firing" })]);
    await d.idle();
    expect(n.sent).toEqual([]);
    clock.set(4 * 60_000);
    d.handle([]);
    await d.idle();
    expect(n.sent).toEqual([]);
    failing = false;
    clock.set(5 * 60_000);
    d.handle([]);
    await d.idle();
    expect(n.sent).toEqual(["web-01 firing: /var=firing"]);

    // A second alert that never got through resolves silently.
    failing = true;
    d.handle([testAlert({ state: "firing", mount: "/data" })]);
    await d.idle();
    failing = false;
    d.handle([testAlert({ state: "resolved", mount: "/data" })]);
    await d.idle();
    expect(n.sent).toEqual(["web-01 firing: /var=firing"]);

    const metric = await registry.getSingleMetricAsString("ansai_notifications_total");
    expect(metric).toContain('ansai_notifications_total{notifier="rec",outcome="failed"} 2');
    expect(metric).toContain('ansai_notifications_total{notifier="rec",outcome="sent"} 1');
    expect(metric).not.toContain('outcome="retried"');
    await d.close();
  });

  it("retries retriable errors with backoff up to maxAttempts", async () => {
    let calls = 0;
    const n: Notifier = {
      name: "flaky",
      async send() {
        calls++;
        throw new Error("ECONNRESET");
      },
    };
    const registry = new Registry();
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock: manualClock(), defaultHost: "h", retry: FAST_RETRY, registry });
    d.handle([testAlert({ state: "firing" })]);
    await d.idle();
    expect(calls).toBe(3);
    const metric = await registry.getSingleMetricAsString("ansai_notifications_total");
    expect(metric).toContain('ansai_notifications_total{notifier="flaky",outcome="retried"} 2');
    expect(metric).toContain('ansai_notifications_total{notifier="flaky",outcome="failed"} 1');
    const hist = await registry.getSingleMetricAsString("ansai_notification_duration_seconds");
    expect(hist).toContain('ansai_notification_duration_seconds_count{notifier="flaky"} 3');
    await d.close();
  });

  it("stops retrying when the next delay would pass maxElapsedMs", async () => {
    let calls = 0;
    const n: Notifier = {
      name: "down",
      async send() {
        calls++;
        throw new Error("ECONNREFUSED");
      },
    };
    const retry = { maxAttempts: 100, initialDelayMs: 1, maxDelayMs: 1000, maxElapsedMs: 20 };
    const d = createNotifierDispatcher({ notifiers: [n], log: quietLog, clock: manualClock(), defaultHost: "h", retry, random: () => 1 });
    d.handle([testAlert({ state: "firing" })]);
    await d.idle();
    // Delays 1, 2, 4, 8 ms sum to 15; the next (16) would pass 20 ms.
    expect(calls).toBeLessThanOrEqual(5);
    expect(calls).toBeGreaterThanOrEqual(2);
    await d.close();
  });

  it("a slow notifier does not hold up the others", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowSent: string[] = [];
    const slow: Notifier = {
      name: "slow",
      async send(batch) {
        await gate;
        slowSent.push(describeBatch(batch));
      },
    };
    const fast = recorder("fast");
    const d = createNotifierDispatcher({ notifiers: [slow, fast], log: quietLog, clock: manualClock(), defaultHost: "h" });
    d.handle([testAlert({ state: "firing" })]);
    await vi_waitFor(() => fast.sent.length === 1);
    expect(slowSent).toEqual([]);
    release();
    await d.idle();
    expect(slowSent).toEqual(["web-01 firing: /var=firing"]);
    await d.close();
  });

  it("close() aborts what is still running at the deadline and drops the rest", async () => {
    const stuck: Notifier = {
      name: "stuck",
      send: (_batch, signal) =>
        new Promise<void>((_resolve, reject) => signal.addEventListener("abort", () => reject(new NotifyError("aborted", { retriable: false })), { once: true })),
    };
    const registry = new Registry();
    const d = createNotifierDispatcher({ notifiers: [stuck], log: quietLog, clock: manualClock(), defaultHost: "h", registry });
    d.handle([testAlert({ state: "firing", host: "a" }), testAlert({ state: "firing", host: "b" })]);
    await d.close(20);
    const metric = await registry.getSingleMetricAsString("ansai_notifications_total");
    expect(metric).toContain('ansai_notifications_total{notifier="stuck",outcome="failed"} 1');
    expect(metric).toContain('ansai_notifications_total{notifier="stuck",outcome="dropped"} 1');
    // Closed: further transitions are ignored.
    d.handle([testAlert({ state: "firing", host: "c" })]);
    await d.idle();
  });

  it("rejects two notifiers with one name", () => {
    expect(() => createNotifierDispatcher({ notifiers: [recorder("x"), recorder("x")], log: quietLog, clock: manualClock(), defaultHost: "h" })).toThrow(/named "x"/);
  });
});

/** Polls until `cond` holds (the slow lane must stay blocked meanwhile). */
async function vi_waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  expect(cond()).toBe(true);
}

describe("notifier dispatcher across a restart", () => {
  it("repeats a restored firing alert a repeat interval after its last notice, sends its resolution, and sends now what a notifier had not received", async () => {
    const clock = manualClock();
    const before = recorder("rec");
    const first = createNotifierDispatcher({ notifiers: [before], log: quietLog, clock, defaultHost: "h" });
    first.handle([testAlert({ state: "firing" })]);
    await first.idle();
    expect(before.sent).toEqual(["web-01 firing: /var=firing"]);
    const saved = first.notices();
    expect(saved).toEqual({ rec: [{ id: testAlert({ state: "firing" }).id, lastMs: 0 }] });
    await first.close();

    // The restart, an hour later, with a second notifier that never saw the alert.
    clock.set(1 * H);
    const rec = recorder("rec");
    const added = recorder("added");
    const d = createNotifierDispatcher({ notifiers: [rec, added], log: quietLog, clock, defaultHost: "h" });
    d.restoreNotices({ ...saved, gone: [{ id: "x", lastMs: 0 }] }, new Set([testAlert({ state: "firing" }).id]));
    const current = [testAlert({ state: "firing" })];
    d.handle([], current);
    await d.idle();
    expect(rec.sent).toEqual([]);
    expect(added.sent).toEqual(["web-01 firing: /var=firing"]);
    clock.set(4 * H);
    d.handle([], current);
    await d.idle();
    expect(rec.sent).toEqual(["web-01 firing: /var=firing"]);
    clock.set(5 * H);
    d.handle([testAlert({ state: "resolved" })], []);
    await d.idle();
    expect(rec.sent.at(-1)).toBe("web-01 resolved: /var=resolved");
    expect(added.sent.at(-1)).toBe("web-01 resolved: /var=resolved");
    await d.close();
  });

  it("restores nothing for alerts the analyzer no longer has firing", async () => {
    const clock = manualClock();
    const rec = recorder("rec");
    const d = createNotifierDispatcher({ notifiers: [rec], log: quietLog, clock, defaultHost: "h" });
    d.restoreNotices({ rec: [{ id: testAlert({ state: "firing" }).id, lastMs: 0 }] }, new Set());
    expect(d.notices()).toEqual({});
    d.handle([testAlert({ state: "resolved" })], []);
    await d.idle();
    expect(rec.sent).toEqual([]);
    await d.close();
  });
});
