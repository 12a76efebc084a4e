import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../../src/core/point.js";
import { FLEET_HOSTS, generateFleet } from "../support/fleet-data.js";
import { listDashboardQueries, type DashboardQuery } from "../support/grafana.js";
import { diffAnswers, hasRows, runQueryBothWays, sortRowsWithinTime, startAnsaiQuery, startInfluxd, writeInfluxd, type AnsaiQuery, type Influxd } from "../support/influxql.js";

// Every query of every dashboard in grafana/, expanded as Grafana expands it ($timeFilter,
// $__interval, multi-value variables), against a real InfluxDB 1.x and ANSAI's /query holding the
// same data: the answers must be equal and hold rows, so one set of dashboards serves both stores.
const END_MS = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
const FROM_MS = END_MS - 2 * 3_600_000;
const SERVER = "ansai-server";
const ACTIONS = ["restart-worker", "clean-logs"];

/** ANSAI's own points the fleet data lacks: its journal (`ansai_action`) and health (`ansai_internal`). */
function ansaiPoints(): Point[] {
  const points: Point[] = [];
  for (let t = FROM_MS - 3_600_000, i = 0; t <= END_MS; t += 60_000, i++) {
    points.push({
      measurement: "ansai_internal",
      tags: { host: SERVER },
      fields: { points_ingested_total: 1000 * i, points_per_s: 100 + (i % 7), store_pending_points: i % 5, buffer_bytes: 1024 * (i % 3), rule_eval_ms: 1 + (i % 4) / 2, series: 120, alerts_firing: i % 3 },
      timeMs: t,
    });
    if (i % 5 !== 0) continue;
    const host = FLEET_HOSTS[i % FLEET_HOSTS.length]!;
    const action = ACTIONS[i % ACTIONS.length]!;
    const base = { action, rule: "disk_full_24h", host, dry_run: "false" };
    points.push({ measurement: "ansai_action", tags: { ...base, kind: "planned", reason: "none" }, fields: { count: 1 }, timeMs: t });
    if (i % 15 === 0) {
      points.push({ measurement: "ansai_action", tags: { ...base, kind: "suppressed", reason: "cooldown" }, fields: { count: 1 }, timeMs: t + 1 });
    } else {
      points.push({ measurement: "ansai_action", tags: { ...base, kind: "finished", reason: "none" }, fields: { count: 1, ok: i % 10 === 0 ? 0 : 1, duration_ms: 200 + i }, timeMs: t + 1 });
    }
  }
  return points;
}

/** What the host, leak and health dashboards read beyond the fleet data: load, swap, limits, forecasts. */
function hostPoints(): Point[] {
  const points: Point[] = [];
  for (let t = FROM_MS - 3_600_000, i = 0; t <= END_MS; t += 60_000, i++) {
    for (const [hi, host] of FLEET_HOSTS.entries()) {
      points.push({ measurement: "system", tags: { host }, fields: { load1: 0.5 + hi + (i % 5) / 10, load5: 0.4 + hi, load15: 0.3 + hi, uptime: 86_400 + i * 60 }, timeMs: t });
      points.push({ measurement: "swap", tags: { host }, fields: { used_percent: 5 + hi + (i % 3) }, timeMs: t });
      for (const [pi, process_name] of ["nginx", "postgres"].entries()) {
        const pid = String(1000 + 10 * hi + pi);
        points.push({ measurement: "procstat", tags: { host, process_name, pid }, fields: { memory_limit: 2 ** 31 }, timeMs: t });
        points.push({
          measurement: "ansai_prediction",
          tags: { host, process_name, pid, rule: "process_memory_leak", model: "leak_detector", source_measurement: "procstat", source_field: "memory_rss" },
          fields: { eta_s: 7200 - i, eta_low_s: 6000 - i, eta_high_s: 9000 - i, slope_per_s: 1000 + pi, forecast_value: 1.5e9, forecast_low: 1.3e9, forecast_high: 1.8e9, confidence: 0.99, threshold: 2 ** 31, value: 1e9 + i * 6e4 },
          timeMs: t,
        });
      }
      for (const path of ["/", "/var"]) {
        points.push({
          measurement: "ansai_prediction",
          tags: { host, path, device: "sda1", fstype: "ext4", rule: "disk_full_24h", model: "sawtooth_trend", source_measurement: "disk", source_field: "used_percent" },
          fields: { eta_s: 50_000 - 60 * i, eta_low_s: 40_000 - 60 * i, eta_high_s: 60_000 - 60 * i, slope_per_s: 0.0005, forecast_value: 90 + hi, forecast_low: 85 + hi, forecast_high: 96 + hi, confidence: 0.97, threshold: 100, value: 60 + i / 100 },
          timeMs: t,
        });
      }
    }
  }
  return points;
}

/** Raw selects across several series: InfluxDB orders rows of one timestamp arbitrarily. */
const hasTies = (q: DashboardQuery): boolean => /^SELECT\s+"/.test(q.query);

describe("Grafana dashboards: ANSAI's /query against InfluxDB 1.x on the same data", () => {
  let influxd: Influxd;
  let ansai: AnsaiQuery;
  const queries = listDashboardQueries({
    fromMs: FROM_MS,
    toMs: END_MS,
    interval: "1m",
    variables: { host: [...FLEET_HOSTS], path: ["/", "/var"], process: ["nginx", "postgres"], action: ACTIONS, server: [SERVER] },
  });

  beforeAll(async () => {
    const points = [...generateFleet({ endMs: END_MS }), ...ansaiPoints(), ...hostPoints()];
    influxd = await startInfluxd();
    ansai = await startAnsaiQuery(points);
    await writeInfluxd(influxd.url, points);
  }, 120_000);

  afterAll(async () => {
    await ansai?.close();
    await influxd?.stop();
  });

  it("finds the queries of every dashboard", () => {
    expect(new Set(queries.map((q) => q.dashboardUid))).toEqual(new Set(["ansai-fleet", "ansai-host", "ansai-leaks", "ansai-certs", "ansai-remediation", "ansai-health"]));
    expect(queries.length).toBeGreaterThan(30);
  });

  it.each(queries.map((q) => ({ ...q, name: `${q.dashboardUid} / ${q.where}` })))("$name", async (q) => {
    const both = await runQueryBothWays(influxd.url, ansai.app, q.query, { epoch: "ms", db: "ansai" });
    const [expected, actual] = hasTies(q) ? [sortRowsWithinTime(both.influxd), sortRowsWithinTime(both.ansai)] : [both.influxd, both.ansai];
    expect(expected.status, JSON.stringify(expected.body).slice(0, 500)).toBe(200);
    expect(hasRows(expected), `influxd answered without rows: ${q.query}`).toBe(true);
    expect(diffAnswers(expected, actual), `${q.query}\ninfluxd: ${JSON.stringify(expected.body).slice(0, 1200)}\nansai: ${JSON.stringify(actual.body).slice(0, 1200)}`).toEqual([]);
  });
});
