import { medianInPlace } from "./robust-stats.js";
import type { TrendForecast } from "./linear-trend.js";
import type { ForecastModel } from "./model.js";
import { SlotPool, resizeF64 } from "./slot-pool.js";

/**
 * Streaming, unsupervised anomaly detector for series with no natural threshold (latency, error
 * rates, CPU).
 *
 * Design: the first `warmupSamples` samples of a series set a robust baseline (median and
 * 1.4826·MAD, so spikes during warm-up do not poison it). After that each sample is scored by its
 * z-score against an exponentially weighted mean and variance (weight `alpha`). A sample is
 * flagged when its score exceeds `threshold`, and the series is anomalous after `consecutive`
 * flagged samples in a row. Flagged samples are not learned; the others are folded in clipped to
 * ±`clipSigmas` σ (a Huber-type update), so neither spikes nor near-misses inflate the variance.
 * A shift that stays flagged for `relearnAfter` samples is the new normal: the baseline is relearned.
 * O(1) per sample (the end of warm-up takes one median over the buffer), no allocation.
 *
 * Limits: the baseline is not seasonal. A daily cycle larger than the noise scores its peaks as
 * anomalies unless `alpha` is large enough to follow it (which also hides slow anomalies); use the
 * seasonal model's residuals for such series. Scores assume roughly symmetric noise: on
 * heavy-tailed or skewed data (latency) raise `threshold` or score the logarithm.
 */

/** Which deviations count. */
export type AnomalyDirection = "both" | "up" | "down";

export interface AnomalyOptions {
  /** EW weight of a new sample in the baseline (memory ≈ 1/alpha samples). Default 0.02. */
  alpha?: number;
  /** Samples for the median/MAD warm-up (scores are 0 meanwhile). Default 30, max 1024. */
  warmupSamples?: number;
  /** Score above which a sample is flagged. Default 4. */
  threshold?: number;
  /** Flagged samples in a row before the series is anomalous. Default 1. */
  consecutive?: number;
  /** Updates are clipped to the mean ± this many σ. Default 3. */
  clipSigmas?: number;
  /** Floor on σ in the series' units, for series that are often constant (error counts). Default 0 (1e-6 of the mean). */
  minStd?: number;
  /** Default "both". */
  direction?: AnomalyDirection;
  /** Flagged samples in a row after which the baseline is relearned. Default 2 × warmupSamples. */
  relearnAfter?: number;
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
}

/** A slot's detector state. */
export interface AnomalyState {
  /** Samples since the series (or its baseline) restarted. */
  samples: number;
  warmingUp: boolean;
  /** Baseline mean and σ (NaN while warming up). */
  mean: number;
  std: number;
  /** Latest finite sample. */
  lastValue: number;
  /** Score of the latest sample (0 while warming up). */
  lastScore: number;
  lastTimeMs: number;
  /** Flagged samples in a row, up to the latest. */
  run: number;
  /** run ≥ consecutive. */
  anomalous: boolean;
  /** Samples flagged since the slot was allocated. */
  flagged: number;
}

const MAX_WARMUP = 1024;

export class AnomalyDetector {
  readonly alpha: number;
  readonly warmupSamples: number;
  readonly threshold: number;
  readonly consecutive: number;
  readonly clipSigmas: number;
  readonly minStd: number;
  readonly direction: AnomalyDirection;
  readonly relearnAfter: number;
  private readonly pool: SlotPool;

  private count: Float64Array;
  private mean: Float64Array;
  private variance: Float64Array;
  private run: Float64Array;
  private flagged: Float64Array;
  private lastScore: Float64Array;
  private lastT: Float64Array;
  private lastV: Float64Array;
  /** Per slot × warmupSamples: the warm-up buffer. */
  private warm: Float64Array;
  private readonly scratch: Float64Array;

  constructor(opts: AnomalyOptions = {}) {
    this.alpha = opts.alpha ?? 0.02;
    this.warmupSamples = Math.floor(opts.warmupSamples ?? 30);
    this.threshold = opts.threshold ?? 4;
    this.consecutive = Math.max(1, Math.floor(opts.consecutive ?? 1));
    this.clipSigmas = opts.clipSigmas ?? 3;
    this.minStd = opts.minStd ?? 0;
    this.direction = opts.direction ?? "both";
    this.relearnAfter = Math.max(this.consecutive, Math.floor(opts.relearnAfter ?? 2 * this.warmupSamples));
    if (!(this.alpha > 0 && this.alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${this.alpha}`);
    if (!(this.warmupSamples >= 5 && this.warmupSamples <= MAX_WARMUP)) {
      throw new RangeError(`warmupSamples must be in 5..${MAX_WARMUP}, got ${opts.warmupSamples}`);
    }
    if (!(this.clipSigmas > 0)) throw new RangeError(`clipSigmas must be > 0, got ${this.clipSigmas}`);
    const cap = Math.max(1, opts.initialCapacity ?? 64);
    this.count = new Float64Array(cap);
    this.mean = new Float64Array(cap);
    this.variance = new Float64Array(cap);
    this.run = new Float64Array(cap);
    this.flagged = new Float64Array(cap);
    this.lastScore = new Float64Array(cap);
    this.lastT = new Float64Array(cap);
    this.lastV = new Float64Array(cap);
    this.warm = new Float64Array(cap * this.warmupSamples);
    this.scratch = new Float64Array(this.warmupSamples);
    this.pool = new SlotPool(cap, (n) => this.grow(n));
  }

  /** Slots in use. */
  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** A fresh, empty slot. */
  allocate(): number {
    const slot = this.pool.allocate();
    this.clear(slot);
    this.flagged[slot] = 0;
    return slot;
  }

  /** Forgets a slot's state and makes it available to `allocate`. */
  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  /**
   * Scores one sample (≥ 0; 0 while warming up and for non-finite values) and then learns from
   * it. O(1), no allocation.
   */
  observe(slot: number, tMs: number, value: number): number {
    if (!Number.isFinite(value)) return 0;
    const n = this.count[slot]!;
    this.lastT[slot] = tMs;
    this.lastV[slot] = value;
    const W = this.warmupSamples;
    if (n < W) {
      this.warm[slot * W + n] = value;
      this.count[slot] = n + 1;
      if (n + 1 === W) this.finishWarmup(slot);
      this.lastScore[slot] = 0;
      this.run[slot] = 0;
      return 0;
    }
    const mean = this.mean[slot]!;
    const std = this.stdOf(slot);
    const z = (value - mean) / std;
    const score = this.direction === "both" ? Math.abs(z) : this.direction === "up" ? Math.max(z, 0) : Math.max(-z, 0);
    this.lastScore[slot] = score;
    this.count[slot] = n + 1;
    if (score > this.threshold) {
      // Flagged samples are not learned: a spike leaves the baseline alone, and a shift that
      // persists is flagged until relearnAfter, then becomes the new baseline.
      const run = this.run[slot]! + 1;
      this.run[slot] = run;
      this.flagged[slot] = this.flagged[slot]! + 1;
      if (run >= this.relearnAfter) this.relearn(slot, value);
      return score;
    }
    this.run[slot] = 0;
    // Huber-type update: the sample counts at most clipSigmas σ away from the mean.
    const limit = this.clipSigmas * std;
    const d = Math.max(-limit, Math.min(limit, value - mean));
    const a = this.alpha;
    this.mean[slot] = mean + a * d;
    this.variance[slot] = (1 - a) * (this.variance[slot]! + a * d * d);
    return score;
  }

  /** The slot's current state. */
  state(slot: number): AnomalyState {
    const warmingUp = this.count[slot]! < this.warmupSamples;
    const run = this.run[slot]!;
    return {
      samples: this.count[slot]!,
      warmingUp,
      mean: warmingUp ? NaN : this.mean[slot]!,
      std: warmingUp ? NaN : this.stdOf(slot),
      lastValue: this.lastV[slot]!,
      lastScore: this.lastScore[slot]!,
      lastTimeMs: this.lastT[slot]!,
      run,
      anomalous: run >= this.consecutive,
      flagged: this.flagged[slot]!,
    };
  }

  /** Starts the slot's baseline over (its flagged count stays). */
  restart(slot: number): void {
    this.clear(slot);
  }

  /** Latest sample time (ms), or NaN when the slot has none. */
  lastTimeMs(slot: number): number {
    return this.count[slot]! > 0 ? this.lastT[slot]! : NaN;
  }

  private stdOf(slot: number): number {
    const mean = this.mean[slot]!;
    return Math.max(Math.sqrt(this.variance[slot]!), this.minStd, 1e-6 * Math.abs(mean), 1e-12);
  }

  /** Baseline from the warm-up buffer: median and 1.4826·MAD. */
  private finishWarmup(slot: number): void {
    const W = this.warmupSamples;
    const s = this.scratch;
    for (let i = 0; i < W; i++) s[i] = this.warm[slot * W + i]!;
    const median = medianInPlace(s, W);
    for (let i = 0; i < W; i++) s[i] = Math.abs(this.warm[slot * W + i]! - median);
    const mad = medianInPlace(s, W);
    const sigma = 1.4826 * mad;
    this.mean[slot] = median;
    this.variance[slot] = sigma * sigma;
  }

  /** A shift that stays: start a new warm-up from this sample. */
  private relearn(slot: number, value: number): void {
    const flagged = this.flagged[slot]!;
    this.clear(slot);
    this.flagged[slot] = flagged;
    this.warm[slot * this.warmupSamples] = value;
    this.count[slot] = 1;
  }

  private clear(slot: number): void {
    this.count[slot] = 0;
    this.mean[slot] = 0;
    this.variance[slot] = 0;
    this.run[slot] = 0;
    this.lastScore[slot] = 0;
    this.lastT[slot] = 0;
    this.lastV[slot] = NaN;
  }

  private grow(cap: number): void {
    this.count = resizeF64(this.count, cap);
    this.mean = resizeF64(this.mean, cap);
    this.variance = resizeF64(this.variance, cap);
    this.run = resizeF64(this.run, cap);
    this.flagged = resizeF64(this.flagged, cap);
    this.lastScore = resizeF64(this.lastScore, cap);
    this.lastT = resizeF64(this.lastT, cap);
    this.lastV = resizeF64(this.lastV, cap);
    this.warm = resizeF64(this.warm, cap * this.warmupSamples);
  }
}

/** An anomaly's prediction "ETA": the time of the anomalous sample, so the rule's horizon always covers it. */
const SCORE_FOR_FULL_CONFIDENCE = 2;

/**
 * The detector behind the `ForecastModel` contract, so rules can use `model: anomaly`. The rule's
 * threshold is the score to alert above (the detector learns with a fixed gate of 4σ); an
 * anomalous latest sample yields an "ETA" of its own time (the condition holds now), confidence
 * rising from 0.5 at the threshold to 1 at twice it, and the score on the forecast. Scores only
 * upward deviations: for latency, error rates and load "too low" is rarely a page.
 */
export class AnomalyModel implements ForecastModel {
  private readonly detector: AnomalyDetector;

  /** `windowMs`: a series silent for longer restarts its baseline. */
  constructor(readonly windowMs: number, opts: AnomalyOptions = {}) {
    this.detector = new AnomalyDetector({ direction: "up", ...opts });
  }

  get slotCount(): number {
    return this.detector.slotCount;
  }

  allocate(): number {
    return this.detector.allocate();
  }

  release(slot: number): void {
    this.detector.release(slot);
  }

  samples(slot: number): number {
    return this.detector.state(slot).samples;
  }

  lastTimeMs(slot: number): number {
    return this.detector.lastTimeMs(slot);
  }

  observe(slot: number, tMs: number, value: number): void {
    const last = this.detector.lastTimeMs(slot);
    // A long silence (a restarted service) means a new baseline, as other models restart on gaps.
    if (tMs - last > this.windowMs) this.detector.restart(slot);
    this.detector.observe(slot, tMs, value);
  }

  predict(slot: number, nowMs: number, threshold: number, _horizonMs: number, minSamples = 0): TrendForecast | undefined {
    const s = this.detector.state(slot);
    if (s.warmingUp || s.samples < minSamples || nowMs - s.lastTimeMs > this.windowMs) return undefined;
    const anomalous = s.lastScore > threshold;
    const confidence = anomalous ? Math.min(1, 0.5 + (0.5 * (s.lastScore - threshold)) / ((SCORE_FOR_FULL_CONFIDENCE - 1) * threshold)) : 0;
    return {
      lastValue: s.lastValue,
      lastTimeMs: s.lastTimeMs,
      slopePerMs: 0,
      fittedNow: s.mean,
      forecastValue: s.mean,
      etaMs: anomalous ? s.lastTimeMs : null,
      etaLowMs: anomalous ? s.lastTimeMs : null,
      etaHighMs: anomalous ? s.lastTimeMs : null,
      confidence,
      samples: s.samples,
      effectiveSamples: s.samples,
      scaleMs: this.windowMs,
      residualStd: s.std,
      score: s.lastScore,
    };
  }
}
