/**
 * Analyzer throughput: 6 h of 15 s samples (1440 per series) for 10k and 100k disk series through
 * `write()` (points) or `writeColumns()` (columns in batches of 5,000 points, as line-protocol
 * ingest hands them over), then one `evaluate()` over all of them. Run: `npx tsx bench/analyzer.ts`
 * (or one row: `npx tsx bench/analyzer.ts 100000-columns`; inputs kept, fresh, columns). Only the
 * write calls are timed, not the refilling of the points' values between steps.
 */
import pino from "pino";
import type { ColumnHead, PointColumns } from "../src/core/columns.js";
import type { Point } from "../src/core/point.js";
import { defaultRules } from "../src/analyzer/default-rules.js";
import { createAnalyzer } from "../src/analyzer/engine.js";

const STEP_MS = 15_000;
const SAMPLES = 1440;
const T0 = 1_700_000_000_000;

/** Points per `writeColumns` call (an ingest body of a few hundred KB). */
const COLUMN_BATCH = 5000;
const FIELDS = ["used_percent", "free", "used", "total", "inodes_used"];

type Input = "kept" | "fresh" | "columns";

interface Row {
  series: number;
  input: Input;
  writeS: number;
  nsPerSample: number;
  evalMs: number;
  usPerSeries: number;
  heapMiB: number;
}

function run(seriesCount: number, input: Input): Row {
  const analyzer = createAnalyzer({ rules: defaultRules, log: pino({ level: "silent" }) });
  const freshTags = input === "fresh";
  // Telegraf-shaped disk points, one per series, reused between steps. With `freshTags` the tags
  // object is rebuilt every step (string route key); otherwise it is kept (identity fast path).
  const hosts = Math.ceil(seriesCount / 10);
  const tagsOf = (i: number): Record<string, string> => ({
    host: `host-${i % hosts}`,
    path: `/data${Math.floor(i / hosts)}`,
    device: "sda1",
    fstype: "ext4",
    mode: "rw",
  });
  const batch: Array<Point & { fields: Record<string, number> }> = [];
  for (let i = 0; i < seriesCount; i++) {
    batch.push({
      measurement: "disk",
      tags: tagsOf(i),
      fields: { used_percent: 0, free: 0, used: 0, total: 1e12, inodes_used: 0 },
      timeMs: T0,
    });
  }
  const rates = Float64Array.from({ length: seriesCount }, (_, i) => ((i % 97) + 1) / 1e6); // % per s
  const columns = input === "columns" ? columnBatches(batch) : [];
  let writeMs = 0;
  for (let step = 0; step < SAMPLES; step++) {
    const t = T0 + step * STEP_MS;
    for (let i = 0; i < seriesCount; i++) {
      const p = batch[i]!;
      p.timeMs = t;
      if (freshTags) p.tags = tagsOf(i);
      const v = 10 + rates[i]! * step * 15 + ((i * 7919 + step * 104729) % 1000) / 5000;
      p.fields.used_percent = v;
      p.fields.used = v * 1e10;
      p.fields.free = 1e12 - v * 1e10;
    }
    // Filling the columns is the parser's work, not the analyzer's: outside the timed part.
    for (const c of columns) fillColumns(c, batch);
    const started = performance.now();
    if (input === "columns") for (const c of columns) analyzer.writeColumns(c);
    else analyzer.write(batch);
    writeMs += performance.now() - started;
  }
  const evalStart = performance.now();
  const { predictions } = analyzer.evaluate(T0 + (SAMPLES - 1) * STEP_MS);
  const evalMs = performance.now() - evalStart;
  if (predictions.length !== seriesCount * 2) throw new Error(`expected ${seriesCount * 2} predictions, got ${predictions.length}`);
  return {
    series: seriesCount,
    input,
    writeS: writeMs / 1000,
    nsPerSample: (writeMs * 1e6) / (seriesCount * SAMPLES),
    evalMs,
    usPerSeries: (evalMs * 1000) / seriesCount,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

/** The points as column batches of COLUMN_BATCH points, with one heads table kept across batches (as ingest keeps it). */
function columnBatches(points: ReadonlyArray<Point>): PointColumns[] {
  const heads: ColumnHead[] = points.map((p) => ({ measurement: p.measurement, tags: Object.freeze({ ...p.tags }) }));
  const fieldNames = [FIELDS];
  const out: PointColumns[] = [];
  for (let from = 0; from < points.length; from += COLUMN_BATCH) {
    const count = Math.min(COLUMN_BATCH, points.length - from);
    out.push({
      count,
      heads,
      fieldNames,
      headIds: Int32Array.from({ length: count }, (_, j) => from + j),
      shapeIds: new Int32Array(count),
      timesMs: new Float64Array(count),
      values: new Float64Array(count * FIELDS.length),
      others: [],
    });
  }
  return out;
}

function fillColumns(c: PointColumns, points: ReadonlyArray<Point>): void {
  for (let j = 0; j < c.count; j++) {
    const p = points[c.headIds[j]!]!;
    c.timesMs[j] = p.timeMs;
    for (let f = 0; f < FIELDS.length; f++) c.values[j * FIELDS.length + f] = p.fields[FIELDS[f]!] as number;
  }
}

const INPUT_LABEL: Record<Input, string> = { kept: "write(), tags kept per series", fresh: "write(), new tags per point", columns: "writeColumns()" };
const only = process.argv[2];
const plan: Array<[number, Input]> = [
  [10_000, "kept"],
  [100_000, "kept"],
  [10_000, "fresh"],
  [10_000, "columns"],
  [100_000, "columns"],
];
const rows = plan.filter(([n, input]) => only === undefined || only === `${n}-${input}`).map(([n, input]) => run(n, input));
console.log(`Node ${process.version}, ${SAMPLES} samples per series (6 h at 15 s), default rules\n`);
console.log("| series | input | write total (s) | write (ns/sample) | evaluate (ms) | evaluate (µs/series) | heap after (MiB) |");
console.log("|---:|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.series.toLocaleString("en")} | ${INPUT_LABEL[r.input]} | ${r.writeS.toFixed(1)} | ${r.nsPerSample.toFixed(0)} | ${r.evalMs.toFixed(0)} | ${r.usPerSeries.toFixed(2)} | ${r.heapMiB.toFixed(0)} |`,
  );
}
