/**
 * Cost of the leak, seasonal, anomaly and certificate-expiry models over 10k series: ns per
 * observe (samples interleaved across series, as the analyzer feeds them) and µs per evaluation
 * of one series. Run: `npx tsx bench/models-leak.ts`.
 */
import { gaussian, seededRandom } from "../src/analyzer/test-helpers.js";
import { AnomalyDetector } from "../src/analyzer/models/anomaly.js";
import { CertExpiryModel } from "../src/analyzer/models/cert-expiry.js";
import { LeakDetector } from "../src/analyzer/models/leak-detector.js";
import { SeasonalForecaster } from "../src/analyzer/models/seasonal.js";

const SERIES = 10_000;
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;
const T0 = 1_700_000_006_000;

interface Row {
  model: string;
  samplesPerSeries: number;
  nsPerObserve: number;
  evaluation: string;
  usPerEvaluation: number;
  note?: string;
}

// Noise precomputed so the timing measures the model, not the PRNG.
const rand = seededRandom(42);
const NOISE = Float64Array.from({ length: 8192 }, () => gaussian(rand));
const noise = (i: number, step: number): number => NOISE[(i * 131 + step) & 8191]!;

/** Runs `steps` rounds of one sample per series; returns ns per observe. */
function feed(steps: number, observe: (i: number, step: number) => void): number {
  const started = performance.now();
  for (let step = 0; step < steps; step++) for (let i = 0; i < SERIES; i++) observe(i, step);
  return ((performance.now() - started) * 1e6) / (steps * SERIES);
}

/** µs per call of `evaluate` over all series. */
function timeEach(evaluate: (i: number) => unknown): number {
  const started = performance.now();
  let sink = 0;
  for (let i = 0; i < SERIES; i++) if (evaluate(i) !== undefined) sink++;
  if (sink === 0) throw new Error("no evaluation produced a result");
  return ((performance.now() - started) * 1000) / SERIES;
}

function benchLeak(): Row[] {
  // 6 h of 15 s samples: RSS under a 2 min GC saw, half the series leaking 20 MB/h.
  const det = new LeakDetector({ bucketMs: 5 * MIN, troughs: 48 });
  const slots = Int32Array.from({ length: SERIES }, () => det.allocate());
  const steps = 1440;
  const ns = feed(steps, (i, step) => {
    const t = step * 15 * S;
    const saw = 60e6 * ((t % (2 * MIN)) / (2 * MIN));
    det.observe(slots[i]!, T0 + t, 400e6 + (i % 2) * ((20e6 * t) / H) + saw + 2e6 * noise(i, step));
  });
  const now = T0 + (steps - 1) * 15 * S;
  const fresh = timeEach((i) => {
    det.analyse(slots[i]!);
    return det.assess(slots[i]!, now, 2e9);
  });
  const cached = timeEach((i) => det.assess(slots[i]!, now, 2e9));
  const leaking = Array.from(slots).filter((s) => det.assess(s, now, 2e9).leaking).length;
  return [
    { model: "leak-detector", samplesPerSeries: steps, nsPerObserve: ns, evaluation: "trough analysis (runs once per closed bucket)", usPerEvaluation: fresh, note: `${leaking} of ${SERIES} leaking (expected ${SERIES / 2})` },
    { model: "leak-detector", samplesPerSeries: steps, nsPerObserve: ns, evaluation: "assess, analysis cached", usPerEvaluation: cached },
  ];
}

function benchSeasonal(): Row[] {
  // 3 days of 1 min samples into 5 min buckets (daily season of 288), then a 24 h forecast.
  const f = new SeasonalForecaster({ bucketMs: 5 * MIN });
  const slots = Int32Array.from({ length: SERIES }, () => f.allocate());
  const steps = 3 * 1440;
  const ns = feed(steps, (i, step) => {
    const t = step * MIN;
    f.observe(slots[i]!, T0 + t, 50 + 10 * Math.sin((2 * Math.PI * t) / D) + (2 * t) / D + noise(i, step));
  });
  const now = T0 + (steps - 1) * MIN;
  const us = timeEach((i) => f.forecast(slots[i]!, now, 200, D));
  return [{ model: "seasonal", samplesPerSeries: steps, nsPerObserve: ns, evaluation: "forecast, 24 h horizon (288 steps)", usPerEvaluation: us }];
}

function benchAnomaly(): Row[] {
  const det = new AnomalyDetector();
  const slots = Int32Array.from({ length: SERIES }, () => det.allocate());
  const steps = 1440;
  const ns = feed(steps, (i, step) => {
    det.observe(slots[i]!, T0 + step * 15 * S, 100 + noise(i, step));
  });
  const us = timeEach((i) => det.state(slots[i]!));
  return [{ model: "anomaly", samplesPerSeries: steps, nsPerObserve: ns, evaluation: "state", usPerEvaluation: us }];
}

function benchCert(): Row[] {
  const m = new CertExpiryModel();
  const slots = Int32Array.from({ length: SERIES }, () => m.allocate());
  const steps = 288;
  const ns = feed(steps, (i, step) => {
    const t = T0 + step * 5 * MIN;
    const notAfter = T0 + (30 + (i % 60)) * D;
    m.observe(slots[i]!, t, Math.trunc((notAfter - t) / 1000));
  });
  const now = T0 + steps * 5 * MIN;
  const us = timeEach((i) => m.predict(slots[i]!, now, 14 * 86_400, D));
  return [{ model: "cert-expiry", samplesPerSeries: steps, nsPerObserve: ns, evaluation: "predict", usPerEvaluation: us }];
}

const rows = [...benchLeak(), ...benchSeasonal(), ...benchAnomaly(), ...benchCert()];
console.log(`Node ${process.version}, ${SERIES.toLocaleString("en")} series per model\n`);
console.log("| model | samples/series | observe (ns/sample) | evaluation | µs per series | note |");
console.log("|---|---:|---:|---|---:|---|");
for (const r of rows) {
  console.log(`| ${r.model} | ${r.samplesPerSeries} | ${r.nsPerObserve.toFixed(1)} | ${r.evaluation} | ${r.usPerEvaluation.toFixed(2)} | ${r.note ?? ""} |`);
}
