import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { defaultRules } from "../../analyzer/default-rules.js";
import { createAnalyzer, type Analyzer } from "../../analyzer/engine.js";
import type { RuleSpec } from "../../analyzer/rules.js";
import { columnsToPoints, selectColumns, type PointColumns } from "../../core/columns.js";
import type { Point } from "../../core/point.js";
import { openEmbeddedStore, type EmbeddedStore } from "../../store/embedded.js";
import { createParsePool } from "./parse-pool.js";

// The columnar sink (worker batches straight into the store and the analyzer) must keep exactly
// what the point path keeps: the same series, samples, drops and predictions.

const log = pino({ level: "silent" });
const T0 = 1_800_000_000_000;
const MIN = 60_000;

const thresholdRule: RuleSpec = {
  name: "process_vs_host_memory",
  severity: "warning",
  match: { measurement: "procstat", field: "memory_rss" },
  threshold: { measurement: "mem", field: "total", on: ["host"] },
  horizonMs: 24 * 60 * MIN,
  forMs: 0,
  windowMs: 60 * MIN,
  minSamples: 5,
  summary: "",
};
const rules = [...defaultRules, thresholdRule];

/** Pass `k` of a small fleet: trends, strings, booleans, shape changes, a bad line, a series that comes and goes. */
function body(k: number): string {
  const t = T0 + k * MIN;
  const lines: string[] = [];
  for (let h = 0; h < 4; h++) {
    const host = `web-${h}`;
    lines.push(`disk,host=${host},path=/var,fstype=ext4 used_percent=${40 + k * (h + 1) * 0.7},free=${1e9 - k * 1e6}i,total=2000000000i ${t}`);
    lines.push(`mem,host=${host} total=8000000000i,used_percent=${30 + k * 0.5},available=${4e9 - k * 1e7}i ${t}`);
    lines.push(`procstat,host=${host},process_name=worker memory_rss=${1e8 + k * h * 3e7}i,cmdline="worker --x",running=true ${t}`);
    // Fields in another order and a subset, every other pass.
    if (k % 2 === 0) lines.push(`disk,host=${host},path=/,fstype=ext4 total=500i,used_percent=${10 + k} ${t}`);
    else lines.push(`disk,host=${host},path=/,fstype=ext4 used_percent=${10 + k},total=500i,inodes_free=7i ${t}`);
  }
  lines.push(`weird,tag\\ x=a\\,b __proto__=1,v=-0i,s="a\nb",f=F ${t}`);
  if (k % 3 === 0) lines.push("not a line");
  if (k % 4 === 1) lines.push(`only_now,host=x v=${k}e2 ${t}`);
  return `${lines.join("\n")}\n`;
}

interface Side {
  store: EmbeddedStore;
  analyzer: Analyzer;
  registry: Registry;
}

async function side(dir: string): Promise<Side> {
  const registry = new Registry();
  // Flushes every few passes; the queue's cap (20 batches) stays above everything written, so a slow
  // disk cannot drop values on one side only (queue_full depends on timing, not on the path).
  const store = await openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => T0 }, registry, flushIntervalMs: 60_000, maxBatchPoints: 211 });
  return { store, analyzer: createAnalyzer({ rules, log }), registry };
}

async function held(s: Side): Promise<Array<[string, Array<[number, number]>]>> {
  const out: Array<[string, Array<[number, number]>]> = [];
  const series = (await s.store.listSeries({})).map((i) => i.key).sort();
  for (const key of series) out.push([key, await s.store.query({ series: key, startMs: T0 - MIN, endMs: T0 + 100 * MIN, stepMs: 1, aggregate: "last" })]);
  return out;
}

describe("columnar sink", () => {
  const pool = createParsePool({ workers: 1, minWorkerBytes: 0 });
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-columnar-"));
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores and predicts exactly what the point path does", async () => {
    const points = await side(path.join(dir, "points"));
    const columns = await side(path.join(dir, "columns"));
    const opts = { precision: "ms" as const, defaultTimeMs: T0 };
    for (let k = 0; k < 40; k++) {
      const bytes = Buffer.from(body(k));
      const a = await pool.parse(Buffer.from(bytes), opts);
      const b = await pool.parseColumns!(Buffer.from(bytes), opts);
      if (b.kind !== "columns") throw new Error("the worker pool answered points");
      expect(b.errors).toEqual(a.errors);
      expect(columnsToPoints(b.columns)).toEqual(a.points);
      points.store.write(a.points);
      points.analyzer.write(a.points);
      columns.store.writeColumns(b.columns);
      columns.analyzer.writeColumns(b.columns);
    }
    const nowMs = T0 + 41 * MIN;
    const predicted = points.analyzer.evaluate(nowMs);
    expect(predicted.predictions.length).toBeGreaterThan(4);
    expect(columns.analyzer.evaluate(nowMs)).toEqual(predicted);
    const health = (a: Analyzer) => a.ruleHealth().map((h) => ({ ...h, lastDurationMs: 0 }));
    expect(health(columns.analyzer)).toEqual(health(points.analyzer));

    const heldPoints = await held(points);
    expect(heldPoints.length).toBeGreaterThan(20);
    expect(await held(columns)).toEqual(heldPoints);
    const stats = async (s: Side) => ({ ...(await s.store.stats()), fileBytes: 0 });
    expect(await stats(columns)).toEqual(await stats(points));
    const drops = (s: Side) => s.registry.getSingleMetricAsString("ansai_store_points_dropped_total");
    expect(await drops(columns)).toEqual(await drops(points));
    expect(await drops(points)).toContain('reason="non_numeric"');
    expect(await drops(points)).not.toContain('reason="queue_full"');
    await Promise.all([points.store.close(), columns.store.close()]);
  });

  it("drops the points a mask leaves out, strings and booleans included", async () => {
    const opts = { precision: "ms" as const, defaultTimeMs: T0 };
    const bytes = Buffer.from(body(3));
    const a = await pool.parse(Buffer.from(bytes), opts);
    const b = await pool.parseColumns!(Buffer.from(bytes), opts);
    if (b.kind !== "columns") throw new Error("the worker pool answered points");
    const keep = new Uint8Array(b.columns.count).map((_, i) => (i % 3 === 1 ? 0 : 1));
    const kept: PointColumns = selectColumns(b.columns, keep);
    expect(columnsToPoints(kept)).toEqual(a.points.filter((_: Point, i: number) => i % 3 !== 1));
    expect(selectColumns(b.columns, new Uint8Array(b.columns.count).fill(1))).toBe(b.columns);
  });
});
