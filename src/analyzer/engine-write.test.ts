import pino from "pino";
import { describe, expect, it } from "vitest";
import type { ColumnHead, PointColumns } from "../core/columns.js";
import type { Prediction } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { createAnalyzer, type Analyzer } from "./engine.js";
import type { RuleSpec } from "./rules.js";

// The write path caches routes by tags identity, by position in a producer's batch, by column head
// id and by field-list shape. Whatever the caching, the models must see exactly what one point per
// call with a fresh tags object (no cache can hit) makes them see.

const S = 1000;
const MIN = 60 * S;
const T0 = 1_700_000_000_000;
const log = pino({ level: "silent" });

const base = { severity: "warning", horizonMs: 60 * MIN, forMs: 0, windowMs: 10 * MIN, minSamples: 3, summary: "x" } as const;
const RULES: RuleSpec[] = [
  { ...base, name: "disk_lin", match: { measurement: "disk", field: "used_percent" }, threshold: { value: 100 } },
  { ...base, name: "disk_saw", model: "sawtooth_trend", match: { measurement: "disk", field: "used_percent" }, threshold: { value: 100 } },
  // Same model and window as disk_lin: shares its slot.
  { ...base, name: "disk_lin_2", match: { measurement: "disk", field: "used_percent", tags: { host: "h1" } }, threshold: { value: 90 } },
  { ...base, name: "rss", match: { measurement: "procstat", field: "memory_rss" }, threshold: { field: "memory_limit" } },
  { ...base, name: "mem", match: { measurement: "mem", field: "used" }, threshold: { measurement: "mem_limit", field: "bytes", on: ["host"] } },
];

/** One step's points: per host a disk, a procstat and a mem point, and a mem_limit series. */
function pointsAt(step: number, hosts: number): Point[] {
  const t = T0 + step * 10 * S;
  const out: Point[] = [];
  for (let h = 0; h < hosts; h++) {
    const tags = { host: `h${h}` };
    out.push({ measurement: "disk", tags, fields: { used_percent: 20 + h + step * 0.1 * (h + 1), free: 1 }, timeMs: t });
    out.push({ measurement: "procstat", tags, fields: { memory_rss: 1e6 * (100 + step * h), memory_limit: 1e9, name: "worker" }, timeMs: t });
    out.push({ measurement: "mem", tags, fields: { used: 1e6 * (200 + step * 2 * h) }, timeMs: t });
    if (step % 3 === 0) out.push({ measurement: "mem_limit", tags, fields: { bytes: 1e9 + h }, timeMs: t });
  }
  return out;
}

/** What the models say, in a stable order. */
function summary(a: Analyzer, nowMs: number): Array<Partial<Prediction>> {
  return a
    .evaluate(nowMs)
    .predictions.map((p) => ({ rule: p.rule, series: p.series, threshold: p.threshold, samples: p.samples, etaMs: p.etaMs, slopePerS: p.slopePerS, value: p.value }))
    .sort((x, y) => `${x.rule} ${x.series}`.localeCompare(`${y.rule} ${y.series}`));
}

/** Reference: one point per call, a fresh tags object every time. */
function feedOneByOne(a: Analyzer, points: readonly Point[]): void {
  for (const p of points) a.write([{ ...p, tags: { ...p.tags } }]);
}

/** Producer keeping its tags objects: one batch per step, in an order that changes every other step. */
function keptTagsFeeder(): (a: Analyzer, points: readonly Point[], step: number) => void {
  const kept = new Map<string, Readonly<Record<string, string>>>();
  const shared = (tags: Readonly<Record<string, string>>): Readonly<Record<string, string>> => {
    // One tags object per host, shared by all its measurements: the measurement must tell routes apart.
    const key = JSON.stringify(tags);
    let t = kept.get(key);
    if (t === undefined) kept.set(key, (t = tags));
    return t;
  };
  return (a, points, step) => {
    const batch = points.map((p) => ({ ...p, tags: shared(p.tags) }));
    if (step % 2 === 1) batch.reverse();
    a.write(batch);
  };
}

/**
 * Ingest-like producer: one heads table and one field-names table kept across batches of 5 points;
 * `inRanges` writes each batch as ranges of 2 and 3 points (as a replay does up to each evaluation).
 */
function columnsFeeder(inRanges = false): (a: Analyzer, points: readonly Point[]) => void {
  const heads: ColumnHead[] = [];
  const headIds = new Map<string, number>();
  const fieldNames: string[][] = [];
  const shapeIds = new Map<string, number>();
  const idOf = <T>(map: Map<string, number>, table: T[], key: string, make: () => T): number => {
    let id = map.get(key);
    if (id === undefined) {
      id = table.length;
      table.push(make());
      map.set(key, id);
    }
    return id;
  };
  return (a, points) => {
    for (let from = 0; from < points.length; from += 5) {
      const chunk = points.slice(from, from + 5);
      const values: number[] = [];
      const others: Array<[number, string | boolean]> = [];
      const hs: number[] = [];
      const ss: number[] = [];
      const firstValues: number[] = [];
      for (const p of chunk) {
        firstValues.push(values.length);
        hs.push(idOf(headIds, heads, `${p.measurement} ${JSON.stringify(p.tags)}`, () => ({ measurement: p.measurement, tags: Object.freeze({ ...p.tags }) })));
        const names = Object.keys(p.fields);
        ss.push(idOf(shapeIds, fieldNames, names.join(","), () => names));
        for (const n of names) {
          const v = p.fields[n];
          if (typeof v !== "number") others.push([values.length, v as string | boolean]);
          values.push(typeof v === "number" ? v : NaN);
        }
      }
      const c: PointColumns = {
        count: chunk.length,
        heads,
        fieldNames,
        headIds: Int32Array.from(hs),
        shapeIds: Int32Array.from(ss),
        timesMs: Float64Array.from(chunk.map((p) => p.timeMs)),
        values: Float64Array.from(values),
        others,
      };
      if (!inRanges) a.writeColumns(c);
      else {
        const cut = Math.min(2, c.count);
        a.writeColumns(c, 0, cut, 0);
        if (cut < c.count) a.writeColumns(c, cut, c.count, firstValues[cut]);
      }
    }
  };
}

describe("analyzer write path", () => {
  const modes = [
    { name: "write(), tags objects kept, batch order changing", feeder: keptTagsFeeder },
    { name: "writeColumns(), heads and shapes kept across batches", feeder: () => columnsFeeder() },
    { name: "writeColumns() in ranges of a batch", feeder: () => columnsFeeder(true) },
  ];

  it.each(modes)("$name: models see what one point per call shows them", ({ feeder }) => {
    const reference = createAnalyzer({ rules: RULES, log });
    const cached = createAnalyzer({ rules: RULES, log });
    const feed = feeder();
    for (let step = 0; step < 40; step++) {
      const points = pointsAt(step, 4);
      feedOneByOne(reference, points);
      feed(cached, points, step);
    }
    const now = T0 + 39 * 10 * S;
    const want = summary(reference, now);
    // 4 hosts × (2 disk models + rss + mem) + disk_lin_2 on h1.
    expect(want).toHaveLength(17);
    expect(summary(cached, now)).toEqual(want);
  });

  it.each(modes)("$name: keeps routing right after stale series are forgotten (routes rebuilt)", ({ feeder }) => {
    const reference = createAnalyzer({ rules: RULES, log });
    const cached = createAnalyzer({ rules: RULES, log });
    const feed = feeder();
    let step = 0;
    const run = (steps: number, hosts: number): void => {
      for (const end = step + steps; step < end; step++) {
        const points = pointsAt(step, hosts);
        feedOneByOne(reference, points);
        feed(cached, points, step);
      }
    };
    run(10, 4);
    // Hosts h2 and h3 stop reporting for over two windows; the sweep forgets them.
    run(150, 2);
    const afterSweep = T0 + (step - 1) * 10 * S;
    expect(summary(cached, afterSweep)).toEqual(summary(reference, afterSweep));
    expect(summary(cached, afterSweep)).toHaveLength(2 * 4 + 1);
    // They come back: new slots, and every cached route from before the sweep must be dropped.
    run(20, 4);
    const now = T0 + (step - 1) * 10 * S;
    const want = summary(reference, now);
    expect(want).toHaveLength(17);
    expect(summary(cached, now)).toEqual(want);
  });
});
