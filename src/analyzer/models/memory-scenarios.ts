import { gaussian, seededRandom } from "../test-helpers.js";

/**
 * Seeded per-process memory scenarios (a process's RSS in bytes under a garbage-collector saw,
 * threshold = its memory limit) with their true out-of-memory time, for model tests and the
 * quality benchmark. Deterministic: the same kind, seed and options give the same samples on
 * every machine.
 *
 * The OOM killer acts on the peaks, so the truth is the first time the noise-free signal —
 * trough line plus saw — reaches the limit.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const MB = 1e6;
/** 2023-11-14 00:00 UTC, as the disk scenarios. */
const DEFAULT_START_MS = 1_699_920_000_000;

export const MEMORY_SCENARIO_KINDS = ["leak", "leak-gaps", "leak-after-deploy", "warmup", "deploy-step", "gc-flat"] as const;

/**
 * - `leak`: a leak of 2–200 MB/h (log-uniform) under a GC saw; OOM 10–48 h after start.
 * - `leak-gaps`: `leak` sampled with outages (20 min – 2 h) and 2 % of samples lost.
 * - `leak-after-deploy`: flat for 2–6 h, then a deploy step of 50–200 MB and a leak from then on.
 * - `warmup`: caches grow 100–400 MB with a time constant of 30 min – 3 h and plateau, 15–30 %
 *   below the limit: never OOM (a straight line through the warm-up would say it does).
 * - `deploy-step`: flat, one step of 100–300 MB at 6–30 h, flat after: never OOM.
 * - `gc-flat`: only the saw and noise: never OOM.
 */
export type MemoryScenarioKind = (typeof MEMORY_SCENARIO_KINDS)[number];

export interface MemoryScenarioOptions {
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Sampling interval (ms). Default 15 s. */
  intervalMs?: number;
  /** Length of the sampled series (ms). Default 3 days. */
  durationMs?: number;
  /** Time of the first sample (ms). Default 2023-11-14 00:00 UTC. */
  startMs?: number;
}

export interface MemoryScenario {
  /** `memory-kind/interval/seed`, e.g. `memory-leak/15s/seed3`. */
  name: string;
  kind: MemoryScenarioKind;
  seed: number;
  intervalMs: number;
  durationMs: number;
  startMs: number;
  /** The process's memory limit (bytes): the threshold. */
  threshold: number;
  /** The leak rate (bytes per hour) once leaking; 0 for kinds that do not leak. */
  leakBytesPerHour: number;
  /** Sample times (ms), increasing; gaps where sampling stopped. */
  timesMs: Float64Array;
  /** RSS (bytes). */
  values: Float64Array;
  /** First time the noise-free RSS reaches the limit (ms), where the samples end; null when it never does within the duration. */
  exhaustionMs: number | null;
  /** The noise-free RSS (bytes) at a time (ms). */
  clean: (tMs: number) => number;
}

interface Shape {
  /** The trough line (bytes) at ms since start. */
  trough: (sinceMs: number) => number;
  limitBytes: number;
  leakBytesPerHour: number;
  lossRate: number;
  inOutage: (sinceMs: number) => boolean;
}

/** Generates one scenario. */
export function generateMemoryScenario(kind: MemoryScenarioKind, opts: MemoryScenarioOptions = {}): MemoryScenario {
  const seed = opts.seed ?? 1;
  const intervalMs = opts.intervalMs ?? 15_000;
  const durationMs = opts.durationMs ?? 3 * DAY_MS;
  const startMs = opts.startMs ?? DEFAULT_START_MS;
  // Parameters, the saw and the noise come from separate streams, so the shape does not depend on the length.
  const params = seededRandom(seed * 6_700_417 + kind.length * 65_537 + 29);
  const noise = seededRandom(seed * 2_147_483 + 11);
  const sawBytes = (20 + 40 * params()) * MB;
  const shape = shapeOf(kind, params, sawBytes);
  const saw = gcSaw(seededRandom(seed * 131 + 7), durationMs, sawBytes);
  const noiseBytes = (1 + 3 * params()) * MB;
  const clean = (t: number): number => shape.trough(t - startMs) + saw(t - startMs);
  let exhaustionMs: number | null = null;
  for (let t = startMs; t < startMs + durationMs && exhaustionMs === null; t += intervalMs) if (clean(t) >= shape.limitBytes) exhaustionMs = t;
  // The OOM killer ends the process, and its series, at the exhaustion.
  const endMs = exhaustionMs ?? startMs + durationMs;
  const times: number[] = [];
  const values: number[] = [];
  for (let t = startMs; t < endMs; t += intervalMs) {
    const v = clean(t) + noiseBytes * gaussian(noise);
    if (noise() < shape.lossRate || shape.inOutage(t - startMs)) continue;
    times.push(t);
    values.push(Math.max(0, Math.round(v)));
  }
  return {
    name: `memory-${kind}/${intervalMs / 1000}s/seed${seed}`,
    kind,
    seed,
    intervalMs,
    durationMs,
    startMs,
    threshold: shape.limitBytes,
    leakBytesPerHour: shape.leakBytesPerHour,
    timesMs: Float64Array.from(times),
    values: Float64Array.from(values),
    exhaustionMs,
    clean,
  };
}

/** Every kind for every seed and interval. */
export function memoryScenarioSuite(seeds: readonly number[], intervalsMs: readonly number[] = [15_000, 60_000], opts: Omit<MemoryScenarioOptions, "seed" | "intervalMs"> = {}): MemoryScenario[] {
  const out: MemoryScenario[] = [];
  for (const kind of MEMORY_SCENARIO_KINDS) {
    for (const intervalMs of intervalsMs) {
      for (const seed of seeds) out.push(generateMemoryScenario(kind, { ...opts, seed, intervalMs }));
    }
  }
  return out;
}

/** `sawBytes`: the GC saw's height, so limits are set against the peaks. */
function shapeOf(kind: MemoryScenarioKind, rand: () => number, sawBytes: number): Shape {
  const base = (200 + 600 * rand()) * MB;
  const flat = (limitBytes: number, trough: (sinceMs: number) => number = () => base): Shape => ({ trough, limitBytes, leakBytesPerHour: 0, lossRate: 0, inOutage: () => false });
  switch (kind) {
    case "leak":
    case "leak-gaps": {
      const shape = leakShape(rand, base, 0, 0, sawBytes);
      return kind === "leak" ? shape : { ...shape, lossRate: 0.02, inOutage: outages(rand) };
    }
    case "leak-after-deploy":
      return leakShape(rand, base, (2 + 4 * rand()) * HOUR_MS, (50 + 150 * rand()) * MB, sawBytes);
    case "warmup": {
      const grows = (100 + 300 * rand()) * MB;
      const tauMs = (0.5 + 2.5 * rand()) * HOUR_MS;
      const plateau = base + grows;
      return flat((plateau + sawBytes) / (0.7 + 0.15 * rand()), (s) => base + grows * (1 - Math.exp(-s / tauMs)));
    }
    case "deploy-step": {
      const step = (100 + 200 * rand()) * MB;
      const atMs = (6 + 24 * rand()) * HOUR_MS;
      return flat((base + step + sawBytes) / (0.6 + 0.2 * rand()), (s) => (s >= atMs ? base + step : base));
    }
    case "gc-flat":
      return flat((base + sawBytes) / (0.4 + 0.4 * rand()));
  }
}

/** A leak from `fromMs` (after a step of `stepBytes`) whose saw peaks reach the limit 10–48 h after the start. */
function leakShape(rand: () => number, base: number, fromMs: number, stepBytes: number, sawBytes: number): Shape {
  const perHour = 2 * MB * 100 ** rand(); // 2–200 MB/h, log-uniform
  const oomAfterMs = (10 + 38 * rand()) * HOUR_MS;
  const trough = (s: number): number => (s < fromMs ? base : base + stepBytes + (perHour * (s - fromMs)) / HOUR_MS);
  const limitBytes = trough(Math.max(oomAfterMs, fromMs + HOUR_MS)) + sawBytes;
  return { trough, limitBytes, leakBytesPerHour: perHour, lossRate: 0, inOutage: () => false };
}

/**
 * A GC saw `heightBytes` high whose cycles last 2–20 min (each drawn), as a function of ms since
 * the start: the heap grows linearly through a cycle and a collection drops it back.
 */
function gcSaw(rand: () => number, durationMs: number, heightBytes: number): (sinceMs: number) => number {
  const starts: number[] = [0];
  while (starts[starts.length - 1]! < durationMs) starts.push(starts[starts.length - 1]! + (2 + 18 * rand()) * MINUTE_MS);
  return (s) => {
    // Binary search for the cycle holding s.
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= s) lo = mid;
      else hi = mid - 1;
    }
    const from = starts[lo]!;
    const to = starts[lo + 1] ?? from + 10 * MINUTE_MS;
    return heightBytes * ((s - from) / (to - from));
  };
}

/** Sampling outages of 20 min – 2 h, about every 8 h. */
function outages(rand: () => number): (sinceMs: number) => boolean {
  const spans: Array<[number, number]> = [];
  for (let from = (2 + 6 * rand()) * HOUR_MS; from < 60 * DAY_MS; from += (4 + 8 * rand()) * HOUR_MS) {
    spans.push([from, from + (20 + 100 * rand()) * MINUTE_MS]);
  }
  return (s) => spans.some(([a, b]) => s >= a && s < b);
}
