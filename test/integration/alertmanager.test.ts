import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAlertmanagerNotifier } from "../../src/notifier/alertmanager.js";
import { createNotifierDispatcher, type NotifierDispatcher } from "../../src/notifier/dispatcher.js";
import { manualClock, quietLog, testAlert } from "../../src/notifier/test-helpers.js";
import { requireDebianBinary } from "../support/debian.js";
import { freePort } from "../support/ports.js";

/** What Alertmanager's webhook receiver posts (the parts we check). */
interface AmWebhook {
  status: "firing" | "resolved";
  receiver: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; generatorURL: string }>;
}

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
  status: { state: string };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("Alertmanager notifier against Debian's prometheus-alertmanager", () => {
  let proc: ChildProcess;
  let output = "";
  let dir: string;
  let amUrl: string;
  let hook: http.Server;
  const received: AmWebhook[] = [];
  let dispatcher: NotifierDispatcher;
  const clock = manualClock(Date.now());

  beforeAll(async () => {
    const bin = requireDebianBinary("prometheus-alertmanager", "prometheus-alertmanager");
    dir = mkdtempSync(path.join(os.tmpdir(), "ansai-am-"));
    hook = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push(JSON.parse(body) as AmWebhook);
        res.end("ok");
      });
    });
    hook.listen(0, "127.0.0.1");
    await once(hook, "listening");
    const hookPort = (hook.address() as { port: number }).port;
    const config = [
      "route:",
      "  receiver: ansai-test",
      "  group_by: [alertname, host]",
      "  group_wait: 1s",
      "  group_interval: 1s",
      "  repeat_interval: 1h",
      "receivers:",
      "  - name: ansai-test",
      "    webhook_configs:",
      `      - url: http://127.0.0.1:${hookPort}/am`,
      "        send_resolved: true",
      "",
    ].join("\n");
    writeFileSync(path.join(dir, "alertmanager.yml"), config);
    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    proc = spawn(
      bin,
      [`--config.file=${path.join(dir, "alertmanager.yml")}`, `--storage.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address="],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    await waitFor("Alertmanager to be ready", async () => {
      if (proc.exitCode !== null) throw new Error(`alertmanager exited (${proc.exitCode}): ${output.slice(-2000)}`);
      const ok = await fetch(`${amUrl}/-/ready`).then((r) => r.ok, () => false);
      return ok ? true : undefined;
    });
    const notifier = createAlertmanagerNotifier({ name: "am", url: amUrl, timeoutMs: 5000, resendIntervalMs: 60_000, externalUrl: "http://ansai.test:9847" });
    dispatcher = createNotifierDispatcher({ notifiers: [notifier], log: quietLog, clock, defaultHost: "this-host", retry: { maxAttempts: 2, initialDelayMs: 50 } });
  });

  afterAll(async () => {
    await dispatcher?.close();
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      await once(proc, "exit");
    }
    await new Promise((r) => hook?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const amAlerts = async (): Promise<AmAlert[]> => (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as AmAlert[];

  it("posts a firing alert that Alertmanager stores, routes to its receiver, and ends on resolve", async () => {
    const nowMs = Date.now();
    clock.set(nowMs);
    const firing = testAlert({ state: "firing", host: "web-01", mount: "/var", severity: "critical", rule: "disk_full_4h", atMs: nowMs });
    dispatcher.handle([firing]);
    await dispatcher.idle();

    const stored = await waitFor("the alert in GET /api/v2/alerts", async () => (await amAlerts()).find((a) => a.labels.alertname === "disk_full_4h"));
    expect(stored.labels).toEqual({ alertname: "disk_full_4h", severity: "critical", host: "web-01", path: "/var" });
    expect(stored.annotations).toEqual({
      summary: firing.summary,
      series: "disk,host=web-01,path=/var used_percent",
      value: "91.5",
      threshold: "100",
      eta: new Date(firing.prediction.etaMs!).toISOString(),
      eta_low: new Date(firing.prediction.etaLowMs!).toISOString(),
      eta_high: new Date(firing.prediction.etaHighMs!).toISOString(),
    });
    expect(stored.status.state).toBe("active");
    expect(Date.parse(stored.startsAt)).toBe(firing.firedAtMs);
    // endsAt four resend intervals ahead, so Alertmanager resolves it if ANSAI goes away.
    expect(Date.parse(stored.endsAt)).toBe(nowMs + 4 * 60_000);
    expect(stored.generatorURL).toBe("http://ansai.test:9847/api/v1/alerts");

    const fired = await waitFor("Alertmanager's firing webhook", () => received.find((w) => w.status === "firing"));
    expect(fired.receiver).toBe("ansai-test");
    expect(fired.alerts).toHaveLength(1);
    expect(fired.alerts[0]).toMatchObject({ status: "firing", labels: { alertname: "disk_full_4h", host: "web-01", path: "/var", severity: "critical" }, annotations: { summary: firing.summary } });

    const resolvedAtMs = Date.now();
    clock.set(resolvedAtMs);
    dispatcher.handle([testAlert({ state: "resolved", host: "web-01", mount: "/var", severity: "critical", rule: "disk_full_4h", atMs: resolvedAtMs })]);
    await dispatcher.idle();

    const resolved = await waitFor("Alertmanager's resolved webhook", () => received.find((w) => w.status === "resolved"));
    expect(resolved.alerts[0]).toMatchObject({ status: "resolved", labels: { alertname: "disk_full_4h", host: "web-01" } });
    expect(Date.parse(resolved.alerts[0]!.endsAt)).toBe(resolvedAtMs);
    await waitFor("the alert to leave the active list", async () => ((await amAlerts()).some((a) => a.labels.alertname === "disk_full_4h") ? undefined : true));
  });

  it("is re-posted every resend interval while firing, so Alertmanager keeps it", async () => {
    const startMs = Date.now();
    clock.set(startMs);
    const alert = (atMs: number) => testAlert({ state: "firing", host: "db-01", mount: "/pg", rule: "disk_full_24h", atMs });
    dispatcher.handle([alert(startMs)]);
    await dispatcher.idle();
    const first = await waitFor("the first post", async () => (await amAlerts()).find((a) => a.labels.host === "db-01"));
    expect(Date.parse(first.endsAt)).toBe(startMs + 4 * 60_000);

    // A minute later on the dispatcher's clock: due again, endsAt moves on.
    clock.set(startMs + 60_000);
    dispatcher.handle([], [alert(startMs)]);
    await dispatcher.idle();
    const again = await waitFor("the re-post", async () => (await amAlerts()).find((a) => a.labels.host === "db-01" && Date.parse(a.endsAt) === startMs + 5 * 60_000));
    expect(again.status.state).toBe("active");
  });

  it("reports Alertmanager's 400 for an invalid alert as not retriable", async () => {
    const notifier = createAlertmanagerNotifier({ name: "am", url: amUrl, timeoutMs: 5000, resendIntervalMs: 60_000 });
    // Resolved before it fired: endsAt before startsAt, which Alertmanager rejects.
    const resolved = testAlert({ state: "resolved", rule: "time_travel", atMs: Date.now() });
    const bad = { ...resolved, resolvedAtMs: resolved.firedAtMs! - 60_000 };
    await expect(notifier.send({ host: "h", status: "firing", alerts: [bad], atMs: Date.now() }, new AbortController().signal)).rejects.toMatchObject({
      retriable: false,
      status: 400,
      message: expect.stringContaining("start time must be before end time"),
    });
  });
});
