import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { startApp, type RunningApp } from "./app.js";
import { configSchema } from "./config/schema.js";
import { systemClock } from "./core/contracts.js";
import type { Point } from "./core/point.js";
import { openEmbeddedStore } from "./store/embedded.js";

const log = pino({ level: "silent" });

interface AlertView {
  rule: string;
  state: string;
  activeSinceMs: number;
  firedAtMs: number | null;
}

/**
 * A restart of the whole app over real parts (embedded store, analyzer, notifier, API, a real
 * webhook receiver): a firing alert stays firing, with its times, and is not notified again.
 */
describe("app restart", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ansai-restart-"));
  const received: Array<{ status: string; rules: string[] }> = [];
  let receiver: Server;
  let app: RunningApp | undefined;
  afterAll(async () => {
    await app?.stop();
    receiver?.close();
  });

  async function start(webhookUrl: string): Promise<RunningApp> {
    const config = configSchema.parse({
      data_dir: dataDir,
      api: { port: 0 },
      collectors: { disk: { enabled: false }, procstat: { enabled: false } },
      analyzer: {
        evaluation_interval: "1s",
        rules: [{ name: "data_full", measurement: "disk", field: "used_percent", threshold: 100, horizon: "24h", window: "1h", for: "0s" }],
      },
      notifiers: { webhooks: [{ name: "hook", url: webhookUrl }] },
    });
    return startApp({ config, cwd: dataDir, log, version: "test", env: process.env });
  }

  /** The test rule's alerts (the built-in disk rules watch the series too). */
  async function alerts(a: RunningApp): Promise<AlertView[]> {
    return ((await (await fetch(`${a.url}/api/v1/alerts`)).json()) as { alerts: AlertView[] }).alerts.filter((x) => x.rule === "data_full");
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < 100; i++) {
      const v = await probe();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it("keeps a firing alert firing with its times, without a second notice or transition", async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const doc = JSON.parse(body) as { status: string; alerts: Array<{ rule: string }> };
        received.push({ status: doc.status, rules: doc.alerts.map((x) => x.rule) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    // Half an hour of /data filling 1 %/min up to 80 %: full in 20 min.
    const nowMs = Date.now();
    const store = await openEmbeddedStore({ dataDir, log, clock: systemClock });
    const points: Point[] = [];
    for (let i = 0; i < 180; i++) points.push({ measurement: "disk", tags: { host: "h1", path: "/data" }, fields: { used_percent: 50 + i / 6 }, timeMs: nowMs - (180 - i) * 10_000 });
    store.write(points);
    await store.close();

    app = await start(url);
    const [fired] = await until("the alert to fire and be notified", async () => {
      const a = await alerts(app!);
      return a.length === 1 && a[0]!.state === "firing" && received.length === 1 ? a : undefined;
    });
    expect(received).toEqual([{ status: "firing", rules: ["data_full"] }]);
    await app.stop();

    app = await start(url);
    // Shown at once, as it was, and still so after evaluations.
    expect((await alerts(app)).map((x) => [x.rule, x.state, x.activeSinceMs, x.firedAtMs])).toEqual([["data_full", "firing", fired!.activeSinceMs, fired!.firedAtMs]]);
    const evaluatedAfter = Date.now();
    await until("two evaluations", async () => {
      const health = (await (await fetch(`${app!.url}/api/v1/rules`)).json()) as { rules: Array<{ lastEvaluationMs: number | null }> };
      return (health.rules[0]?.lastEvaluationMs ?? 0) > evaluatedAfter + 1000 ? true : undefined;
    });
    expect((await alerts(app)).map((x) => [x.state, x.firedAtMs])).toEqual([["firing", fired!.firedAtMs]]);
    const history = ((await (await fetch(`${app.url}/api/v1/alerts/history`)).json()) as { transitions: Array<{ alert: { rule: string } }> }).transitions;
    expect(history.filter((t) => t.alert.rule === "data_full")).toEqual([]);
    expect(received).toEqual([{ status: "firing", rules: ["data_full"] }]);
  });
});
