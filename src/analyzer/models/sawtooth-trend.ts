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

// A slot's doubles, one block per slot (slot * STRIDE + field). The fields a sample reads and
// writes come first, so that a sample touches one block: at 100k series, 14 separate columns cost
// one cache line each per sample.
const LAST_T = 0;
const LAST_V = 1;
const COUNT = 2;
/** Clipped EW mean |Δv|. */
const STEP_SCALE = 3;
/** Value and time before the current run of falling steps. */
const RUN_V = 4;
const RUN_T = 5;
// The current segment's decayed sums relative to the latest sample, as in LinearTrend.
const SEG_N = 6;
const S0 = 7;
const ST = 8;
const STT = 9;
const SV = 10;
const STV = 11;
const SVV = 12;
const Q0 = 13;
// Read only when a segment starts or ends and by predict.
const SEG_T0 = 14;
/** 1 when the current segment began with a reset, else 0. */
const SEG_BY_RESET = 15;
/** Segments finished since the slot (re)started. */
const RING_HEAD = 16;
/** Doubles per slot. */
const STRIDE = 17;
// A finished segment's doubles in the ring (ring index (slot * SEGMENTS + i) * RING_STRIDE + field).
const F_START = 0;
const F_END = 1;
const F_START_LEVEL = 2;
const F_END_LEVEL = 3;
const RING_STRIDE = 4;

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

  /** Every slot's state, one block of STRIDE doubles per slot (see the field offsets above). */
  private state: Float64Array;
  /**
   * Every slot's ring of finished segments: entry i of slot s at (s * SEGMENTS + i) * RING_STRIDE,
   * its start and end times and fitted levels side by side. Apart from the per-sample blocks: it is
   * touched only at resets and by predict, and its 1 KiB per slot between blocks made observe()
   * 2–4× slower at 100k series (each sample on a new page).
   */
  private ring: Float64Array;
  /** Whether each ring entry ended a segment that began with a reset (slot * SEGMENTS + i). */
  private ringByReset: Uint8Array;

  // Scratch for predict.
  private readonly ex = new Float64Array(2 * SEGMENTS + 2);
  private readonly ey = new Float64Array(2 * SEGMENTS + 2);
  private readonly eg = new Uint8Array(2 * SEGMENTS + 2);
  private readonly tmp = new Float64Array((2 * SEGMENTS + 2) ** 2);
  private readonly fit: SegmentFit = { level: 0, slope: 0, levelSe: 0, slopeSe: 0, df: 0, residualStd: 0, neff: 0 };
  // t quantiles of the segment and envelope fits: once the weights settle, each df repeats exactly from evaluation to evaluation.
  private readonly segT975 = lastT975();
  private readonly envT975 = lastT975();
  // What `prepare` found for the slot being forecast.
  private seg: SegmentFit | null = null;
  private env: Envelope | null = null;
  private readonly cycles: CyclePlan = { uNow: 0, uMax: 0, theta: 0, levelNow: 0, levelNowSe: 0, rampNow: 0, rampNowSe: 0, rampTypical: 0, rampTypicalSe: 0, nextResetU: 0, overdue: false, q: 0, qSeg: 0 };
  /**
   * Results kept for the slot forecast last, until a sample changes it: an evaluation with no new
   * sample (a series sampled every minute, evaluated every 10 s) repeats neither the segment fit
   * nor the envelope. The envelope depends on the time only through which finished segments are
   * in the window, and stays valid while its oldest one is (`envOldestMs` ≥ now − window).
   */
  private segSlot = -1;
  private segMemo: SegmentFit | null = null;
  /** `learningSpanMs` of `segSlot`, NaN until asked. */
  private segLearningMs = NaN;
  private envSlot = -1;
  private envMemo: Envelope | null = null;
  private envFromMs = NaN;
  private envOldestMs = NaN;

  constructor(windowMs: number, opts: SawtoothTrendOptions = {}) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.windowMs = windowMs;
    this.tauMs = windowMs / 3;
    this.resetFactor = opts.resetFactor ?? DEFAULT_RESET_FACTOR;
    const capacity = Math.max(1, opts.initialCapacity ?? 64);
    this.pool = new SlotPool(capacity, (n) => this.grow(n));
    this.state = new Float64Array(capacity * STRIDE);
    this.ring = new Float64Array(capacity * SEGMENTS * RING_STRIDE);
    this.ringByReset = new Uint8Array(capacity * SEGMENTS);
  }

  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** Approximate bytes held by the columns. */
  get bytes(): number {
    return this.pool.capacity * (STRIDE * 8 + SEGMENTS * (RING_STRIDE * 8 + 1));
  }

  allocate(): number {
    return this.pool.allocate();
  }

  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  samples(slot: number): number {
    return this.state[slot * STRIDE + COUNT] ?? 0;
  }

  lastTimeMs(slot: number): number {
    return (this.state[slot * STRIDE + COUNT] ?? 0) > 0 ? (this.state[slot * STRIDE + LAST_T] ?? NaN) : NaN;
  }

  /** Resets seen in a slot since it (re)started. */
  resets(slot: number): number {
    const finished = this.state[slot * STRIDE + RING_HEAD] ?? 0;
    let n = this.state[slot * STRIDE + SEG_BY_RESET] ?? 0;
    const from = Math.max(0, finished - SEGMENTS);
    for (let h = from; h < finished; h++) n += this.ringByReset[slot * SEGMENTS + (h % SEGMENTS)]!;
    return n;
  }

  /** Adds one sample: O(1), no allocation. Samples older than the latest are ignored. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    this.forget(slot);
    const m = this.state;
    const b = slot * STRIDE;
    const n = m[b + COUNT] ?? 0;
    const lastT = m[b + LAST_T]!;
    if (n === 0 || tMs - lastT > this.windowMs) {
      this.clear(slot);
      this.startSegment(slot, tMs, value, false);
      m[b + RUN_T] = tMs;
      m[b + RUN_V] = value;
      m[b + COUNT] = 1;
      return;
    }
    const dt = tMs - lastT;
    if (dt < 0) return; // the segment sums are anchored on the latest sample
    const step = value - m[b + LAST_V]!;
    if (step >= 0) {
      m[b + RUN_T] = tMs;
      m[b + RUN_V] = value;
    }
    const drop = m[b + RUN_V]! - value;
    const scale = m[b + STEP_SCALE]!;
    const floor = 1e-9 * Math.abs(value) + 1e-300;
    if (n >= 8 && drop > this.resetFactor * Math.max(scale, floor)) {
      this.finishSegment(slot);
      this.startSegment(slot, tMs, value, true);
      // Finishing fitted the old segment: not the new one's fit.
      this.forget(slot);
      m[b + RUN_T] = tMs;
      m[b + RUN_V] = value;
      m[b + COUNT] = n + 1;
      return;
    }
    // Typical step: plain mean while warming up, then a clipped EW mean.
    const a = Math.abs(step);
    if (n < 8) m[b + STEP_SCALE] = scale + (a - scale) / n;
    else m[b + STEP_SCALE] = scale + STEP_ALPHA * (Math.min(a, STEP_CLIP * scale) - scale);
    this.addToSegment(b, dt, step);
    m[b + LAST_T] = tMs;
    m[b + LAST_V] = value;
    m[b + COUNT] = n + 1;
  }

  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): TrendForecast | undefined {
    const kind = this.prepare(slot, nowMs, minSamples);
    if (kind === NONE) return undefined;
    const b = slot * STRIDE;
    const uNow = Math.max(0, nowMs - this.state[b + LAST_T]!);
    const uMax = uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1);
    const theta = threshold - this.state[b + LAST_V]!;
    if (kind === LEARNING) return this.learningForecast(slot, this.seg!, uNow, horizonMs);
    if (kind === SEGMENT) return this.segmentForecast(slot, this.seg!, uNow, uMax, theta, horizonMs);
    return this.envelopeForecast(slot, this.env!, uNow, uMax, theta, horizonMs);
  }

  /**
   * `predict`'s `etaMs` alone (NaN where predict gives none or a null ETA), for an alert's
   * condition: the same fits and envelope, without the bounds or the confidence.
   */
  eta(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): number {
    const kind = this.prepare(slot, nowMs, minSamples);
    if (kind === NONE || kind === LEARNING) return NaN;
    const b = slot * STRIDE;
    const lastT = this.state[b + LAST_T]!;
    const uNow = Math.max(0, nowMs - lastT);
    const theta = threshold - this.state[b + LAST_V]!;
    let u: number | null;
    if (theta <= 0) u = uNow;
    else if (kind === SEGMENT) u = crossing(0, this.seg!.level, this.seg!.slope, theta, uNow, Infinity);
    else u = this.cycleEta(this.planCycles(slot, this.env!, uNow, uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1), theta), 0);
    return u === null ? NaN : lastT + u;
  }

  /** Which forecast a slot gets at `nowMs` (NONE when too few or too stale samples), its segment fit and envelope left in `seg` and `env`. */
  private prepare(slot: number, nowMs: number, minSamples: number): ForecastKind {
    const m = this.state;
    const b = slot * STRIDE;
    if (m[b + COUNT]! < Math.max(minSamples, 3)) return NONE;
    const lastT = m[b + LAST_T]!;
    if (Math.max(0, nowMs - lastT) > this.windowMs) return NONE;
    const seg = this.segmentFit(slot);
    const env = this.envelope(slot, nowMs);
    this.seg = seg;
    this.env = env;
    if (env !== null) return ENVELOPE;
    if (seg === null) return NONE;
    const span = lastT - m[b + SEG_T0]!;
    const learning = span < MIN_SEGMENT_SPAN_OF_WINDOW * this.windowMs || (m[b + SEG_BY_RESET] === 1 && span < this.learningSpan(slot, seg));
    return learning ? LEARNING : SEGMENT;
  }

  /**
   * How long the model stays silent after a first drop (see LEARNING_SPAN_OF_WINDOW). If the drop
   * was a saw's reset, the ramp rebuilds what it freed in about drop / ramp rate: the expected
   * cycle. The model waits 1.5 such cycles (the envelope's overdue test) for the next drop before
   * calling the ramp a fill, at least LEARNING_SPAN_OF_WINDOW of the window and at most 1.5 times
   * the longest cycle the window is meant to hold (a third of it).
   */
  private learningSpan(slot: number, seg: SegmentFit): number {
    // State alone: kept with the segment fit until a sample arrives.
    if (Number.isNaN(this.segLearningMs)) this.segLearningMs = this.learningSpanMs(slot, seg);
    return this.segLearningMs;
  }

  private learningSpanMs(slot: number, seg: SegmentFit): number {
    const floor = LEARNING_SPAN_OF_WINDOW * this.windowMs;
    const m = this.state;
    const b = slot * STRIDE;
    const finished = m[b + RING_HEAD]!;
    if (finished === 0 || !(seg.slope > 0)) return floor;
    const prevPeak = this.ring[(slot * SEGMENTS + ((finished - 1) % SEGMENTS)) * RING_STRIDE + F_END_LEVEL]!;
    const lastT = m[b + LAST_T]!;
    const trough = m[b + LAST_V]! + seg.level + seg.slope * (m[b + SEG_T0]! - lastT);
    const drop = prevPeak - trough;
    if (!(drop > 0)) return floor;
    return Math.min(OVERDUE_CYCLES * (this.windowMs / 3), Math.max(floor, (OVERDUE_CYCLES * drop) / seg.slope));
  }

  /**
   * While the segment is too young to trust its slope: the series is watched, but no claim is
   * made (no ETA, confidence 0), so nothing alerts and people see it is still learning.
   */
  private learningForecast(slot: number, f: SegmentFit, uNow: number, horizonMs: number): TrendForecast {
    const m = this.state;
    const b = slot * STRIDE;
    const lastV = m[b + LAST_V]!;
    return {
      lastValue: lastV,
      lastTimeMs: m[b + LAST_T]!,
      slopePerMs: f.slope,
      fittedNow: lastV + f.level + f.slope * uNow,
      forecastValue: lastV + f.level + f.slope * (uNow + horizonMs),
      etaMs: null,
      etaLowMs: null,
      etaHighMs: null,
      confidence: 0,
      samples: m[b + COUNT]!,
      effectiveSamples: f.neff,
      scaleMs: m[b + LAST_T]! - m[b + SEG_T0]!,
      residualStd: f.residualStd,
    };
  }

  /** Straight-line forecast from the current segment alone (no saw seen yet). */
  private segmentForecast(slot: number, f: SegmentFit, uNow: number, uMax: number, theta: number, horizonMs: number): TrendForecast {
    const m = this.state;
    const b = slot * STRIDE;
    const lastT = m[b + LAST_T]!;
    const lastV = m[b + LAST_V]!;
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
      samples: m[b + COUNT]!,
      effectiveSamples: f.neff,
      scaleMs: m[b + LAST_T]! - m[b + SEG_T0]!,
      residualStd: f.residualStd,
    };
  }

  /** Forecast along the envelope: the current cycle's ramp, then whole cycles on the trough line. */
  private envelopeForecast(slot: number, env: Envelope, uNow: number, uMax: number, theta: number, horizonMs: number): TrendForecast {
    const m = this.state;
    const b = slot * STRIDE;
    const lastT = m[b + LAST_T]!;
    const lastV = m[b + LAST_V]!;
    const c = this.planCycles(slot, env, uNow, uMax, theta);
    let eta: number | null;
    let low: number | null;
    let high: number | null;
    if (theta <= 0) {
      eta = low = high = uNow;
    } else {
      eta = this.cycleEta(c, 0);
      low = this.cycleEta(c, 1);
      high = this.cycleEta(c, -1);
      if (eta === null && high !== null) high = null;
    }
    const forecastU = uNow + horizonMs;
    const forecastValue = c.overdue || forecastU < c.nextResetU ? c.levelNow + c.rampNow * (forecastU - uNow) : this.cycleValue(env, c.nextResetU, forecastU, c.rampTypical);
    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: env.slope,
      fittedNow: lastV + c.levelNow,
      forecastValue: lastV + forecastValue,
      etaMs: eta === null ? null : lastT + eta,
      etaLowMs: low === null ? null : lastT + low,
      etaHighMs: high === null ? null : lastT + high,
      confidence: confidenceOf(env.slope, env.slopeSe, env.df),
      samples: m[b + COUNT]!,
      effectiveSamples: env.points,
      scaleMs: env.cycleMs,
      residualStd: env.residualStd,
    };
  }

  /** The current cycle and the ones after it, as `cycleEta` reads them (filled into the reused `cycles`). */
  private planCycles(slot: number, env: Envelope, uNow: number, uMax: number, theta: number): CyclePlan {
    const m = this.state;
    const b = slot * STRIDE;
    const seg = this.seg;
    const c = this.cycles;
    c.uNow = uNow;
    c.uMax = uMax;
    c.theta = theta;
    // Current cycle: its own ramp when it has enough samples, else the typical one.
    c.rampTypical = env.risePerCycle / env.cycleMs;
    const cycleStartU = m[b + SEG_T0]! - m[b + LAST_T]!;
    const elapsed = uNow - cycleStartU;
    const ownRamp = seg !== null && elapsed >= MIN_SEGMENT_SPAN_OF_CYCLE * env.cycleMs;
    c.rampNow = ownRamp ? seg.slope : c.rampTypical;
    c.levelNow = seg !== null ? seg.level + seg.slope * uNow : 0;
    c.overdue = elapsed > OVERDUE_CYCLES * env.cycleMs;
    c.nextResetU = c.overdue ? Infinity : cycleStartU + Math.max(env.cycleMs, elapsed);
    c.q = this.envT975(env.df);
    c.qSeg = seg !== null ? this.segT975(seg.df) : c.q;
    // The typical ramp is a rise between two fitted levels over a cycle: its error follows theirs.
    c.rampTypicalSe = (Math.SQRT2 * env.residualStd) / env.cycleMs;
    c.levelNowSe = seg !== null ? seg.levelSe : env.residualStd;
    c.rampNowSe = ownRamp ? seg.slopeSe : c.rampTypicalSe;
    return c;
  }

  /**
   * The crossing along the envelope. sign +1: everything at its upper bound (earliest crossing);
   * −1: latest; 0: central. The central ETA is not capped (as in LinearTrend); the bounds are
   * sought up to uMax.
   */
  private cycleEta(c: CyclePlan, sign: number): number | null {
    const env = this.env!;
    const cap = sign === 0 ? Infinity : c.uMax;
    const level = c.levelNow + sign * c.qSeg * c.levelNowSe;
    const ramp = c.rampNow + sign * c.qSeg * c.rampNowSe;
    const inCycle = crossing(c.uNow, level, ramp, c.theta, c.uNow, Math.min(c.nextResetU, cap));
    if (inCycle !== null || c.overdue) return inCycle;
    const growth = env.slope + sign * c.q * env.slopeSe;
    const futureRamp = c.rampTypical + sign * c.q * c.rampTypicalSe;
    return this.cycleCrossing(env, c.nextResetU, sign * c.q * env.levelSe, growth, futureRamp, c.theta, cap);
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

  /** Weighted LS fit of the current segment (in the reused `fit`), or null with too few samples. */
  private segmentFit(slot: number): SegmentFit | null {
    if (slot !== this.segSlot) {
      this.segMemo = this.fitSegment(slot);
      this.segSlot = slot;
      this.segLearningMs = NaN;
    }
    return this.segMemo;
  }

  private fitSegment(slot: number): SegmentFit | null {
    const m = this.state;
    const b = slot * STRIDE;
    if (m[b + SEG_N]! < MIN_SEGMENT_SAMPLES) return null;
    const s0 = m[b + S0]!;
    const q0 = m[b + Q0]!;
    const st = m[b + ST]!;
    const sv = m[b + SV]!;
    const neff = (s0 * s0) / q0;
    const tbar = st / s0;
    const mean = sv / s0;
    const sxx = m[b + STT]! - st * tbar;
    if (!(sxx > 0) || !(neff > 2)) return null;
    const sxy = m[b + STV]! - st * mean;
    const syy = m[b + SVV]! - sv * mean;
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
    const since = nowMs - this.windowMs;
    if (slot === this.envSlot && nowMs >= this.envFromMs && !(this.envOldestMs < since)) return this.envMemo;
    this.envSlot = slot;
    this.envFromMs = nowMs;
    this.envOldestMs = Infinity;
    this.envMemo = this.scanEnvelope(slot, since);
    return this.envMemo;
  }

  private scanEnvelope(slot: number, since: number): Envelope | null {
    const m = this.state;
    const b = slot * STRIDE;
    const lastT = m[b + LAST_T]!;
    const lastV = m[b + LAST_V]!;
    const finished = m[b + RING_HEAD]!;
    const { ex, ey, eg, tmp, ring } = this;
    let np = 0;
    let resets = 0;
    let cycles = 0;
    // Cycle lengths and rises of full cycles go to the two halves of tmp.
    const half = SEGMENTS + 1;
    for (let h = Math.max(0, finished - Math.min(SEGMENTS, ENVELOPE_CYCLES)); h < finished; h++) {
      const i = slot * SEGMENTS + (h % SEGMENTS);
      const r = i * RING_STRIDE;
      const end = ring[r + F_END]!;
      if (end < since) continue;
      if (end < this.envOldestMs) this.envOldestMs = end;
      const endLevel = ring[r + F_END_LEVEL]!;
      ex[np] = end - lastT;
      ey[np] = endLevel - lastV;
      eg[np++] = 1;
      const start = ring[r + F_START]!;
      if (this.ringByReset[i] !== 1 || start < since) continue;
      if (start < this.envOldestMs) this.envOldestMs = start;
      const startLevel = ring[r + F_START_LEVEL]!;
      resets++;
      ex[np] = start - lastT;
      ey[np] = startLevel - lastV;
      eg[np++] = 0;
      tmp[cycles] = end - start;
      tmp[half + cycles] = endLevel - startLevel;
      cycles++;
    }
    if (m[b + SEG_BY_RESET] === 1) resets++;
    // Most evaluations of a series without a saw end here, before a second segment fit.
    if (resets < MIN_RESETS || cycles < 1) return null;
    const seg = m[b + SEG_BY_RESET] === 1 && m[b + SEG_N]! >= MIN_SEGMENT_SAMPLES ? this.segmentFit(slot) : null;
    if (seg !== null) {
      ex[np] = m[b + SEG_T0]! - lastT;
      ey[np] = seg.level + seg.slope * ex[np]!;
      eg[np++] = 0;
    }
    if (np < 4) return null;
    const cycleMs = medianInPlace(tmp, cycles);
    const rise = medianInPlace(tmp.subarray(half), cycles);
    return pooledEnvelope(ex, ey, eg, np, tmp, cycleMs, Math.max(0, rise));
  }

  /** Adds a sample to the current segment's decayed sums (origin moved to the new sample); `b` is the slot's block. */
  private addToSegment(b: number, dt: number, cv: number): void {
    if (dt !== this.decayDtMs) {
      this.decay = Math.exp(-dt / this.tauMs);
      this.decayDtMs = dt;
    }
    const m = this.state;
    const d = this.decay;
    const s0 = m[b + S0]! * d;
    const st = m[b + ST]! * d;
    const stt = m[b + STT]! * d;
    const sv = m[b + SV]! * d;
    const stv = m[b + STV]! * d;
    const svv = m[b + SVV]! * d;
    const st1 = st - dt * s0;
    m[b + S0] = s0 + 1;
    m[b + ST] = st1;
    m[b + STT] = stt - 2 * dt * st + dt * dt * s0;
    m[b + SV] = sv - cv * s0;
    m[b + STV] = stv - dt * sv - cv * st1;
    m[b + SVV] = svv - 2 * cv * sv + cv * cv * s0;
    m[b + Q0] = m[b + Q0]! * d * d + 1;
    m[b + SEG_N]! += 1;
  }

  /** Closes the current segment into the ring: its span and fitted levels at both ends. */
  private finishSegment(slot: number): void {
    const f = this.segmentFit(slot);
    const m = this.state;
    const b = slot * STRIDE;
    const lastT = m[b + LAST_T]!;
    const lastV = m[b + LAST_V]!;
    const endT = m[b + RUN_T]!;
    const t0 = m[b + SEG_T0]!;
    const h = m[b + RING_HEAD]!;
    const i = slot * SEGMENTS + (h % SEGMENTS);
    const r = i * RING_STRIDE;
    const ring = this.ring;
    ring[r + F_START] = t0;
    ring[r + F_END] = endT;
    // The fit is relative to the latest sample; without one (too short) use the raw values.
    ring[r + F_START_LEVEL] = f ? lastV + f.level + f.slope * (t0 - lastT) : lastV;
    ring[r + F_END_LEVEL] = f ? lastV + f.level + f.slope * (endT - lastT) : m[b + RUN_V]!;
    this.ringByReset[i] = m[b + SEG_BY_RESET]!;
    m[b + RING_HEAD] = h + 1;
  }

  private startSegment(slot: number, tMs: number, value: number, byReset: boolean): void {
    const m = this.state;
    const b = slot * STRIDE;
    m[b + SEG_T0] = tMs;
    m[b + SEG_BY_RESET] = byReset ? 1 : 0;
    m[b + SEG_N] = 1;
    m[b + S0] = 1;
    m[b + Q0] = 1;
    m[b + ST] = 0;
    m[b + STT] = 0;
    m[b + SV] = 0;
    m[b + STV] = 0;
    m[b + SVV] = 0;
    m[b + LAST_T] = tMs;
    m[b + LAST_V] = value;
  }

  /** Zeroes a slot's block. Its ring needs no clearing: entries past RING_HEAD are never read. */
  private clear(slot: number): void {
    this.forget(slot);
    this.state.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
  }

  /** Drops the results kept for a slot whose state changes. */
  private forget(slot: number): void {
    if (slot === this.segSlot) this.segSlot = -1;
    if (slot === this.envSlot) this.envSlot = -1;
  }

  private grow(c: number): void {
    this.state = resizeF64(this.state, c * STRIDE);
    this.ring = resizeF64(this.ring, c * SEGMENTS * RING_STRIDE);
    this.ringByReset = resizeU8(this.ringByReset, c * SEGMENTS);
  }
}

/** What `prepare` found a slot's forecast rests on. */
type ForecastKind = typeof NONE | typeof LEARNING | typeof SEGMENT | typeof ENVELOPE;
/** Too few or too stale samples: no forecast. */
const NONE = 0;
/** A young segment after a drop: watched, no claim. */
const LEARNING = 1;
/** The current segment as a straight line. */
const SEGMENT = 2;
/** The saw's envelope. */
const ENVELOPE = 3;

/** The current cycle and its successors at one evaluation (see `planCycles`); times relative to the latest sample. */
interface CyclePlan {
  uNow: number;
  uMax: number;
  theta: number;
  levelNow: number;
  levelNowSe: number;
  rampNow: number;
  rampNowSe: number;
  rampTypical: number;
  rampTypicalSe: number;
  nextResetU: number;
  overdue: boolean;
  /** t quantiles of the envelope's and the segment's fits. */
  q: number;
  qSeg: number;
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
