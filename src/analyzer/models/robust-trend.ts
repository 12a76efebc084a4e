import { resizeF32, resizeF64, SlotPool } from "./slot-pool.js";
import type { TrendForecast } from "./linear-trend.js";
import type { ForecastModel } from "./model.js";
import { lineEtas, madSigmaInPlace, medianInPlace, normalCdf, selectKth } from "./robust-stats.js";
import { tQuantile975 } from "./stats.js";

/**
 * Robust trend with burst rejection, for every series at once.
 *
 * Samples are summed into a ring of fixed-width time buckets (window / 64 wide: count, Σ time
 * offset, Σ value), so memory per series is bounded (~900 B) and a sample costs O(1). At
 * prediction time the bucket means are fitted with Theil–Sen (the median of all pairwise slopes;
 * one burst bucket among dozens moves it by at most one rank) with Sen's rank-based confidence
 * interval for the slope and the Mann–Kendall statistic for the confidence. Exact Theil–Sen
 * (medians by selection, no sort) over at most 32 points — neighbouring persistent buckets are
 * merged in pairs beyond that, after burst rejection — is ≤ 496 pairs: cheaper than repeated
 * medians and with the same 29 % breakdown point, so no further approximation is needed.
 *
 * Burst rejection (persistence): a bucket enters the fit only once it has been followed by
 * `persistence` of data — horizon / 12, so 2 h for a 24 h rule and 20 min for a 4 h one — and
 * only if it is not an excursion: above some bucket within `persistence` before it AND some
 * within `persistence` after it (beyond 3 σ of bucket noise). A backup that fills 20 % and is
 * deleted an hour later is such an excursion: its buckets are dropped and the fit, and so the
 * forecast, never sees it. A real fill (or a fall) keeps every bucket, seen `persistence` later;
 * a lasting step up counts once it has lasted that long. The level at now is extrapolated from
 * the most recent persistent buckets.
 */

/** Model name carried by predictions. */
export const ROBUST_TREND_MODEL = "robust_trend";

/** Default number of buckets per window. */
const DEFAULT_BUCKETS = 64;
/** Persistence required before a bucket counts, as a fraction of the rule's horizon. */
const DEFAULT_PERSISTENCE_FRACTION = 1 / 12;
/** Theil–Sen runs over at most this many points (neighbouring buckets are merged beyond). */
const MAX_FIT_POINTS = 32;
/** The level at now is the median of at least this many of the most recent fit points. */
const MIN_LEVEL_POINTS = 5;
/** Fewer persistent buckets than this: no prediction. */
const MIN_POINTS = 6;
/** A bucket is "fallen back below" when a later one is lower by more than this many bucket-noise σ. */
const PERSIST_TOLERANCE_SIGMA = 3;
/** Two-sided 95% normal quantile, for Sen's slope interval. */
const Z975 = 1.959964;
/** eta_high is sought up to this many horizons past now. */
const ETA_HIGH_HORIZONS = 10;
/** Standard error of a median relative to that of a mean (√(π/2)). */
const MEDIAN_EFFICIENCY = 1.2533;

export interface RobustTrendOptions {
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
  /** Buckets per window (memory: 14 bytes each per series). Default 64. */
  buckets?: number;
  /** Persistence required of a level before it counts, as a fraction of the horizon. Default 1/12. */
  persistenceFraction?: number;
}

export class RobustTrend implements ForecastModel {
  readonly windowMs: number;
  /** Width of one bucket (ms). */
  readonly bucketMs: number;
  readonly buckets: number;
  private readonly persistenceFraction: number;

  private readonly pool: SlotPool;

  // Per slot.
  private lastT: Float64Array;
  private lastV: Float64Array;
  private count: Float64Array;
  /** Absolute index (floor(t / bucketMs)) of the newest bucket. */
  private head: Float64Array;
  // Per slot × bucket (slot * buckets + absoluteIndex mod buckets).
  private bCount: Float32Array;
  private bSumDt: Float32Array; // Σ (t − bucket start), ms
  private bSumV: Float64Array;

  // Scratch for predict (never escapes).
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly kx: Float64Array;
  private readonly ky: Float64Array;
  private readonly tmp: Float64Array;
  private readonly pairs: Float64Array;

  constructor(windowMs: number, opts: RobustTrendOptions = {}) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    const k = opts.buckets ?? DEFAULT_BUCKETS;
    if (!(Number.isInteger(k) && k >= 8 && k <= 1024)) throw new RangeError(`buckets must be an integer in 8..1024, got ${k}`);
    this.windowMs = windowMs;
    this.buckets = k;
    this.bucketMs = windowMs / k;
    this.persistenceFraction = opts.persistenceFraction ?? DEFAULT_PERSISTENCE_FRACTION;
    const capacity = Math.max(1, opts.initialCapacity ?? 64);
    this.pool = new SlotPool(capacity, (n) => this.grow(n));
    this.lastT = new Float64Array(capacity);
    this.lastV = new Float64Array(capacity);
    this.count = new Float64Array(capacity);
    this.head = new Float64Array(capacity);
    this.bCount = new Float32Array(capacity * k);
    this.bSumDt = new Float32Array(capacity * k);
    this.bSumV = new Float64Array(capacity * k);
    this.xs = new Float64Array(k);
    this.ys = new Float64Array(k);
    this.kx = new Float64Array(k);
    this.ky = new Float64Array(k);
    this.tmp = new Float64Array(k);
    this.pairs = new Float64Array((k * (k - 1)) / 2);
  }

  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** Approximate bytes held by the columns. */
  get bytes(): number {
    return this.pool.capacity * (4 * 8 + this.buckets * (4 + 4 + 8));
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

  /** Adds one sample: O(1) amortised (skipped buckets are cleared once), no allocation. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    const k = this.buckets;
    const b = Math.floor(tMs / this.bucketMs);
    if ((this.count[slot] ?? 0) === 0 || tMs - this.lastT[slot]! > this.windowMs) {
      this.clear(slot);
      this.head[slot] = b;
      this.lastT[slot] = tMs;
    }
    const head = this.head[slot]!;
    if (b > head) {
      const base = slot * k;
      const steps = Math.min(b - head, k);
      for (let s = 1; s <= steps; s++) {
        const i = base + ring(head + s, k);
        this.bCount[i] = 0;
        this.bSumDt[i] = 0;
        this.bSumV[i] = 0;
      }
      this.head[slot] = b;
    } else if (b <= head - k) {
      return; // older than the ring holds
    }
    const i = slot * k + ring(b, k);
    this.bCount[i]! += 1;
    this.bSumDt[i]! += tMs - b * this.bucketMs;
    this.bSumV[i]! += value;
    if (tMs >= this.lastT[slot]!) {
      this.lastT[slot] = tMs;
      this.lastV[slot] = value;
    }
    this.count[slot]! += 1;
  }

  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): TrendForecast | undefined {
    const n = this.count[slot] ?? 0;
    if (n < Math.max(minSamples, 3)) return undefined;
    const lastT = this.lastT[slot]!;
    const lastV = this.lastV[slot]!;
    const uNow = Math.max(0, nowMs - lastT);
    if (uNow > this.windowMs) return undefined;

    const m = this.gather(slot, nowMs, lastT, lastV);
    if (m < MIN_POINTS) return undefined;
    const persistMs = Math.min(Math.max(horizonMs * this.persistenceFraction, this.bucketMs), this.windowMs / 3);
    let kept = this.keepPersistent(m, persistMs);
    if (kept < MIN_POINTS) return undefined;
    while (kept > MAX_FIT_POINTS) kept = this.halve(kept);

    const fit = this.theilSen(kept);
    const { kx, ky, tmp } = this;
    // Level from the most recent points (a sixth, at least 5: ~45 min of a 6 h window), so a
    // lasting step shows soon after it has persisted; pivoted at their middle time.
    const r = Math.max(MIN_LEVEL_POINTS, Math.round(kept / 6));
    const from = kept - r;
    const pivotU = kx[from + (r >>> 1)]!;
    for (let i = 0; i < r; i++) tmp[i] = ky[from + i]! - fit.slope * (kx[from + i]! - pivotU);
    const level = medianInPlace(tmp, r);
    for (let i = 0; i < kept; i++) tmp[i] = ky[i]! - (level + fit.slope * (kx[i]! - pivotU));
    const residualStd = madSigmaInPlace(tmp, kept, 0);
    const halfWidth = tQuantile975(r - 1) * MEDIAN_EFFICIENCY * residualStd / Math.sqrt(r);

    const theta = threshold - lastV;
    const uMax = uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1);
    const e =
      lastV >= threshold
        ? { eta: uNow, low: uNow, high: uNow }
        : lineEtas(pivotU, level, halfWidth, fit.slope, fit.slopeLow, fit.slopeHigh, theta, uNow, uMax);
    const at = (u: number): number => lastV + level + fit.slope * (u - pivotU);
    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: fit.slope,
      fittedNow: at(uNow),
      forecastValue: at(uNow + horizonMs),
      etaMs: e.eta === null ? null : lastT + e.eta,
      etaLowMs: e.low === null ? null : lastT + e.low,
      etaHighMs: e.high === null ? null : lastT + e.high,
      confidence: fit.confidence,
      samples: n,
      effectiveSamples: kept,
      scaleMs: kx[kept - 1]! - kx[0]!,
      residualStd,
    };
  }

  /**
   * Bucket means inside the window into xs/ys, oldest first: time relative to the latest sample
   * (ms, ≤ 0) and value relative to the latest value, so large values keep their precision.
   */
  private gather(slot: number, nowMs: number, lastT: number, lastV: number): number {
    const k = this.buckets;
    const w = this.bucketMs;
    const head = this.head[slot]!;
    const oldest = Math.max(head - k + 1, Math.floor((nowMs - this.windowMs) / w));
    let m = 0;
    for (let b = oldest; b <= head; b++) {
      const i = slot * k + ring(b, k);
      const c = this.bCount[i]!;
      if (c === 0) continue;
      this.xs[m] = b * w + this.bSumDt[i]! / c - lastT;
      this.ys[m] = this.bSumV[i]! / c - lastV;
      m++;
    }
    return m;
  }

  /**
   * Copies into kx/ky the buckets that are not part of a passing excursion: a bucket is dropped
   * when it stands above the data on both sides — some bucket within `persistMs` before it and
   * some within `persistMs` after it are lower by more than the tolerance. A rising or falling
   * trend and a lasting step keep their buckets; a burst that came and went loses them. Only
   * buckets followed by `persistMs` of data are judged; later ones wait.
   */
  private keepPersistent(m: number, persistMs: number): number {
    const { xs, ys, tmp } = this;
    // Bucket noise from successive differences (robust: a burst is one or two outlying steps).
    for (let i = 1; i < m; i++) tmp[i - 1] = ys[i]! - ys[i - 1]!;
    const dMed = medianInPlace(tmp, m - 1);
    for (let i = 1; i < m; i++) tmp[i - 1] = ys[i]! - ys[i - 1]!;
    const sigma = madSigmaInPlace(tmp, m - 1, dMed) / Math.SQRT2;
    const tol = PERSIST_TOLERANCE_SIGMA * sigma + 1e-12 * (Math.abs(ys[0]!) + 1);
    const lastX = xs[m - 1]!;
    let kept = 0;
    for (let i = 0; i < m; i++) {
      const xi = xs[i]!;
      if (lastX - xi < persistMs) break; // not yet judged
      const floor = ys[i]! - tol;
      if (lowerWithin(xs, ys, i, 1, m, persistMs, floor) && lowerWithin(xs, ys, i, -1, m, persistMs, floor)) continue;
      this.kx[kept] = xi;
      this.ky[kept] = ys[i]!;
      kept++;
    }
    return kept;
  }

  /**
   * Merges neighbouring persistent buckets pairwise (means of time and value), so Theil–Sen runs
   * over at most MAX_FIT_POINTS points: 4× fewer pairs, the same slope on a trend.
   */
  private halve(n: number): number {
    const { kx, ky } = this;
    let out = 0;
    for (let i = 0; i < n; i += 2) {
      if (i + 1 < n) {
        kx[out] = (kx[i]! + kx[i + 1]!) / 2;
        ky[out] = (ky[i]! + ky[i + 1]!) / 2;
      } else {
        kx[out] = kx[i]!;
        ky[out] = ky[i]!;
      }
      out++;
    }
    return out;
  }

  /** Theil–Sen slope with Sen's 95% interval and the Mann–Kendall confidence, over kx/ky[0, n). */
  private theilSen(n: number): { slope: number; slopeLow: number; slopeHigh: number; confidence: number } {
    const { kx, ky, pairs } = this;
    let np = 0;
    let s = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dy = ky[j]! - ky[i]!;
        pairs[np++] = dy / (kx[j]! - kx[i]!);
        s += dy > 0 ? 1 : dy < 0 ? -1 : 0;
      }
    }
    const slope = medianInPlace(pairs, np);
    const varS = (n * (n - 1) * (2 * n + 5)) / 18;
    const c = Z975 * Math.sqrt(varS);
    const lo = Math.min(np - 1, Math.max(0, Math.round((np - c) / 2) - 1));
    const hi = Math.min(np - 1, Math.max(0, Math.round((np + c) / 2)));
    // The median selection left pairs partitioned around the middle: select within each side.
    const mid = np >>> 1;
    const slopeLow = lo < mid ? selectKth(pairs, lo, 0, mid) : slope;
    const slopeHigh = hi > mid ? selectKth(pairs, hi, mid + 1, np) : slope;
    // Continuity-corrected Mann–Kendall z.
    const z = s === 0 ? 0 : (s - Math.sign(s)) / Math.sqrt(varS);
    return { slope, slopeLow, slopeHigh, confidence: normalCdf(z) };
  }

  private clear(slot: number): void {
    const k = this.buckets;
    this.bCount.fill(0, slot * k, slot * k + k);
    this.bSumDt.fill(0, slot * k, slot * k + k);
    this.bSumV.fill(0, slot * k, slot * k + k);
    this.lastT[slot] = 0;
    this.lastV[slot] = 0;
    this.count[slot] = 0;
    this.head[slot] = 0;
  }

  private grow(cap: number): void {
    const k = this.buckets;
    this.lastT = resizeF64(this.lastT, cap);
    this.lastV = resizeF64(this.lastV, cap);
    this.count = resizeF64(this.count, cap);
    this.head = resizeF64(this.head, cap);
    this.bCount = resizeF32(this.bCount, cap * k);
    this.bSumDt = resizeF32(this.bSumDt, cap * k);
    this.bSumV = resizeF64(this.bSumV, cap * k);
  }
}

/** Whether a bucket within `spanMs` of bucket i, in direction `dir` (±1), has a value below `floor`. */
function lowerWithin(xs: Float64Array, ys: Float64Array, i: number, dir: number, m: number, spanMs: number, floor: number): boolean {
  const xi = xs[i]!;
  for (let j = i + dir; j >= 0 && j < m && Math.abs(xs[j]! - xi) <= spanMs; j += dir) if (ys[j]! < floor) return true;
  return false;
}

/** Ring position of an absolute bucket index (which may be negative before the epoch). */
function ring(b: number, k: number): number {
  const r = b % k;
  return r < 0 ? r + k : r;
}

