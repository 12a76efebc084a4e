import type { TrendForecast } from "./linear-trend.js";
import { Z975, normalCdf } from "./robust-stats.js";
import { SlotPool, resizeF64 } from "./slot-pool.js";

/**
 * Seasonal forecast for capacity planning: additive Holt–Winters on bucketed data.
 *
 * Design: samples are averaged into fixed buckets (`bucketMs`, default 5 min), so a daily season
 * is 288 slots (hourly buckets with a 7-day season give a weekly one in 168). Each closed bucket
 * updates the additive Holt–Winters state in its error-correction form (ETS(A,A,A)):
 * e = y − (ℓ + b + s), ℓ += b + αe, b += βe, s += γe — O(1) per bucket, so O(1) per sample. The
 * first two seasons initialise it (level and trend from the two seasons' means, the season from
 * their average shape). The forecast interval uses the exact h-step variance of ETS(A,A,A),
 * σ²(1 + Σ_{j<h} (α + βj + γ[j mod m = 0])²), with σ² an exponentially weighted mean of one-step
 * errors; threshold crossings of the forecast and of its 95% band give the ETA and its bounds.
 * Parameters are fixed, not tuned per series: the defaults (α 0.02, β 0.0002, γ 0.1 on 5 min
 * buckets) gave the lowest 3-day forecast error on simulated trending daily load among the few
 * sets tried; larger α/β react faster but widen the interval (β·h dominates it far ahead).
 */

export interface SeasonalOptions {
  /** Bucket width (ms). Default 5 minutes. */
  bucketMs?: number;
  /** Season length (ms), a multiple of bucketMs. Default 1 day; use 7 days with 1 h buckets for weekly. */
  seasonMs?: number;
  /** Level smoothing (0..1). Default 0.02. */
  alpha?: number;
  /** Trend smoothing in error-correction form (0 ≤ β < α). Default 0.0002. */
  beta?: number;
  /** Season smoothing (0 ≤ γ < 1 − α). Default 0.1. */
  gamma?: number;
  /** Gaps up to this long are bridged along the trend; longer ones restart the series (ms). Default one season. */
  maxGapMs?: number;
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
}

/** Seasonal forecast for one slot. All times in ms, values in the series' units. */
export interface SeasonalForecast {
  /** Mean of the latest closed bucket. */
  lastValue: number;
  /** End of the latest closed bucket (ms). */
  lastBucketEndMs: number;
  /** Deseasonalised level at the latest closed bucket. */
  level: number;
  /** Trend in units per ms. */
  slopePerMs: number;
  /** Forecast (bucket mean) at `nowMs + horizonMs`, with its 95% interval. */
  forecastValue: number;
  forecastLow: number;
  forecastHigh: number;
  /** First time the forecast reaches the threshold within the horizon; `nowMs` if already there; else null. */
  etaMs: number | null;
  /** First time the upper 95% band reaches it (earliest plausible), or null. */
  etaLowMs: number | null;
  /** First time the lower 95% band reaches it (latest plausible), or null when not within the horizon. */
  etaHighMs: number | null;
  /** Highest probability, over the horizon's buckets, that the bucket mean is at or above the threshold. */
  confidence: number;
  /** Standard deviation of one-step bucket errors. */
  residualStd: number;
  /** Samples observed since the series (re)started. */
  samples: number;
}

/** One point of a forecast: value and 95% band. */
export interface ForecastPoint {
  value: number;
  low: number;
  high: number;
}

/** Forecast steps scanned at most per call (a week of 5 min buckets is 2016). */
const MAX_STEPS = 200_000;

export class SeasonalForecaster {
  readonly bucketMs: number;
  readonly seasonMs: number;
  /** Buckets per season (m). */
  readonly period: number;
  readonly alpha: number;
  readonly beta: number;
  readonly gamma: number;
  private readonly maxGapBuckets: number;
  /** Buckets over which the residual variance is averaged. */
  private readonly residualSpan: number;
  private readonly pool: SlotPool;

  // Per slot.
  private samplesSeen: Float64Array;
  private lastT: Float64Array;
  private openBucket: Float64Array;
  private openSum: Float64Array;
  private openCount: Float64Array;
  private firstBucket: Float64Array;
  private lastBucket: Float64Array;
  private lastY: Float64Array;
  private closed: Float64Array;
  private initSum1: Float64Array;
  private initSum2: Float64Array;
  private level: Float64Array;
  private trend: Float64Array;
  private resSq: Float64Array;
  private resN: Float64Array;
  // Per slot × period: season (during initialisation, the running sum of the two seasons' values).
  private season: Float64Array;

  constructor(opts: SeasonalOptions = {}) {
    this.bucketMs = opts.bucketMs ?? 5 * 60_000;
    this.seasonMs = opts.seasonMs ?? 86_400_000;
    this.period = Math.round(this.seasonMs / this.bucketMs);
    if (!(this.bucketMs > 0) || this.period < 2 || Math.abs(this.period * this.bucketMs - this.seasonMs) > 1e-6) {
      throw new RangeError(`seasonMs (${this.seasonMs}) must be a multiple ≥ 2 of bucketMs (${this.bucketMs})`);
    }
    this.alpha = opts.alpha ?? 0.02;
    this.beta = opts.beta ?? 0.0002;
    this.gamma = opts.gamma ?? 0.1;
    if (!(this.alpha > 0 && this.alpha < 1 && this.beta >= 0 && this.beta < this.alpha && this.gamma >= 0 && this.gamma < 1 - this.alpha)) {
      throw new RangeError("need 0 < alpha < 1, 0 ≤ beta < alpha, 0 ≤ gamma < 1 − alpha");
    }
    this.maxGapBuckets = Math.max(1, Math.floor((opts.maxGapMs ?? this.seasonMs) / this.bucketMs));
    this.residualSpan = Math.max(this.period, 288);
    const cap = Math.max(1, opts.initialCapacity ?? 64);
    this.samplesSeen = new Float64Array(cap);
    this.lastT = new Float64Array(cap);
    this.openBucket = new Float64Array(cap);
    this.openSum = new Float64Array(cap);
    this.openCount = new Float64Array(cap);
    this.firstBucket = new Float64Array(cap);
    this.lastBucket = new Float64Array(cap);
    this.lastY = new Float64Array(cap);
    this.closed = new Float64Array(cap);
    this.initSum1 = new Float64Array(cap);
    this.initSum2 = new Float64Array(cap);
    this.level = new Float64Array(cap);
    this.trend = new Float64Array(cap);
    this.resSq = new Float64Array(cap);
    this.resN = new Float64Array(cap);
    this.season = new Float64Array(cap * this.period);
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
    return slot;
  }

  /** Forgets a slot's state and makes it available to `allocate`. */
  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  /** True once two seasons have initialised the slot. */
  ready(slot: number): boolean {
    return this.closed[slot]! >= 2 * this.period;
  }

  /** Adds one sample. O(1) amortised, no allocation; non-finite values and samples older than the open bucket are ignored. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    const k = Math.floor(tMs / this.bucketMs);
    const seen = this.samplesSeen[slot]!;
    if (seen > 0 && k < this.openBucket[slot]!) return;
    if (seen > 0 && k > this.openBucket[slot]!) {
      this.closeOpen(slot);
      if (k - this.lastBucket[slot]! - 1 > this.maxGapBuckets) this.clear(slot);
    }
    if (this.samplesSeen[slot]! === 0 || this.openCount[slot]! === 0) {
      this.openBucket[slot] = k;
      this.openSum[slot] = 0;
      this.openCount[slot] = 0;
    }
    this.openSum[slot] = this.openSum[slot]! + value;
    this.openCount[slot] = this.openCount[slot]! + 1;
    this.samplesSeen[slot] = this.samplesSeen[slot]! + 1;
    this.lastT[slot] = tMs;
  }

  /** Gaps longer than this restart a series (ms): the engine's staleness window. */
  get windowMs(): number {
    return this.maxGapBuckets * this.bucketMs;
  }

  /** Samples observed in a slot since it (re)started. */
  samples(slot: number): number {
    return this.samplesSeen[slot]!;
  }

  /** Time of the slot's latest sample (ms), or NaN when it has none. */
  lastTimeMs(slot: number): number {
    return this.samplesSeen[slot]! > 0 ? this.lastT[slot]! : NaN;
  }

  /**
   * The forecast in the engine's `TrendForecast` shape (the `ForecastModel` contract); undefined
   * before two seasons, with fewer than `minSamples` samples, or when the latest sample is older
   * than `windowMs`.
   */
  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 0): TrendForecast | undefined {
    const n = this.samplesSeen[slot]!;
    if (n < minSamples || nowMs - this.lastT[slot]! > this.windowMs) return undefined;
    const fc = this.forecast(slot, nowMs, threshold, horizonMs);
    if (!fc) return undefined;
    return {
      lastValue: fc.lastValue,
      lastTimeMs: this.lastT[slot]!,
      slopePerMs: fc.slopePerMs,
      fittedNow: this.forecastAt(slot, nowMs)?.value ?? fc.lastValue,
      forecastValue: fc.forecastValue,
      etaMs: fc.etaMs,
      etaLowMs: fc.etaLowMs,
      etaHighMs: fc.etaHighMs,
      confidence: fc.confidence,
      samples: n,
      effectiveSamples: this.closed[slot]!,
      scaleMs: this.seasonMs,
      residualStd: fc.residualStd,
    };
  }

  /**
   * Forecast against an upper threshold over `horizonMs` from `nowMs`, or undefined until two
   * seasons have been seen. O(horizon / bucketMs).
   */
  forecast(slot: number, nowMs: number, threshold: number, horizonMs: number): SeasonalForecast | undefined {
    if (!this.ready(slot)) return undefined;
    const B = this.bucketMs;
    const k0 = this.lastBucket[slot]!;
    const sigma2 = this.residualVariance(slot);
    const centre = (h: number): number => (k0 + h + 0.5) * B;
    const endMs = nowMs + Math.max(0, horizonMs);
    const steps = Math.min(MAX_STEPS, Math.max(1, Math.ceil(endMs / B - 0.5 - k0)));
    let eta: number | null = null;
    let etaLow: number | null = null;
    let etaHigh: number | null = null;
    let confidence = 0;
    let prevMid = this.fitted(slot, 0);
    let prevUp = prevMid;
    let prevLo = prevMid;
    let sumC2 = 0;
    for (let h = 1; h <= steps; h++) {
      const mid = this.fitted(slot, h);
      const sd = Math.sqrt(sigma2 * (1 + sumC2));
      sumC2 += this.stepCoefficient(h) ** 2;
      const up = mid + Z975 * sd;
      const lo = mid - Z975 * sd;
      if (sd > 0) confidence = Math.max(confidence, normalCdf((mid - threshold) / sd));
      else if (mid >= threshold) confidence = 1;
      if (etaLow === null && up >= threshold) etaLow = crossing(centre(h - 1), prevUp, up, threshold, B);
      if (eta === null && mid >= threshold) eta = crossing(centre(h - 1), prevMid, mid, threshold, B);
      if (etaHigh === null && lo >= threshold) etaHigh = crossing(centre(h - 1), prevLo, lo, threshold, B);
      if (etaHigh !== null) break;
      prevMid = mid;
      prevUp = up;
      prevLo = lo;
    }
    const clampNow = (t: number | null): number | null => (t === null ? null : t > endMs ? null : Math.max(nowMs, t));
    const at = this.forecastAt(slot, endMs) ?? { value: NaN, low: NaN, high: NaN };
    return {
      lastValue: this.lastY[slot]!,
      lastBucketEndMs: (k0 + 1) * B,
      level: this.level[slot]!,
      slopePerMs: this.trend[slot]! / B,
      forecastValue: at.value,
      forecastLow: at.low,
      forecastHigh: at.high,
      etaMs: clampNow(eta),
      etaLowMs: clampNow(etaLow),
      etaHighMs: clampNow(etaHigh),
      confidence,
      residualStd: Math.sqrt(sigma2),
      samples: this.samplesSeen[slot]!,
    };
  }

  /** Forecast bucket mean at `tMs` (any time after the latest closed bucket) with its 95% band. */
  forecastAt(slot: number, tMs: number): ForecastPoint | undefined {
    if (!this.ready(slot)) return undefined;
    const h = Math.max(1, Math.min(MAX_STEPS, Math.floor(tMs / this.bucketMs) - this.lastBucket[slot]!));
    let sumC2 = 0;
    for (let j = 1; j < h; j++) sumC2 += this.stepCoefficient(j) ** 2;
    const value = this.fitted(slot, h);
    const sd = Math.sqrt(this.residualVariance(slot) * (1 + sumC2));
    return { value, low: value - Z975 * sd, high: value + Z975 * sd };
  }

  /** ℓ + h·b + s for the bucket h steps after the latest closed one. */
  private fitted(slot: number, h: number): number {
    const m = this.period;
    const j = (this.lastBucket[slot]! + h) % m;
    return this.level[slot]! + h * this.trend[slot]! + this.season[slot * m + j]!;
  }

  /** c_j of the ETS(A,A,A) h-step variance. */
  private stepCoefficient(j: number): number {
    return this.alpha + this.beta * j + (j % this.period === 0 ? this.gamma : 0);
  }

  private residualVariance(slot: number): number {
    return this.resN[slot]! > 0 ? this.resSq[slot]! : 0;
  }

  private closeOpen(slot: number): void {
    const n = this.openCount[slot]!;
    if (n === 0) return;
    const k = this.openBucket[slot]!;
    const y = this.openSum[slot]! / n;
    this.openCount[slot] = 0;
    if (this.closed[slot]! === 0) {
      this.firstBucket[slot] = k;
      this.lastBucket[slot] = k - 1;
    }
    const missing = k - this.lastBucket[slot]! - 1;
    if (missing > 0) this.bridge(slot, missing);
    this.feed(slot, k, y);
  }

  /** Missing buckets: during start-up the last value is carried forward; later the state follows its trend. */
  private bridge(slot: number, missing: number): void {
    let left = missing;
    while (left > 0 && !this.ready(slot)) {
      this.feed(slot, this.lastBucket[slot]! + 1, this.lastY[slot]!);
      left--;
    }
    if (left === 0) return;
    this.level[slot] = this.level[slot]! + left * this.trend[slot]!;
    this.lastBucket[slot] = this.lastBucket[slot]! + left;
  }

  private feed(slot: number, k: number, y: number): void {
    const m = this.period;
    const j = k % m;
    const idx = slot * m + j;
    const i = this.closed[slot]!;
    this.lastBucket[slot] = k;
    this.lastY[slot] = y;
    this.closed[slot] = i + 1;
    if (i < m) {
      this.season[idx] = y;
      this.initSum1[slot] = this.initSum1[slot]! + y;
      return;
    }
    if (i < 2 * m) {
      this.season[idx] = this.season[idx]! + y;
      this.initSum2[slot] = this.initSum2[slot]! + y;
      if (i === 2 * m - 1) this.initialise(slot);
      return;
    }
    const L = this.level[slot]!;
    const T = this.trend[slot]!;
    const e = y - (L + T + this.season[idx]!);
    this.level[slot] = L + T + this.alpha * e;
    this.trend[slot] = T + this.beta * e;
    this.season[idx] = this.season[idx]! + this.gamma * e;
    const n = this.resN[slot]! + 1;
    this.resN[slot] = n;
    const w = 1 / Math.min(n, this.residualSpan);
    this.resSq[slot] = this.resSq[slot]! + w * (e * e - this.resSq[slot]!);
  }

  /** After two seasons: trend from the seasons' means, season from their average shape. */
  private initialise(slot: number): void {
    const m = this.period;
    const mean1 = this.initSum1[slot]! / m;
    const mean2 = this.initSum2[slot]! / m;
    const trend = (mean2 - mean1) / m;
    const first = this.firstBucket[slot]!;
    const base = slot * m;
    let total = 0;
    for (let j = 0; j < m; j++) {
      const p = (((j - first) % m) + m) % m; // position of slot j within a season
      const s = (this.season[base + j]! - mean1 - mean2) / 2 - trend * (p - (m - 1) / 2);
      this.season[base + j] = s;
      total += s;
    }
    for (let j = 0; j < m; j++) this.season[base + j] = this.season[base + j]! - total / m;
    this.level[slot] = mean2 + (trend * (m - 1)) / 2;
    this.trend[slot] = trend;
  }

  private clear(slot: number): void {
    this.samplesSeen[slot] = 0;
    this.lastT[slot] = 0;
    this.openCount[slot] = 0;
    this.closed[slot] = 0;
    this.initSum1[slot] = 0;
    this.initSum2[slot] = 0;
    this.level[slot] = 0;
    this.trend[slot] = 0;
    this.resSq[slot] = 0;
    this.resN[slot] = 0;
    this.season.fill(0, slot * this.period, (slot + 1) * this.period);
  }

  private grow(cap: number): void {
    this.samplesSeen = resizeF64(this.samplesSeen, cap);
    this.lastT = resizeF64(this.lastT, cap);
    this.openBucket = resizeF64(this.openBucket, cap);
    this.openSum = resizeF64(this.openSum, cap);
    this.openCount = resizeF64(this.openCount, cap);
    this.firstBucket = resizeF64(this.firstBucket, cap);
    this.lastBucket = resizeF64(this.lastBucket, cap);
    this.lastY = resizeF64(this.lastY, cap);
    this.closed = resizeF64(this.closed, cap);
    this.initSum1 = resizeF64(this.initSum1, cap);
    this.initSum2 = resizeF64(this.initSum2, cap);
    this.level = resizeF64(this.level, cap);
    this.trend = resizeF64(this.trend, cap);
    this.resSq = resizeF64(this.resSq, cap);
    this.resN = resizeF64(this.resN, cap);
    this.season = resizeF64(this.season, cap * this.period);
  }
}

/** Time where a line through (t0, a) and (t0 + stepMs, b) reaches `threshold` (b ≥ threshold). */
function crossing(t0: number, a: number, b: number, threshold: number, stepMs: number): number {
  if (a >= threshold || !(b > a)) return t0 + stepMs;
  return t0 + ((threshold - a) / (b - a)) * stepMs;
}
