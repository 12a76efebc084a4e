import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type RunningApp } from "./app.js";
import { configSchema } from "./config/schema.js";
import { systemClock, type Prediction } from "./core/contracts.js";
import type { Point } from "./core/point.js";
import { openEmbeddedStore } from "./store/embedded.js";

const log = pino({ level: "silent" });

/** The composed app over real parts: the embedded store, the analyzer, the API on a real socket. */
describe("app", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ansai-app-"));
  const nowMs = Date.now();
  let app: RunningApp;

  beforeAll(async () => {
    // History from a previous run: 2 h of /data rising 0.1 %/min to 50 %, and /flat not moving, every
    // 10 s (the default 24 h disk rule trusts a fresh trend once it spans 1/48 of its 3-day window).
    const store = await openEmbeddedStore({ dataDir, log, clock: systemClock });
    const points: Point[] = [];
    for (let i = 0; i < 720; i++) {
      const timeMs = nowMs - (720 - i) * 10_000;
      const tags = { host: "h1", path: "/data", device: "vdb", fstype: "ext4", mode: "rw" };
      points.push({ measurement: "disk", tags, fields: { used_percent: 38 + i / 60 }, timeMs });
      points.push({ measurement: "disk", tags: { ...tags, path: "/flat" }, fields: { used_percent: 30 }, timeMs });
    }
    store.write(points);
    await store.close();
    const config = configSchema.parse({
      data_dir: dataDir,
      api: { port: 0 },
      collectors: { disk: { enabled: false }, procstat: { enabled: false } },
      // The default 24 h disk warning alerts after a day of history; this one from the first hour.
      analyzer: { rules: [{ name: "disk_full_24h", measurement: "disk", field: "used_percent", model: "sawtooth_trend", threshold: 100, horizon: "24h", window: "3d", for: "1h" }] },
    });
    app = await startApp({ config, cwd: dataDir, log, version: "test", env: process.env });
    // The first evaluation runs a moment after the first collection pass.
    for (let i = 0; i < 50 && app.analyzer.predictions().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => app?.stop());

  const get = async (route: string): Promise<{ status: number; type: string; body: Record<string, unknown> }> => {
    const res = await fetch(`${app.url}${route}`);
    return { status: res.status, type: res.headers.get("content-type") ?? "", body: (await res.json()) as Record<string, unknown> };
  };

  it("warms the models from the store, so predictions exist right after a restart", async () => {
    const { body } = await get("/api/v1/predictions?rule=disk_full_24h");
    const predictions = body.predictions as Prediction[];
    expect(predictions.map((p) => p.tags.path)).toEqual(["/data", "/flat"]);
    const [rising, flat] = predictions;
    // 50 % left at 0.1 %/min: 500 minutes.
    expect((rising!.etaMs! - rising!.atMs) / 60_000).toBeGreaterThan(450);
    expect((rising!.etaMs! - rising!.atMs) / 60_000).toBeLessThan(550);
    expect(flat!.etaMs).toBeNull();
  });

  it("serves health, metrics with units in their names, and the series it holds", async () => {
    expect((await get("/healthz")).body).toMatchObject({ status: "ok", version: "test" });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    for (const name of ["ansai_collector_points_total", "ansai_collect_duration_seconds", "ansai_store_points_written_total", "ansai_rule_evaluation_duration_seconds"]) {
      expect(metrics).toContain(name);
    }
    const { body } = await get("/api/v1/series?measurement=disk&tag.path=/data");
    expect(body.series).toEqual([expect.objectContaining({ key: "disk,device=vdb,fstype=ext4,host=h1,mode=rw,path=/data used_percent" })]);
  });

  it("queries a range with a step and an aggregate", async () => {
    const series = encodeURIComponent("disk,device=vdb,fstype=ext4,host=h1,mode=rw,path=/flat used_percent");
    const { status, body } = await get(`/api/v1/query?series=${series}&start=-20m&step=5m&aggregate=max`);
    expect(status).toBe(200);
    const samples = body.samples as Array<[number, number]>;
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const [t, v] of samples) {
      expect(t % 300_000).toBe(0);
      expect(v).toBe(30);
    }
  });

  it.each([
    ["/api/v1/query", /series: /],
    ["/api/v1/query?series=nonsense", /is not a series key/],
    ["/api/v1/query?series=cpu%20x&start=yesterday", /"yesterday" is not a time/],
    ["/api/v1/query?series=cpu%20x&aggregate=median", /aggregate/],
    ["/api/v1/query?series=cpu%20x&start=-1h&end=-2h", /is not before end/],
    ["/api/v1/predictions?within=soon", /"soon" is not a duration/],
  ])("%s is a 400 problem with a stable code and a hint", async (route, detail) => {
    const res = await get(route);
    expect(res.status).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body).toMatchObject({ code: "ANSAI_QUERY_INVALID", status: 400 });
    expect(res.body.detail).toMatch(detail);
    expect(res.body.hint).toEqual(expect.any(String));
  });

  it("shows each rule's health", async () => {
    const rules = (await get("/api/v1/rules")).body.rules as Array<{ rule: string; lastEvaluationMs: number | null; lastError: string | null; series: number }>;
    const disk = rules.find((r) => r.rule === "disk_full_24h");
    expect(disk).toMatchObject({ lastError: null, series: 2 });
    expect(disk?.lastEvaluationMs).toBeGreaterThan(nowMs - 60_000);
  });

  it("answers an unknown route with a 404 problem", async () => {
    const res = await get("/api/v1/nope");
    expect(res.status).toBe(404);
    expect(res.type).toContain("application/problem+json");
  });

  it("filters predictions by resource", async () => {
    expect(((await get("/api/v1/predictions?resource=disk")).body.predictions as unknown[]).length).toBeGreaterThan(0);
    expect((await get("/api/v1/predictions?resource=procstat")).body.predictions).toEqual([]);
  });

  it("counts matching series (cardinality) beyond the limit", async () => {
    const { body } = await get("/api/v1/series?measurement=disk&field=used_percent&limit=1");
    expect(body).toMatchObject({ cardinality: 2, truncated: true });
    expect(body.series).toHaveLength(1);
  });

  it("groups series by a tag, as JSON and as CSV", async () => {
    const route = "/api/v1/query/grouped?measurement=disk&field=used_percent&group_by=path&start=-20m&step=5m&aggregate=max";
    const { status, body } = await get(route);
    expect(status).toBe(200);
    const groups = body.groups as Array<{ tags: Record<string, string>; series: number; samples: Array<[number, number]> }>;
    expect(groups.map((g) => [g.tags.path, g.series])).toEqual([["/data", 1], ["/flat", 1]]);
    expect(groups[1]!.samples.every(([, v]) => v === 30)).toBe(true);
    const csv = await fetch(`${app.url}${route}&format=csv`);
    expect(csv.headers.get("content-type")).toContain("text/csv");
    const lines = (await csv.text()).trimEnd().split("\n");
    expect(lines[0]).toBe("time,path,value");
    expect(lines.filter((l) => l.includes(",/flat,")).every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z,\/flat,30$/.test(l))).toBe(true);
    const single = await fetch(`${app.url}/api/v1/query?series=${encodeURIComponent("disk,device=vdb,fstype=ext4,host=h1,mode=rw,path=/flat used_percent")}&start=-20m&step=5m&format=csv`);
    expect((await single.text()).split("\n")[0]).toBe("time,value");
  });

  it("keeps alert transitions as history, and marks silenced alerts (which are not notified)", async () => {
    const history = (await get("/api/v1/alerts/history?since=-1h")).body.transitions as Array<{ atMs: number; alert: { rule: string; state: string; tags: Record<string, string> } }>;
    expect(history.map((t) => [t.alert.rule, t.alert.state, t.alert.tags.path])).toContainEqual(["disk_full_24h", "pending", "/data"]);
    const res = await fetch(`${app.url}/api/v1/silences`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ matchers: { rule: "disk_full_24h", tags: { path: "/data" } }, duration: "1h", comment: "maintenance" }),
    });
    expect(res.status).toBe(201);
    const alerts = (await get("/api/v1/alerts")).body.alerts as Array<{ rule: string; silenced?: boolean }>;
    expect(alerts.map((a) => [a.rule, a.silenced])).toEqual([["disk_full_24h", true]]);
    const { id } = ((await res.json()) as { silence: { id: string } }).silence;
    expect((await fetch(`${app.url}/api/v1/silences/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
    expect(((await get("/api/v1/alerts")).body.alerts as Array<{ silenced?: boolean }>)[0]!.silenced).toBeUndefined();
  });

  it("raises a pending 24 h alert for the disk full in about 8 h, and none for the flat one", async () => {
    const alerts = (await get("/api/v1/alerts")).body.alerts as Array<{ rule: string; state: string; tags: Record<string, string> }>;
    expect(alerts.map((a) => [a.rule, a.state, a.tags.path])).toEqual([["disk_full_24h", "pending", "/data"]]);
    const grouped = (await get("/api/v1/alerts?group=host&state=pending")).body.hosts as Record<string, unknown[]>;
    expect(Object.keys(grouped)).toEqual(["h1"]);
    expect((await get("/api/v1/alerts?state=firing")).body.alerts).toEqual([]);
    // No action is declared, so the journal stays empty.
    expect((await get("/api/v1/actions")).body).toEqual({ actions: [] });
  });
});
