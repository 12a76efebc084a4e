import { gaussian, seededRandom } from "../test-helpers.js";

/**
 * Seeded disk scenarios (a disk's `used_percent`, threshold 100) with their true exhaustion
 * time, for model tests and benchmarks. Deterministic: the same kind, seed and options give the
 * same samples on every machine. Each scenario draws its parameters from the seed, so a suite
 * over seeds covers a range of levels, rates and phases.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** 2023-11-14 00:00 UTC: scenarios start at midnight so daily events fall at known hours. */
const DEFAULT_START_MS = 1_699_920_000_000;
/** The clean signal is searched this far past the start for the true exhaustion time. */
const TRUTH_SEARCH_MS = 60 * DAY_MS;
/** A disk's used_percent is full at 100. */
const FULL = 100;

export const SCENARIO_KINDS = ["linear", "logrotate", "logrotate-flat", "backup-bursts", "flat", "gaps"] as const;

/**
 * Kinds kept out of the default suite (so its numbers stay comparable across runs), for checking
 * that burst rejection generalises beyond the nightly backup's exact shape:
 * - `runaway`: flat at 40–70 % (±0.5 % daily wave), then a runaway log fills it to full in
 *   1.5–2.5 h, starting at a seeded time between 2 h and 6 days in.
 * - `weekly-backup`: flat at 40–60 %; once, on a seeded day and hour, a backup fills 25–35 % over
 *   10–40 min, keeps it 2–6 h, then deletes it: never full.
 * - `bursts-varied`: flat at 40–60 %; daily at a seeded hour a job fills 10–30 % over 10–40 min,
 *   keeps it 20 min–3 h, then deletes it (each drawn per scenario): never full.
 * A fill ramping for longer than that looks, while it ramps, exactly like a runaway: only its
 * history (a daily cycle) can tell them apart.
 */
export const EXTRA_SCENARIO_KINDS = ["runaway", "weekly-backup", "bursts-varied"] as const;

/**
 * - `linear`: fills linearly from 20–30 % to full in 4–6 days, noise σ 0.2–0.4.
 * - `logrotate`: net growth 4–6 %/day under a daily log rotation that drops 18–22 % (the log
 *   grows through the day), full in 5–8 days (the peak of some day reaches 100).
 * - `logrotate-flat`: the same saw with no net growth: never full.
 * - `backup-bursts`: flat at 50–70 %; nightly a backup fills 18–22 % over 30 min, keeps it 1 h,
 *   then deletes it: never full.
 * - `flat`: flat at 30–80 % with a ±0.5 % daily wave and noise: never full.
 * - `gaps`: `linear` sampled with outages (20 min–4 h on most days, one of 8 h on day 2) and 2 %
 *   of samples lost.
 */
export type ScenarioKind = (typeof SCENARIO_KINDS)[number] | (typeof EXTRA_SCENARIO_KINDS)[number];

/** A temporary fill (backup, cron job): ramps up, is kept, then deleted. Unset fields keep the kind's default. */
export interface BurstOptions {
  /** Hour of day the burst starts (jittered ±15 min per day). `backup-bursts` default 1. */
  startHour?: number;
  /** How long the fill ramps up (ms). `backup-bursts` default 30 min. */
  rampMs?: number;
  /** How long it is kept at its peak before deletion (ms). `backup-bursts` default 60 min. */
  holdMs?: number;
  /** How much it fills (percentage points). `backup-bursts` default 18–22, drawn from the seed. */
  fillPercent?: number;
}

export interface ScenarioOptions {
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Sampling interval (ms). Default 15 s. */
  intervalMs?: number;
  /** Length of the sampled series (ms). Default 7 days. */
  durationMs?: number;
  /** Time of the first sample (ms). Default 2023-11-14 00:00 UTC. */
  startMs?: number;
  /** Shape of the `backup-bursts` kind's nightly burst. */
  burst?: BurstOptions;
}

export interface Scenario {
  /** `kind/interval/seed`, e.g. `logrotate/15s/seed3`. */
  name: string;
  kind: ScenarioKind;
  seed: number;
  intervalMs: number;
  durationMs: number;
  startMs: number;
  /** The threshold the scenario is about (100, used_percent). */
  threshold: number;
  /** Sample times (ms), increasing; gaps where sampling stopped. */
  timesMs: Float64Array;
  values: Float64Array;
  /** First time the noise-free signal reaches the threshold (ms), or null within 60 days. */
  exhaustionMs: number | null;
  /** The noise-free signal (clamped to 0..100) at a time (ms). */
  clean: (tMs: number) => number;
}

/** Generates one scenario. */
export function generateScenario(kind: ScenarioKind, opts: ScenarioOptions = {}): Scenario {
  const seed = opts.seed ?? 1;
  const intervalMs = opts.intervalMs ?? 15_000;
  const durationMs = opts.durationMs ?? 7 * DAY_MS;
  const startMs = opts.startMs ?? DEFAULT_START_MS;
  // Parameters and noise come from separate streams, so the shape does not depend on the length.
  const params = seededRandom(seed * 7919 + kind.length * 104_729 + 17);
  const noise = seededRandom(seed * 15_485_863 + 3);
  const shape = shapeOf(kind, params, startMs, opts.burst ?? {});
  const clean = (t: number): number => clamp(shape.level(t));
  const times: number[] = [];
  const values: number[] = [];
  for (let t = startMs; t < startMs + durationMs; t += intervalMs) {
    const v = clean(t) + shape.noiseSigma * gaussian(noise);
    const lost = noise() < shape.lossRate;
    if (lost || shape.inOutage(t)) continue;
    times.push(t);
    values.push(clamp(v));
  }
  return {
    name: `${kind}/${intervalMs / 1000}s/seed${seed}`,
    kind,
    seed,
    intervalMs,
    durationMs,
    startMs,
    threshold: FULL,
    timesMs: Float64Array.from(times),
    values: Float64Array.from(values),
    exhaustionMs: firstCrossing(clean, startMs, intervalMs),
    clean,
  };
}

/** Every kind (default: the default suite's) for every seed and interval: the suite tests and benchmarks run. */
export function scenarioSuite(
  seeds: readonly number[],
  intervalsMs: readonly number[] = [15_000, 60_000],
  opts: Omit<ScenarioOptions, "seed" | "intervalMs"> = {},
  kinds: readonly ScenarioKind[] = SCENARIO_KINDS,
): Scenario[] {
  const out: Scenario[] = [];
  for (const kind of kinds) {
    for (const intervalMs of intervalsMs) {
      for (const seed of seeds) out.push(generateScenario(kind, { ...opts, seed, intervalMs }));
    }
  }
  return out;
}

/**
 * The scenario as the CSV `ansai backtest --input` reads: header `timestamp,value`, epoch ms,
 * values to `decimals` places (4: percentages; 0: bytes); every `everyNth` sample (1 = all).
 */
export function scenarioCsv(s: Pick<Scenario, "timesMs" | "values">, everyNth = 1, decimals = 4): string {
  let out = "timestamp,value\n";
  for (let i = 0; i < s.timesMs.length; i += everyNth) out += `${s.timesMs[i]},${s.values[i]!.toFixed(decimals)}\n`;
  return out;
}

interface Shape {
  level: (tMs: number) => number;
  noiseSigma: number;
  lossRate: number;
  inOutage: (tMs: number) => boolean;
}

const NO_OUTAGE = (): boolean => false;

function shapeOf(kind: ScenarioKind, rand: () => number, startMs: number, burst: BurstOptions): Shape {
  const days = (t: number): number => (t - startMs) / DAY_MS;
  switch (kind) {
    case "linear":
      return linearShape(rand, days);
    case "gaps": {
      const shape = linearShape(rand, days);
      return { ...shape, lossRate: 0.02, inOutage: outages(rand, startMs) };
    }
    case "logrotate":
    case "logrotate-flat": {
      const growthPerDay = kind === "logrotate" ? 4 + 2 * rand() : 0;
      const base = kind === "logrotate" ? 50 + 5 * rand() : 55 + 10 * rand();
      const rotatedPerDay = 18 + 4 * rand();
      const rotationPhaseDays = rand();
      const sigma = 0.2 + 0.2 * rand();
      return {
        level: (t) => {
          const d = days(t);
          const sinceRotation = d - rotationPhaseDays - Math.floor(d - rotationPhaseDays);
          return base + growthPerDay * d + rotatedPerDay * sinceRotation;
        },
        noiseSigma: sigma,
        lossRate: 0,
        inOutage: NO_OUTAGE,
      };
    }
    case "backup-bursts": {
      const base = 50 + 20 * rand();
      const drawnFill = 18 + 4 * rand();
      const jitterMs = Array.from({ length: 64 }, () => (rand() - 0.5) * 30 * MINUTE_MS);
      const sigma = 0.2 + 0.2 * rand();
      const b = { startHour: 1, rampMs: 30 * MINUTE_MS, holdMs: 60 * MINUTE_MS, fillPercent: drawnFill, ...burst };
      const shape = dailyBursts(startMs, base, { ...b, jitterMs });
      return { level: shape, noiseSigma: sigma, lossRate: 0, inOutage: NO_OUTAGE };
    }
    case "bursts-varied": {
      const base = 40 + 20 * rand();
      const b = {
        startHour: 24 * rand(),
        fillPercent: 10 + 20 * rand(),
        rampMs: (10 + 30 * rand()) * MINUTE_MS,
        holdMs: (20 + 160 * rand()) * MINUTE_MS,
        jitterMs: Array.from({ length: 64 }, () => (rand() - 0.5) * 30 * MINUTE_MS),
      };
      return { level: dailyBursts(startMs, base, b), noiseSigma: 0.2 + 0.2 * rand(), lossRate: 0, inOutage: NO_OUTAGE };
    }
    case "weekly-backup": {
      const base = 40 + 20 * rand();
      const fill = 25 + 10 * rand();
      const from = startMs + (1 + Math.floor(6 * rand())) * DAY_MS + 24 * rand() * HOUR_MS;
      const rampMs = (10 + 30 * rand()) * MINUTE_MS;
      const holdMs = (2 + 4 * rand()) * HOUR_MS;
      const sigma = 0.2 + 0.2 * rand();
      return { level: (t) => base + burstAt(t - from, fill, rampMs, holdMs), noiseSigma: sigma, lossRate: 0, inOutage: NO_OUTAGE };
    }
    case "runaway": {
      const base = 40 + 30 * rand();
      const phase = rand() * 2 * Math.PI;
      const from = startMs + 2 * HOUR_MS + rand() * (6 * DAY_MS - 2 * HOUR_MS);
      const fillMs = (1.5 + rand()) * HOUR_MS;
      const sigma = 0.2 + 0.2 * rand();
      return {
        level: (t) => base + 0.5 * Math.sin(2 * Math.PI * days(t) + phase) + (t < from ? 0 : ((FULL - base + 1) * (t - from)) / fillMs),
        noiseSigma: sigma,
        lossRate: 0,
        inOutage: NO_OUTAGE,
      };
    }
    case "flat": {
      const base = 30 + 50 * rand();
      const phase = rand() * 2 * Math.PI;
      const sigma = 0.2 + 0.2 * rand();
      return {
        level: (t) => base + 0.5 * Math.sin(2 * Math.PI * days(t) + phase),
        noiseSigma: sigma,
        lossRate: 0,
        inOutage: NO_OUTAGE,
      };
    }
  }
}

/** A fill of `fill` ramping over `rampMs`, kept `holdMs`, then deleted; `into` is the time since it began. */
function burstAt(into: number, fill: number, rampMs: number, holdMs: number): number {
  if (into < 0 || into >= rampMs + holdMs) return 0;
  return fill * Math.min(1, into / rampMs);
}

/** A daily burst at `startHour` (± the day's jitter) over a flat base. */
function dailyBursts(
  startMs: number,
  base: number,
  b: { startHour: number; rampMs: number; holdMs: number; fillPercent: number; jitterMs: number[] },
): (tMs: number) => number {
  return (t) => {
    // The burst of the day before may still run past midnight.
    const day = Math.floor((t - startMs) / DAY_MS);
    let level = base;
    for (const d of [day - 1, day]) {
      const from = startMs + d * DAY_MS + b.startHour * HOUR_MS + b.jitterMs[((d % 64) + 64) % 64]!;
      level = Math.max(level, base + burstAt(t - from, b.fillPercent, b.rampMs, b.holdMs));
    }
    return level;
  };
}

function linearShape(rand: () => number, days: (t: number) => number): Shape {
  const start = 20 + 10 * rand();
  const fullAfterDays = 4 + 2 * rand();
  const perDay = (FULL - start) / fullAfterDays;
  const sigma = 0.2 + 0.2 * rand();
  return { level: (t) => start + perDay * days(t), noiseSigma: sigma, lossRate: 0, inOutage: NO_OUTAGE };
}

/** Sampling outages: 20 min – 4 h on 80 % of days, and one of 8 h (longer than a 6 h window) on day 2. */
function outages(rand: () => number, startMs: number): (tMs: number) => boolean {
  const spans: Array<[number, number]> = [[startMs + 2 * DAY_MS + 10 * HOUR_MS, startMs + 2 * DAY_MS + 18 * HOUR_MS]];
  for (let d = 0; d < 60; d++) {
    if (rand() >= 0.8) continue;
    const from = startMs + d * DAY_MS + rand() * DAY_MS;
    spans.push([from, from + 20 * MINUTE_MS + rand() * 220 * MINUTE_MS]);
  }
  return (t) => spans.some(([a, b]) => t >= a && t < b);
}

function firstCrossing(clean: (t: number) => number, startMs: number, stepMs: number): number | null {
  for (let t = startMs; t <= startMs + TRUTH_SEARCH_MS; t += stepMs) if (clean(t) >= FULL) return t;
  return null;
}

function clamp(v: number): number {
  return Math.min(FULL, Math.max(0, v));
}
