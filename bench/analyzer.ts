/**
 * Analyzer throughput: 6 h of 15 s samples (1440 per series) for 10k and 100k disk series through
 * `write()`, then one `evaluate()` over all of them. Run: `npx tsx bench/analyzer.ts`.
 */
import pino from "pino";
import type { Point } from "../src/core/point.js";
import { defaultRules } from "../src/analyzer/default-rules.js";
import { createAnalyzer } from "../src/analyzer/engine.js";

const STEP_MS = 15_000;
const SAMPLES = 1440;
const T0 = 1_700_000_000_000;

interface Row {
  series: number;
  freshTags: boolean;
  writeS: number;
  nsPerSample: number;
  evalMs: number;
  usPerSeries: number;
  heapMiB: number;
}

function run(seriesCount: number, freshTags: boolean): Row {
  const analyzer = createAnalyzer({ rules: defaultRules, log: pino({ level: "silent" }) });
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
  const started = performance.now();
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
    analyzer.write(batch);
  }
  const writeMs = performance.now() - started;
  const evalStart = performance.now();
  const { predictions } = analyzer.evaluate(T0 + (SAMPLES - 1) * STEP_MS);
  const evalMs = performance.now() - evalStart;
  if (predictions.length !== seriesCount * 2) throw new Error(`expected ${seriesCount * 2} predictions, got ${predictions.length}`);
  return {
    series: seriesCount,
    freshTags,
    writeS: writeMs / 1000,
    nsPerSample: (writeMs * 1e6) / (seriesCount * SAMPLES),
    evalMs,
    usPerSeries: (evalMs * 1000) / seriesCount,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

const rows = [run(10_000, false), run(100_000, false), run(10_000, true)];
console.log(`Node ${process.version}, ${SAMPLES} samples per series (6 h at 15 s), default rules (2 disk rules share one model)\n`);
console.log("| series | tags objects | write total (s) | write (ns/sample) | evaluate (ms) | evaluate (µs/series) | heap after (MiB) |");
console.log("|---:|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.series.toLocaleString("en")} | ${r.freshTags ? "new per point" : "kept per series"} | ${r.writeS.toFixed(1)} | ${r.nsPerSample.toFixed(0)} | ${r.evalMs.toFixed(0)} | ${r.usPerSeries.toFixed(2)} | ${r.heapMiB.toFixed(0)} |`,
  );
}
