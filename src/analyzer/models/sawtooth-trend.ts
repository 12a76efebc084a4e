import { resizeF64, resizeU8, SlotPool } from "./slot-pool.js";
import type { TrendForecast } from "./linear-trend.js";
import type { ForecastModel } from "./model.js";
import { crossing, lineEtas, madSigmaInPlace, medianInPlace } from "./robust-stats.js";
import { studentTCdf, tQuantile975 } from "./stats.js";

/**
 * Reset-aware trend for series that drop regularly (log rotation, compaction, GC, restarts).
 *
 * A reset is a drop — one step or a run of falling steps — larger than `resetFactor` (8) times
 * the typical step, a clipped exponentially weighted mean of |Δvalue| (clipping keeps the resets
 * themselves from inflating it). Resets cut the series into segments; the current segment keeps
 * exponentially weighted least-squares sums (O(1) per sample), and each finished one leaves a
 * summary in a per-series ring of 32 (start, end, fitted level at both ends).
 *
 * With two resets or more in the window the forecast follows the envelope: the net growth is the
 * Theil–Sen slope pooled over the troughs (segment starts) and the peaks (segment ends), with a
 * t-interval from their robust residual scale; the cycle length and the rise per cycle are
 * medians over finished cycles. The ETA is the first cycle whose peak reaches the threshold (or
 * the current cycle, if its own ramp gets there before its expected reset). So a saw with no net
 * growth never alerts, net growth is seen through the saw, and a drop is not read as a recovery.
 * With fewer resets it is a plain weighted regression on the current segment: a fill without
 * resets is a straight line, and right after a single drop only the post-drop ramp is used.
 *
 * The window should hold at least three cycles (a week for daily rotation).
 */

/** Model name carried by predictions. */
export const SAWTOOTH_TREND_MODEL = "sawtooth_trend";

/** Finished segments remembered per series. */
const SEGMENTS = 32;
/** A drop larger than this many typical steps is a reset. */
const DEFAULT_RESET_FACTOR = 8;
/** Steps entering the typical-step average are clipped at this many times it (Huber-style). */
const STEP_CLIP = 4;
/** Weight of a new step in the typical-step average (≈ the last 64 steps). */
const STEP_ALPHA = 1 / 64;
/**
 * The envelope weighs at most this many latest finished cycles: a daily saw in a 3-day window has
 * 3, while a noisy series whose dips read as resets can fill the whole ring, and the pooled
 * Theil–Sen over all its pairs (O(n²) per forecast) would dominate evaluation.
 */
const ENVELOPE_CYCLES = 12;
/** Resets needed (in the window) before the envelope is trusted. */
const MIN_RESETS = 2;
/** A cycle running this many typical lengths without a reset is over: the saw has stopped. */
const OVERDUE_CYCLES = 1.5;
/** eta_high is sought up to this many horizons past now. */
const ETA_HIGH_HORIZONS = 10;
/** Segment regressions need this many samples. */
const MIN_SEGMENT_SAMPLES = 3;
/**
 * A segment's own slope is trusted once it spans this share of the window (without a saw) or of
 * a cycle (with one): a few samples after a reset give a slope that is mostly noise.
 */
const MIN_SEGMENT_SPAN_OF_WINDOW = 1 / 48;
const MIN_SEGMENT_SPAN_OF_CYCLE = 1 / 4;
/**
 * After a first drop the model cannot yet tell a saw from a one-off clean-up: it stays silent
 * until the next drop or for 1.5 cycles as the drop implies (learningSpanMs), at least this
 * share of the window, then treats the series as a plain fill.
 */
const LEARNING_SPAN_OF_WINDOW = 1 / 6;

export interface SawtoothTrendOptions {
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
  /** A drop larger than this many typical steps is a reset. Default 8. */
  resetFactor?: number;
}

/** Weighted least-squares fit of the current segment (times relative to the latest sample). */
interface SegmentFit {
  level: number; // fitted value at the latest sample, relative to it
  slope: number; // per ms
  levelSe: number;
  slopeSe: number;
  df: number;
  residualStd: number;
  neff: number;
}

export class SawtoothTrend implements ForecastModel {
  readonly windowMs: number;
  private readonly tauMs: number;
  /** exp(-dt/τ) for the latest dt seen (series sampled at one interval share it): one Math.exp per new interval, not per sample. */
  private decayDtMs = NaN;
  private decay = 1;
  private readonly resetFactor: number;

  private readonly pool: SlotPool;

  // Per slot: latest sample, counters, reset detection.
  private lastT: Float64Array;
  private lastV: Float64Array;
  private count: Float64Array;
  private stepScale: Float64Array; // clipped EW mean |Δv|
  private runStartV: Float64Array; // value before the current run of falling steps
  private runStartT: Float64Array;
  // Per slot: current segment. Decayed sums relative to the latest sample, as in LinearTrend.
  private segT0: Float64Array;
  private segByReset: Uint8Array;
  private segN: Float64Array;
  private s0: Float64Array;
  private st: Float64Array;
  private stt: Float64Array;
  private sv: Float64Array;
  private stv: Float64Array;
  private svv: Float64Array;
  private q0: Float64Array;
  // Per slot: ring of finished segments (slot * SEGMENTS + i).
  private ringHead: Float64Array; // segments ever finished since (re)start
  private fStart: Float64Array;
  private fEnd: Float64Array;
  private fStartLevel: Float64Array;
  private fEndLevel: Float64Array;
  private fByReset: Uint8Array;

  // Scratch for predict.
  private readonly ex = new Float64Array(2 * SEGMENTS + 2);
  private readonly ey = new Float64Array(2 * SEGMENTS + 2);
  private readonly eg = new Uint8Array(2 * SEGMENTS + 2);
  private readonly tmp = new Float64Array((2 * SEGMENTS + 2) ** 2);
  private readonly fit: SegmentFit = { level: 0, slope: 0, levelSe: 0, slopeSe: 0, df: 0, residualStd: 0, neff: 0 };
  // t quantiles of the segment and envelope fits: once the weights settle, each df repeats exactly from evaluation to evaluation.
  private readonly segT975 = lastT975();
  private readonly envT975 = lastT975();

  constructor(windowMs: number, opts: SawtoothTrendOptions = {}) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.windowMs = windowMs;
    this.tauMs = windowMs / 3;
    this.resetFactor = opts.resetFactor ?? DEFAULT_RESET_FACTOR;
    const capacity = Math.max(1, opts.initialCapacity ?? 64);
    this.pool = new SlotPool(capacity, (n) => this.grow(n));
    const c = capacity;
    this.lastT = new Float64Array(c);
    this.lastV = new Float64Array(c);
    this.count = new Float64Array(c);
    this.stepScale = new Float64Array(c);
    this.runStartV = new Float64Array(c);
    this.runStartT = new Float64Array(c);
    this.segT0 = new Float64Array(c);
    this.segByReset = new Uint8Array(c);
    this.segN = new Float64Array(c);
    this.s0 = new Float64Array(c);
    this.st = new Float64Array(c);
    this.stt = new Float64Array(c);
    this.sv = new Float64Array(c);
    this.stv = new Float64Array(c);
    this.svv = new Float64Array(c);
    this.q0 = new Float64Array(c);
    this.ringHead = new Float64Array(c);
    this.fStart = new Float64Array(c * SEGMENTS);
    this.fEnd = new Float64Array(c * SEGMENTS);
    this.fStartLevel = new Float64Array(c * SEGMENTS);
    this.fEndLevel = new Float64Array(c * SEGMENTS);
    this.fByReset = new Uint8Array(c * SEGMENTS);
  }

  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** Approximate bytes held by the columns. */
  get bytes(): number {
    return this.pool.capacity * (17 * 8 + 1 + SEGMENTS * (4 * 8 + 1));
  }

  allocate(): number {
    return this.pool.allocate();
  }

  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  samples(slot: number): number {
    return this.count[slot] ?? 0;
  }

  lastTimeMs(slot: number): number {
    return (this.count[slot] ?? 0) > 0 ? (this.lastT[slot] ?? NaN) : NaN;
  }

  /** Resets seen in a slot since it (re)started. */
  resets(slot: number): number {
    const finished = this.ringHead[slot] ?? 0;
    let n = this.segByReset[slot] ?? 0;
    const from = Math.max(0, finished - SEGMENTS);
    for (let h = from; h < finished; h++) n += this.fByReset[slot * SEGMENTS + (h % SEGMENTS)]!;
    return n;
  }

  /** Adds one sample: O(1), no allocation. Samples older than the latest are ignored. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    const n = this.count[slot] ?? 0;
    const lastT = this.lastT[slot]!;
    if (n === 0 || tMs - lastT > this.windowMs) {
      this.clear(slot);
      this.startSegment(slot, tMs, value, false);
      this.runStartT[slot] = tMs;
      this.runStartV[slot] = value;
      this.count[slot] = 1;
      return;
    }
    const dt = tMs - lastT;
    if (dt < 0) return; // the segment sums are anchored on the latest sample
    const lastV = this.lastV[slot]!;
    const step = value - lastV;
    if (step >= 0) {
      this.runStartT[slot] = tMs;
      this.runStartV[slot] = value;
    }
    const drop = this.runStartV[slot]! - value;
    const scale = this.stepScale[slot]!;
    const floor = 1e-9 * Math.abs(value) + 1e-300;
    if (n >= 8 && drop > this.resetFactor * Math.max(scale, floor)) {
      this.finishSegment(slot);
      this.startSegment(slot, tMs, value, true);
      this.runStartT[slot] = tMs;
      this.runStartV[slot] = value;
      this.count[slot] = n + 1;
      return;
    }
    // Typical step: plain mean while warming up, then a clipped EW mean.
    const a = Math.abs(step);
    if (n < 8) this.stepScale[slot] = scale + (a - scale) / n;
    else this.stepScale[slot] = scale + STEP_ALPHA * (Math.min(a, STEP_CLIP * scale) - scale);
    this.addToSegment(slot, dt, step);
    this.lastT[slot] = tMs;
    this.lastV[slot] = value;
    this.count[slot] = n + 1;
  }

  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): TrendForecast | undefined {
    const n = this.count[slot] ?? 0;
    if (n < Math.max(minSamples, 3)) return undefined;
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    const uNow = Math.max(0, nowMs - lastT);
    if (uNow > this.windowMs) return undefined;
    const seg = this.segmentFit(slot);
    const env = this.envelope(slot, nowMs);
    const uMax = uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1);
    const theta = threshold - lastV;
    if (env === null) {
      const span = lastT - this.segT0[slot]!;
      const learning = span < MIN_SEGMENT_SPAN_OF_WINDOW * this.windowMs || (this.segByReset[slot] === 1 && span < this.learningSpanMs(slot, seg));
      if (seg === null) return undefined;
      if (learning) return this.learningForecast(slot, seg, uNow, horizonMs);
      return this.segmentForecast(slot, seg, uNow, uMax, theta, horizonMs);
    }
    return this.envelopeForecast(slot, seg, env, uNow, uMax, theta, horizonMs);
  }

  /**
   * How long the model stays silent after a first drop (see LEARNING_SPAN_OF_WINDOW). If the drop
   * was a saw's reset, the ramp rebuilds what it freed in about drop / ramp rate: the expected
   * cycle. The model waits 1.5 such cycles (the envelope's overdue test) for the next drop before
   * calling the ramp a fill, at least LEARNING_SPAN_OF_WINDOW of the window and at most 1.5 times
   * the longest cycle the window is meant to hold (a third of it).
   */
  private learningSpanMs(slot: number, seg: SegmentFit | null): number {
    const floor = LEARNING_SPAN_OF_WINDOW * this.windowMs;
    const finished = this.ringHead[slot]!;
    if (seg === null || finished === 0 || !(seg.slope > 0)) return floor;
    const prevPeak = this.fEndLevel[slot * SEGMENTS + ((finished - 1) % SEGMENTS)]!;
    const lastT = this.lastT[slot]!;
    const trough = this.lastV[slot]! + seg.level + seg.slope * (this.segT0[slot]! - lastT);
    const drop = prevPeak - trough;
    if (!(drop > 0)) return floor;
    return Math.min(OVERDUE_CYCLES * (this.windowMs / 3), Math.max(floor, (OVERDUE_CYCLES * drop) / seg.slope));
  }

  /**
   * While the segment is too young to trust its slope: the series is watched, but no claim is
   * made (no ETA, confidence 0), so nothing alerts and people see it is still learning.
   */
  private learningForecast(slot: number, f: SegmentFit, uNow: number, horizonMs: number): TrendForecast {
    const lastV = this.lastV[slot]!;
    return {
      lastValue: lastV,
      lastTimeMs: this.lastT[slot]!,
      slopePerMs: f.slope,
      fittedNow: lastV + f.level + f.slope * uNow,
      forecastValue: lastV + f.level + f.slope * (uNow + horizonMs),
      etaMs: null,
      etaLowMs: null,
      etaHighMs: null,
      confidence: 0,
      samples: this.count[slot]!,
      effectiveSamples: f.neff,
      scaleMs: this.lastT[slot]! - this.segT0[slot]!,
      residualStd: f.residualStd,
    };
  }

  /** Straight-line forecast from the current segment alone (no saw seen yet). */
  private segmentForecast(slot: number, f: SegmentFit, uNow: number, uMax: number, theta: number, horizonMs: number): TrendForecast {
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    const q = this.segT975(f.df);
    const e =
      theta <= 0
        ? { eta: uNow, low: uNow, high: uNow }
        : lineEtas(0, f.level, q * f.levelSe, f.slope, f.slope - q * f.slopeSe, f.slope + q * f.slopeSe, theta, uNow, uMax);
    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: f.slope,
      fittedNow: lastV + f.level + f.slope * uNow,
      forecastValue: lastV + f.level + f.slope * (uNow + horizonMs),
      etaMs: e.eta === null ? null : lastT + e.eta,
      etaLowMs: e.low === null ? null : lastT + e.low,
      etaHighMs: e.high === null ? null : lastT + e.high,
      confidence: confidenceOf(f.slope, f.slopeSe, f.df),
      samples: this.count[slot]!,
      effectiveSamples: f.neff,
      scaleMs: this.lastT[slot]! - this.segT0[slot]!,
      residualStd: f.residualStd,
    };
  }

  /** Forecast along the envelope: the current cycle's ramp, then whole cycles on the trough line. */
  private envelopeForecast(
    slot: number,
    seg: SegmentFit | null,
    env: Envelope,
    uNow: number,
    uMax: number,
    theta: number,
    horizonMs: number,
  ): TrendForecast {
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    // Current cycle: its own ramp when it has enough samples, else the typical one.
    const rampTypical = env.risePerCycle / env.cycleMs;
    const cycleStartU = this.segT0[slot]! - lastT;
    const elapsed = uNow - cycleStartU;
    const ownRamp = seg !== null && elapsed >= MIN_SEGMENT_SPAN_OF_CYCLE * env.cycleMs;
    const rampNow = ownRamp ? seg.slope : rampTypical;
    const levelNow = seg !== null ? seg.level + seg.slope * uNow : 0;
    const overdue = elapsed > OVERDUE_CYCLES * env.cycleMs;
    const nextResetU = overdue ? Infinity : cycleStartU + Math.max(env.cycleMs, elapsed);
    const q = this.envT975(env.df);
    const qSeg = seg !== null ? this.segT975(seg.df) : q;
    // The typical ramp is a rise between two fitted levels over a cycle: its error follows theirs.
    const rampTypicalSe = (Math.SQRT2 * env.residualStd) / env.cycleMs;
    const levelNowSe = seg !== null ? seg.levelSe : env.residualStd;
    const rampNowSe = ownRamp ? seg.slopeSe : rampTypicalSe;
    // sign +1: everything at its upper bound (earliest crossing); −1: latest; 0: central.
    // The central ETA is not capped (as in LinearTrend); the bounds are sought up to uMax.
    const cycleEta = (sign: number): number | null => {
      const cap = sign === 0 ? Infinity : uMax;
      const level = levelNow + sign * qSeg * levelNowSe;
      const ramp = rampNow + sign * qSeg * rampNowSe;
      const inCycle = crossing(uNow, level, ramp, theta, uNow, Math.min(nextResetU, cap));
      if (inCycle !== null || overdue) return inCycle;
      const growth = env.slope + sign * q * env.slopeSe;
      const futureRamp = rampTypical + sign * q * rampTypicalSe;
      return this.cycleCrossing(env, nextResetU, sign * q * env.levelSe, growth, futureRamp, theta, cap);
    };
    let eta: number | null;
    let low: number | null;
    let high: number | null;
    if (theta <= 0) {
      eta = low = high = uNow;
    } else {
      eta = cycleEta(0);
      low = cycleEta(1);
      high = cycleEta(-1);
      if (eta === null && high !== null) high = null;
    }
    const forecastU = uNow + horizonMs;
    const forecastValue = overdue || forecastU < nextResetU ? levelNow + rampNow * (forecastU - uNow) : this.cycleValue(env, nextResetU, forecastU, rampTypical);
    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: env.slope,
      fittedNow: lastV + levelNow,
      forecastValue: lastV + forecastValue,
      etaMs: eta === null ? null : lastT + eta,
      etaLowMs: low === null ? null : lastT + low,
      etaHighMs: high === null ? null : lastT + high,
      confidence: confidenceOf(env.slope, env.slopeSe, env.df),
      samples: this.count[slot]!,
      effectiveSamples: env.points,
      scaleMs: env.cycleMs,
      residualStd: env.residualStd,
    };
  }

  /**
   * First crossing in a future cycle: cycles start at firstResetU + k·cycle at the trough line
   * (shifted), ramp at the typical rate for one cycle; the first whose peak reaches theta crosses
   * part-way up its ramp. Null when none does before uMax.
   */
  private cycleCrossing(env: Envelope, firstResetU: number, shift: number, growth: number, ramp: number, theta: number, uMax: number): number | null {
    const trough = (u: number): number => env.troughLevel + shift + growth * (u - env.pivotU);
    const peakGap = theta - env.risePerCycle - trough(firstResetU);
    let k = 0;
    if (peakGap > 0) {
      if (!(growth > 0)) return null;
      k = Math.ceil(peakGap / (growth * env.cycleMs));
    }
    const start = firstResetU + k * env.cycleMs;
    if (start > uMax) return null;
    const into = ramp > 0 ? Math.max(0, (theta - trough(start)) / ramp) : 0;
    const u = start + Math.min(into, env.cycleMs);
    return u > uMax ? null : u;
  }

  /** The envelope's value at u (a future cycle's ramp). */
  private cycleValue(env: Envelope, firstResetU: number, u: number, ramp: number): number {
    const k = Math.floor((u - firstResetU) / env.cycleMs);
    const start = firstResetU + k * env.cycleMs;
    return env.troughLevel + env.slope * (start - env.pivotU) + ramp * (u - start);
  }

  /** Weighted LS fit of the current segment, or null with too few samples. */
  private segmentFit(slot: number): SegmentFit | null {
    if (this.segN[slot]! < MIN_SEGMENT_SAMPLES) return null;
    const s0 = this.s0[slot]!;
    const q0 = this.q0[slot]!;
    const neff = (s0 * s0) / q0;
    const tbar = this.st[slot]! / s0;
    const mean = this.sv[slot]! / s0;
    const sxx = this.stt[slot]! - this.st[slot]! * tbar;
    if (!(sxx > 0) || !(neff > 2)) return null;
    const sxy = this.stv[slot]! - this.st[slot]! * mean;
    const syy = this.svv[slot]! - this.sv[slot]! * mean;
    const slope = sxy / sxx;
    const s2 = (Math.max(0, syy - slope * sxy) / s0) * (neff / (neff - 2));
    // Variances from the Kish effective size (Σw)²/Σw²: overstated ≤ 2× for exponential weights.
    const f = this.fit;
    f.slope = slope;
    f.level = mean - slope * tbar;
    f.neff = neff;
    f.df = Math.max(1, neff - 2);
    f.residualStd = Math.sqrt(s2);
    const sxxEff = (sxx / s0) * neff;
    f.slopeSe = Math.sqrt(s2 / sxxEff);
    f.levelSe = Math.sqrt(s2 * (1 / neff + (tbar * tbar) / sxxEff));
    return f;
  }

  /**
   * The envelope from finished segments in the window: troughs (starts of segments that began
   * with a reset, the current one included) and peaks (ends of finished segments). Null when
   * fewer than MIN_RESETS resets are in the window.
   */
  private envelope(slot: number, nowMs: number): Envelope | null {
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    const finished = this.ringHead[slot]!;
    const since = nowMs - this.windowMs;
    const { ex, ey, eg, tmp } = this;
    let np = 0;
    let resets = 0;
    let cycles = 0;
    // Cycle lengths and rises of full cycles go to the two halves of tmp.
    const half = SEGMENTS + 1;
    for (let h = Math.max(0, finished - Math.min(SEGMENTS, ENVELOPE_CYCLES)); h < finished; h++) {
      const i = slot * SEGMENTS + (h % SEGMENTS);
      if (this.fEnd[i]! < since) continue;
      const byReset = this.fByReset[i] === 1;
      ex[np] = this.fEnd[i]! - lastT;
      ey[np] = this.fEndLevel[i]! - lastV;
      eg[np++] = 1;
      if (!byReset || this.fStart[i]! < since) continue;
      resets++;
      ex[np] = this.fStart[i]! - lastT;
      ey[np] = this.fStartLevel[i]! - lastV;
      eg[np++] = 0;
      tmp[cycles] = this.fEnd[i]! - this.fStart[i]!;
      tmp[half + cycles] = this.fEndLevel[i]! - this.fStartLevel[i]!;
      cycles++;
    }
    if (this.segByReset[slot] === 1) resets++;
    // Most evaluations of a series without a saw end here, before a second segment fit.
    if (resets < MIN_RESETS || cycles < 1) return null;
    const seg = this.segByReset[slot] === 1 && this.segN[slot]! >= MIN_SEGMENT_SAMPLES ? this.segmentFit(slot) : null;
    if (seg !== null) {
      ex[np] = this.segT0[slot]! - lastT;
      ey[np] = seg.level + seg.slope * ex[np]!;
      eg[np++] = 0;
    }
    if (np < 4) return null;
    const cycleMs = medianInPlace(tmp, cycles);
    const rise = medianInPlace(tmp.subarray(half), cycles);
    return pooledEnvelope(ex, ey, eg, np, tmp, cycleMs, Math.max(0, rise));
  }

  /** Adds a sample to the current segment's decayed sums (origin moved to the new sample). */
  private addToSegment(slot: number, dt: number, cv: number): void {
    if (dt !== this.decayDtMs) {
      this.decay = Math.exp(-dt / this.tauMs);
      this.decayDtMs = dt;
    }
    const d = this.decay;
    const s0 = this.s0[slot]! * d;
    const st = this.st[slot]! * d;
    const stt = this.stt[slot]! * d;
    const sv = this.sv[slot]! * d;
    const stv = this.stv[slot]! * d;
    const svv = this.svv[slot]! * d;
    const st1 = st - dt * s0;
    this.s0[slot] = s0 + 1;
    this.st[slot] = st1;
    this.stt[slot] = stt - 2 * dt * st + dt * dt * s0;
    this.sv[slot] = sv - cv * s0;
    this.stv[slot] = stv - dt * sv - cv * st1;
    this.svv[slot] = svv - 2 * cv * sv + cv * cv * s0;
    this.q0[slot] = this.q0[slot]! * d * d + 1;
    this.segN[slot]! += 1;
  }

  /** Closes the current segment into the ring: its span and fitted levels at both ends. */
  private finishSegment(slot: number): void {
    const f = this.segmentFit(slot);
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    const endT = this.runStartT[slot]!;
    const t0 = this.segT0[slot]!;
    const h = this.ringHead[slot]!;
    const i = slot * SEGMENTS + (h % SEGMENTS);
    this.fStart[i] = t0;
    this.fEnd[i] = endT;
    // The fit is relative to the latest sample; without one (too short) use the raw values.
    this.fStartLevel[i] = f ? lastV + f.level + f.slope * (t0 - lastT) : lastV;
    this.fEndLevel[i] = f ? lastV + f.level + f.slope * (endT - lastT) : this.runStartV[slot]!;
    this.fByReset[i] = this.segByReset[slot]!;
    this.ringHead[slot] = h + 1;
  }

  private startSegment(slot: number, tMs: number, value: number, byReset: boolean): void {
    this.segT0[slot] = tMs;
    this.segByReset[slot] = byReset ? 1 : 0;
    this.segN[slot] = 1;
    this.s0[slot] = 1;
    this.q0[slot] = 1;
    this.st[slot] = 0;
    this.stt[slot] = 0;
    this.sv[slot] = 0;
    this.stv[slot] = 0;
    this.svv[slot] = 0;
    this.lastT[slot] = tMs;
    this.lastV[slot] = value;
  }

  private clear(slot: number): void {
    for (const col of [
      this.lastT,
      this.lastV,
      this.count,
      this.stepScale,
      this.runStartV,
      this.runStartT,
      this.segT0,
      this.segN,
      this.s0,
      this.st,
      this.stt,
      this.sv,
      this.stv,
      this.svv,
      this.q0,
      this.ringHead,
    ]) {
      col[slot] = 0;
    }
    this.segByReset[slot] = 0;
  }

  private grow(c: number): void {
    this.lastT = resizeF64(this.lastT, c);
    this.lastV = resizeF64(this.lastV, c);
    this.count = resizeF64(this.count, c);
    this.stepScale = resizeF64(this.stepScale, c);
    this.runStartV = resizeF64(this.runStartV, c);
    this.runStartT = resizeF64(this.runStartT, c);
    this.segT0 = resizeF64(this.segT0, c);
    this.segByReset = resizeU8(this.segByReset, c);
    this.segN = resizeF64(this.segN, c);
    this.s0 = resizeF64(this.s0, c);
    this.st = resizeF64(this.st, c);
    this.stt = resizeF64(this.stt, c);
    this.sv = resizeF64(this.sv, c);
    this.stv = resizeF64(this.stv, c);
    this.svv = resizeF64(this.svv, c);
    this.q0 = resizeF64(this.q0, c);
    this.ringHead = resizeF64(this.ringHead, c);
    this.fStart = resizeF64(this.fStart, c * SEGMENTS);
    this.fEnd = resizeF64(this.fEnd, c * SEGMENTS);
    this.fStartLevel = resizeF64(this.fStartLevel, c * SEGMENTS);
    this.fEndLevel = resizeF64(this.fEndLevel, c * SEGMENTS);
    this.fByReset = resizeU8(this.fByReset, c * SEGMENTS);
  }
}

/** The envelope of a saw: net growth, trough line, cycle shape, and their uncertainty. */
interface Envelope {
  /** Net growth per ms (common slope of troughs and peaks). */
  slope: number;
  slopeSe: number;
  /** Trough line: troughLevel at pivotU (relative time and value). */
  troughLevel: number;
  pivotU: number;
  levelSe: number;
  cycleMs: number;
  risePerCycle: number;
  residualStd: number;
  df: number;
  points: number;
}

/**
 * Theil–Sen slope pooled over pairs within each group (0 troughs, 1 peaks), intercepts as
 * medians per group, residual scale by MAD, and a slope standard error from it. `tmp` is scratch
 * (length ≥ n²/2).
 */
function pooledEnvelope(ex: Float64Array, ey: Float64Array, eg: Uint8Array, n: number, tmp: Float64Array, cycleMs: number, rise: number): Envelope | null {
  let np = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (eg[i] !== eg[j]) continue;
      const dx = ex[j]! - ex[i]!;
      // Pairs closer than half a cycle say little about growth and much about noise.
      if (Math.abs(dx) < cycleMs / 2) continue;
      tmp[np++] = (ey[j]! - ey[i]!) / dx;
    }
  }
  if (np === 0) return null;
  const slope = medianInPlace(tmp, np);
  // Per-group intercepts at a common pivot (the latest trough time).
  let pivotU = -Infinity;
  for (let i = 0; i < n; i++) if (eg[i] === 0 && ex[i]! > pivotU) pivotU = ex[i]!;
  const trough = groupIntercept(ex, ey, eg, n, 0, slope, pivotU, tmp);
  const peak = countGroup(eg, n, 1) > 0 ? groupIntercept(ex, ey, eg, n, 1, slope, pivotU, tmp) : trough + rise;
  // Residuals and the spread of times per group, for the slope's standard error.
  let sxx = 0;
  const nTrough = countGroup(eg, n, 0);
  // Two locals, not an array: this runs per evaluation.
  const meanX0 = groupMeanX(ex, eg, n, 0);
  const meanX1 = groupMeanX(ex, eg, n, 1);
  for (let i = 0; i < n; i++) {
    const g = eg[i]!;
    const dx = ex[i]! - (g === 0 ? meanX0 : meanX1);
    sxx += dx * dx;
    tmp[i] = ey[i]! - (g === 0 ? trough : peak) - slope * (ex[i]! - pivotU);
  }
  const df = Math.max(1, n - 3);
  // MAD of few points can be 0 on clean data: floor it at a tiny fraction of the levels.
  const residualStd = Math.max(madSigmaInPlace(tmp, n, 0), 1e-9 * (Math.abs(trough) + Math.abs(peak)) + 1e-12);
  const slopeSe = sxx > 0 ? residualStd / Math.sqrt(sxx) : Infinity;
  const levelSe = residualStd * Math.sqrt(1 / Math.max(1, nTrough) + (meanX0 - pivotU) ** 2 / Math.max(sxx, 1e-300));
  return {
    slope,
    slopeSe,
    troughLevel: trough,
    pivotU,
    levelSe: Number.isFinite(levelSe) ? levelSe : residualStd,
    cycleMs,
    risePerCycle: rise,
    residualStd,
    df,
    points: n,
  };
}

/** Median intercept of group g at pivotU for the given slope; tmp is scratch. */
function groupIntercept(ex: Float64Array, ey: Float64Array, eg: Uint8Array, n: number, g: number, slope: number, pivotU: number, tmp: Float64Array): number {
  let m = 0;
  for (let i = 0; i < n; i++) if (eg[i] === g) tmp[m++] = ey[i]! - slope * (ex[i]! - pivotU);
  return medianInPlace(tmp, m);
}

function countGroup(eg: Uint8Array, n: number, g: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (eg[i] === g) c++;
  return c;
}

function groupMeanX(ex: Float64Array, eg: Uint8Array, n: number, g: number): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (eg[i] !== g) continue;
    s += ex[i]!;
    c++;
  }
  return c > 0 ? s / c : 0;
}

/** tQuantile975 remembering its latest argument and result. */
function lastT975(): (df: number) => number {
  let lastDf = NaN;
  let lastQ = NaN;
  return (df) => {
    if (df !== lastDf) {
      lastDf = df;
      lastQ = tQuantile975(df);
    }
    return lastQ;
  };
}

/** P(slope > 0) from a t statistic; 1/0/0.5 when the standard error is 0. Exported for tests. */
export function confidenceOf(slope: number, se: number, df: number): number {
  if (!(se > 0 && Number.isFinite(se))) return slope > 0 ? 1 : slope < 0 ? 0 : 0.5;
  const t = slope / se;
  const v = Math.max(df, 1);
  return certainlyPositive(t, v) ? 1 : studentTCdf(t, v);
}

/**
 * Whether P(T > t) is below 2⁻⁶⁰, so that studentTCdf(t, df) rounds to exactly 1: most forecasts
 * of a filling disk are that sure, and the incomplete beta behind the CDF is the costliest step
 * of a forecast. Bound: P(T > t) = ½·I_x(df/2, ½) with x = df/(df + t²), and I_x(a, ½) ≤
 * x^a / √(π·a·(1 − x)) since B(a, ½) > √(π/a) (Gautschi's inequality).
 */
function certainlyPositive(t: number, df: number): boolean {
  if (!(t > 0) || t === Infinity) return false;
  const a = df / 2;
  const t2 = t * t;
  const lnTail = -Math.LN2 - a * Math.log1p(t2 / df) - 0.5 * (Math.log(Math.PI * a) + Math.log(t2 / (df + t2)));
  return lnTail < LN_TAIL_NEGLIGIBLE;
}

/** ln 2⁻⁶⁰: far below half an ulp of 1 (2⁻⁵⁴), whatever the rounding of the bound and of the CDF. */
const LN_TAIL_NEGLIGIBLE = -60 * Math.LN2;
