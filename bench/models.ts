/**
 * Forecasting models on their own (no engine): 10k series, 6 h of 15 s samples each (1440 per
 * series, interleaved by time as they arrive live), then one predict() per series for a 24 h
 * horizon. Prints ns per observe() and µs per predict() for each model.
 * Each model runs in its own process so that one's JIT state and heap do not skew the next.
 * Run: `npx tsx bench/models.ts` (or `npx tsx bench/models.ts robust_trend` for one model).
 */
import { spawnSync } from "node:child_process";
import { createModel, type ModelName } from "../src/analyzer/models/index.js";

const SERIES = 10_000;
const STEP_MS = 15_000;
const SAMPLES = 1440;
const T0 = 1_700_000_000_000;
const H = 3_600_000;
/** The disk trend models compared here. */
type TrendModel = Extract<ModelName, "linear_trend" | "robust_trend" | "sawtooth_trend">;
const WINDOW_MS: Record<TrendModel, number> = { linear_trend: 6 * H, robust_trend: 6 * H, sawtooth_trend: 7 * 24 * H };

interface Row {
  model: TrendModel;
  nsPerObserve: number;
  usPerPredict: number;
  predictions: number;
  heapMiB: number;
}

function run(name: TrendModel): Row {
  const model = createModel(name, WINDOW_MS[name]);
  const slots = Int32Array.from({ length: SERIES }, () => model.allocate());
  // Per-series fill rate, an hourly 2 % saw on every third series, and cheap deterministic noise.
  const rates = Float64Array.from({ length: SERIES }, (_, i) => ((i % 97) + 1) / 1e6);
  const value = (i: number, step: number): number => {
    const saw = i % 3 === 0 ? (step % 240) * (2 / 240) : 0;
    return 10 + rates[i]! * step * 15 + saw + ((i * 7919 + step * 104_729) % 1000) / 5000;
  };
  // Values are computed outside the timed loop so only observe() is measured.
  const column = new Float64Array(SERIES);
  let observeNs = 0;
  for (let step = 0; step < SAMPLES; step++) {
    const t = T0 + step * STEP_MS;
    for (let i = 0; i < SERIES; i++) column[i] = value(i, step);
    const started = process.hrtime.bigint();
    for (let i = 0; i < SERIES; i++) model.observe(slots[i]!, t, column[i]!);
    observeNs += Number(process.hrtime.bigint() - started);
  }
  const now = T0 + (SAMPLES - 1) * STEP_MS;
  let predictions = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < SERIES; i++) if (model.predict(slots[i]!, now, 100, 24 * H, 5)) predictions++;
  const predictNs = Number(process.hrtime.bigint() - started);
  return {
    model: name,
    nsPerObserve: observeNs / (SERIES * SAMPLES),
    usPerPredict: predictNs / 1000 / SERIES,
    predictions,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

function printRow(r: Row): void {
  console.log(
    `| ${r.model} | ${WINDOW_MS[r.model] / H} h | ${r.nsPerObserve.toFixed(1)} | ${r.usPerPredict.toFixed(2)} | ${r.predictions.toLocaleString("en")} | ${r.heapMiB.toFixed(0)} |`,
  );
}

const only = (Object.keys(WINDOW_MS) as TrendModel[]).find((m) => m === process.argv[2]);
if (only) {
  printRow(run(only));
} else {
  console.log(`Node ${process.version}, ${SERIES.toLocaleString("en")} series × ${SAMPLES} samples (6 h at 15 s), predict at 24 h horizon\n`);
  console.log("| model | window | observe (ns/sample) | predict (µs/series) | predictions | heap after (MiB) |");
  console.log("|---|---:|---:|---:|---:|---:|");
  let failed = 0;
  for (const name of Object.keys(WINDOW_MS) as TrendModel[]) {
    const res = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, name], { stdio: "inherit" });
    if (res.status !== 0) failed++;
  }
  process.exitCode = failed > 0 ? 1 : 0;
}
