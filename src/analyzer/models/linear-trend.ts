import { resizeF64, SlotPool } from "./slot-pool.js";
import { studentTCdf, tQuantile975 } from "./stats.js";

/**
 * Linear trend with a prediction interval, for every series at once.
 *
 * Design: exponentially weighted least squares (weights exp(-age/τ)) at twelve nested time
 * constants τ, τ/2, …, τ/2048, with τ = window/3 (95% of the longest scale's weight lies inside
 * the window). Scales holding fewer than 3 effective samples are skipped, so the short end
 * adapts to the sampling interval: a 6 h window still reacts to a fill that started 15 s ago
 * when sampled every second. Each scale keeps nine decayed running sums; a sample costs O(1) and allocates
 * nothing. At prediction time the scale is chosen by Lepski's method: the longest scale whose
 * slope and current level agree, within their standard errors, with every shorter scale. A
 * straight line keeps the long, low-variance scale; a series that was flat and then starts
 * rising (or bends) switches to the short scale that only sees the new regime, instead of
 * averaging the old flat part into the slope for a whole window.
 *
 * Per-slot sums are kept relative to the slot's latest sample (time and value), so the numbers
 * stay small and cancellation in the centred moments is harmless. Besides Σw the model keeps
 * Σw², Σw²t, Σw²t², which give the exact variance of the weighted estimator (the Kish n_eff
 * shortcut overstates the slope variance of an exponential window by 2×).
 */

/** Number of nested time scales per series (memory: 9 doubles per scale per series). */
export const SCALES = 12;
/** Ratio between successive time constants. */
const SCALE_RATIO = 2;
/**
 * Lepski acceptance: a longer scale's slope and level must lie within Z standard errors of every
 * shorter scale's. 2 (with ratio 2) balanced 95% interval coverage on straight noisy lines
 * against lag after a bend in simulations; 2.5 lagged more, 1.5 dropped coverage to 91%.
 */
const LEPSKI_Z = 2;
/** A scale needs this many effective samples to be considered at all. */
const MIN_EFFECTIVE = 3;
/** eta_high is sought up to this many horizons past now. */
const ETA_HIGH_HORIZONS = 10;

/** What one slot's trend says about reaching an upper threshold. All times in ms. */
export interface TrendForecast {
  /** Latest observed value. */
  lastValue: number;
  /** Time of the latest sample (ms). */
  lastTimeMs: number;
  /** Fitted slope in units per ms. */
  slopePerMs: number;
  /** Fitted value at `nowMs`. */
  fittedNow: number;
  /** Fitted value at `nowMs + horizonMs`. */
  forecastValue: number;
  /** When the fitted line reaches the threshold; `nowMs` if already there; null if never (slope ≤ 0). */
  etaMs: number | null;
  /** When the upper 95% prediction band reaches it (earliest plausible), or null. */
  etaLowMs: number | null;
  /** When the lower 95% band reaches it (latest plausible), or null if not within 10 horizons. */
  etaHighMs: number | null;
  /** Probability (0..1) that the slope is really positive. */
  confidence: number;
  /** Samples observed since the series (re)started. */
  samples: number;
  /** Kish effective sample size of the chosen scale. */
  effectiveSamples: number;
  /** Time constant of the chosen scale (ms). */
  scaleMs: number;
  /** Residual standard deviation of the chosen fit. */
  residualStd: number;
  /** Anomaly score of the latest sample (anomaly model only). */
  score?: number;
}

export interface LinearTrendOptions {
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
}

/** Fit of one scale, reused between predict calls to avoid allocation. */
interface ScaleFit {
  valid: boolean;
  neff: number;
  mean: number; // weighted mean value (relative to last value)
  tbar: number; // weighted mean time (relative to last time, ms, ≤ 0)
  slope: number; // per ms
  s2: number; // residual variance
  a: number; // Var(mean)/s²
  b: number; // Cov(mean, slope)/s²
  c: number; // Var(slope)/s²
  levelNow: number;
  levelVar: number; // Var of the fitted level at now
}

const newFit = (): ScaleFit => ({
  valid: false,
  neff: 0,
  mean: 0,
  tbar: 0,
  slope: 0,
  s2: 0,
  a: 0,
  b: 0,
  c: 0,
  levelNow: 0,
  levelVar: 0,
});

export class LinearTrend {
  /** Window the model was built for (ms). A gap longer than this restarts a series. */
  readonly windowMs: number;
  /** Time constants of each scale (ms), longest first. */
  readonly scalesMs: readonly number[];

  private readonly pool: SlotPool;

  // Per slot.
  private lastT: Float64Array;
  private lastV: Float64Array;
  private count: Float64Array;
  // Per slot × scale (index slot * SCALES + k): Σw, Σwt, Σwt², Σwv, Σwtv, Σwv², Σw², Σw²t, Σw²t².
  private s0: Float64Array;
  private st: Float64Array;
  private stt: Float64Array;
  private sv: Float64Array;
  private stv: Float64Array;
  private svv: Float64Array;
  private q0: Float64Array;
  private qt: Float64Array;
  private qtt: Float64Array;

  private readonly fits: ScaleFit[] = Array.from({ length: SCALES }, newFit);

  constructor(windowMs: number, opts: LinearTrendOptions = {}) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.windowMs = windowMs;
    const tau = windowMs / 3;
    this.scalesMs = Array.from({ length: SCALES }, (_, k) => tau / SCALE_RATIO ** k);
    const capacity = Math.max(1, opts.initialCapacity ?? 64);
    this.pool = new SlotPool(capacity, (n) => this.grow(n));
    this.lastT = new Float64Array(capacity);
    this.lastV = new Float64Array(capacity);
    this.count = new Float64Array(capacity);
    const n = capacity * SCALES;
    this.s0 = new Float64Array(n);
    this.st = new Float64Array(n);
    this.stt = new Float64Array(n);
    this.sv = new Float64Array(n);
    this.stv = new Float64Array(n);
    this.svv = new Float64Array(n);
    this.q0 = new Float64Array(n);
    this.qt = new Float64Array(n);
    this.qtt = new Float64Array(n);
  }

  /** Slots in use (allocated and not released). */
  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** Approximate bytes held by the columns. */
  get bytes(): number {
    return this.pool.capacity * (3 + 9 * SCALES) * 8;
  }

  /** Returns a fresh, empty slot (reusing released ones first). */
  allocate(): number {
    return this.pool.allocate();
  }

  /** Forgets a slot's state and makes it available to `allocate`. */
  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  /** Samples observed in a slot since it (re)started. */
  samples(slot: number): number {
    return this.count[slot] ?? 0;
  }

  /** Time of the slot's latest sample (ms), or NaN when it has none. */
  lastTimeMs(slot: number): number {
    return (this.count[slot] ?? 0) > 0 ? (this.lastT[slot] ?? NaN) : NaN;
  }

  /** Adds one sample. O(1), no allocation. Non-finite values are ignored. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    const n = this.count[slot] ?? 0;
    const lastT = this.lastT[slot] ?? 0;
    const dt = tMs - lastT;
    if (n === 0 || dt > this.windowMs) {
      this.start(slot, tMs, value);
      return;
    }
    if (dt < 0) {
      this.observeLate(slot, dt, value - (this.lastV[slot] ?? 0));
      return;
    }
    const cv = value - (this.lastV[slot] ?? 0);
    const scales = this.scalesMs;
    const base = slot * SCALES;
    let d = Math.exp(-dt / (scales[0] ?? 1));
    for (let k = 0; k < SCALES; k++) {
      const i = base + k;
      const d2 = d * d;
      // Decay, then move the origin to the new sample (t -= dt, v -= cv), then add it at (0, 0).
      const s0 = this.s0[i]! * d;
      const st = this.st[i]! * d;
      const stt = this.stt[i]! * d;
      const sv = this.sv[i]! * d;
      const stv = this.stv[i]! * d;
      const svv = this.svv[i]! * d;
      const q0 = this.q0[i]! * d2;
      const qt = this.qt[i]! * d2;
      const qtt = this.qtt[i]! * d2;
      const st1 = st - dt * s0;
      this.s0[i] = s0 + 1;
      this.st[i] = st1;
      this.stt[i] = stt - 2 * dt * st + dt * dt * s0;
      this.sv[i] = sv - cv * s0;
      this.stv[i] = stv - dt * sv - cv * st1;
      this.svv[i] = svv - 2 * cv * sv + cv * cv * s0;
      this.q0[i] = q0 + 1;
      this.qt[i] = qt - dt * q0;
      this.qtt[i] = qtt - 2 * dt * qt + dt * dt * q0;
      d = d2; // next scale has τ/2: exp(-dt/(τ/2)) = d²
    }
    this.lastT[slot] = tMs;
    this.lastV[slot] = value;
    this.count[slot] = n + 1;
  }

  /**
   * Forecast for a slot against an upper threshold, or undefined when the slot has fewer than
   * `minSamples` samples, its latest sample is older than the window, or the fit is degenerate.
   */
  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): TrendForecast | undefined {
    const n = this.count[slot] ?? 0;
    if (n < Math.max(minSamples, MIN_EFFECTIVE)) return undefined;
    const lastT = this.lastT[slot] ?? 0;
    const lastV = this.lastV[slot] ?? 0;
    const uNow = Math.max(0, nowMs - lastT);
    if (uNow > this.windowMs) return undefined;
    const k = this.chooseScale(slot, uNow, Math.abs(lastV));
    if (k < 0) return undefined;
    const f = this.fits[k]!;
    const theta = threshold - lastV;
    const fittedAt = (u: number): number => f.mean + f.slope * (u - f.tbar);
    const s = Math.sqrt(f.s2);
    const q = tQuantile975(f.neff - 2);
    const halfBand = (u: number): number => {
      const x = u - f.tbar;
      return q * s * Math.sqrt(Math.max(0, 1 + f.a + 2 * f.b * x + f.c * x * x));
    };
    const upper = (u: number): number => fittedAt(u) + halfBand(u) - theta;
    const lower = (u: number): number => fittedAt(u) - halfBand(u) - theta;

    let eta: number | null;
    let etaLow: number | null;
    let etaHigh: number | null;
    const uMax = uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1);
    if (lastV >= threshold) {
      eta = uNow;
      etaLow = uNow;
      etaHigh = uNow;
    } else {
      eta = f.slope > 0 ? Math.max(uNow, f.tbar + (theta - f.mean) / f.slope) : null;
      if (fittedAt(uNow) >= theta) eta = uNow;
      etaLow = firstCrossingConvex(upper, uNow, eta ?? uMax);
      etaHigh = eta === null ? null : firstCrossingConcave(lower, uNow, Math.max(eta, uNow), uMax);
    }

    const seSlope = s * Math.sqrt(f.c);
    let confidence: number;
    if (seSlope > 0 && Number.isFinite(seSlope)) confidence = studentTCdf(f.slope / seSlope, Math.max(f.neff - 2, 1));
    else confidence = f.slope > 0 ? 1 : f.slope < 0 ? 0 : 0.5;

    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: f.slope,
      fittedNow: lastV + fittedAt(uNow),
      forecastValue: lastV + fittedAt(uNow + horizonMs),
      etaMs: eta === null ? null : lastT + eta,
      etaLowMs: etaLow === null ? null : lastT + etaLow,
      etaHighMs: etaHigh === null ? null : lastT + etaHigh,
      confidence,
      samples: n,
      effectiveSamples: f.neff,
      scaleMs: this.scalesMs[k] ?? 0,
      residualStd: s,
    };
  }

  /** Fits every scale of a slot and returns the Lepski choice, or -1 when none is usable. */
  private chooseScale(slot: number, uNow: number, magnitude: number): number {
    let anyValid = false;
    for (let k = 0; k < SCALES; k++) anyValid = this.fitScale(slot, k, uNow) || anyValid;
    if (!anyValid) return -1;
    // Rounding slack so that noiseless data (zero standard errors) still compares equal.
    const levelEps = 1e-9 * magnitude + 1e-12;
    for (let k = 0; k < SCALES; k++) {
      const fk = this.fits[k]!;
      if (!fk.valid) continue;
      let ok = true;
      for (let j = k + 1; j < SCALES && ok; j++) {
        const fj = this.fits[j]!;
        if (!fj.valid) continue;
        const slopeTol = LEPSKI_Z * Math.sqrt(fj.s2 * fj.c) + 1e-9 * (Math.abs(fk.slope) + Math.abs(fj.slope)) + 1e-300;
        const levelTol = LEPSKI_Z * Math.sqrt(fj.levelVar) + levelEps + 1e-9 * Math.abs(fj.slope * fj.tbar);
        ok = Math.abs(fk.slope - fj.slope) <= slopeTol && Math.abs(fk.levelNow - fj.levelNow) <= levelTol;
      }
      if (ok) return k;
    }
    return -1;
  }

  private fitScale(slot: number, k: number, uNow: number): boolean {
    const f = this.fits[k]!;
    f.valid = false;
    const i = slot * SCALES + k;
    const s0 = this.s0[i]!;
    const q0 = this.q0[i]!;
    if (!(s0 > 0) || !(q0 > 0)) return false;
    const neff = (s0 * s0) / q0;
    if (neff < MIN_EFFECTIVE) return false;
    const tbar = this.st[i]! / s0;
    const mean = this.sv[i]! / s0;
    const sxx = this.stt[i]! - this.st[i]! * tbar;
    if (!(sxx > 0)) return false;
    const sxy = this.stv[i]! - this.st[i]! * mean;
    const syy = this.svv[i]! - this.sv[i]! * mean;
    const slope = sxy / sxx;
    const rss = Math.max(0, syy - slope * sxy);
    const s2 = (rss / s0) * (neff / (neff - 2));
    const qx = this.qt[i]! - q0 * tbar;
    const qxx = this.qtt[i]! - 2 * tbar * this.qt[i]! + tbar * tbar * q0;
    f.neff = neff;
    f.tbar = tbar;
    f.mean = mean;
    f.slope = slope;
    f.s2 = s2;
    f.a = q0 / (s0 * s0);
    f.b = qx / (s0 * sxx);
    f.c = Math.max(0, qxx) / (sxx * sxx);
    const x = uNow - tbar;
    f.levelNow = mean + slope * x;
    f.levelVar = s2 * Math.max(0, f.a + 2 * f.b * x + f.c * x * x);
    f.valid = Number.isFinite(slope) && Number.isFinite(s2);
    return f.valid;
  }

  /** A sample older than the latest: added with its age's weight, origin unchanged. */
  private observeLate(slot: number, u: number, y: number): void {
    if (-u > this.windowMs) return;
    const base = slot * SCALES;
    for (let k = 0; k < SCALES; k++) {
      const i = base + k;
      const w = Math.exp(u / (this.scalesMs[k] ?? 1));
      const w2 = w * w;
      this.s0[i]! += w;
      this.st[i]! += w * u;
      this.stt[i]! += w * u * u;
      this.sv[i]! += w * y;
      this.stv[i]! += w * u * y;
      this.svv[i]! += w * y * y;
      this.q0[i]! += w2;
      this.qt[i]! += w2 * u;
      this.qtt[i]! += w2 * u * u;
    }
    this.count[slot] = (this.count[slot] ?? 0) + 1;
  }

  private start(slot: number, tMs: number, value: number): void {
    this.clear(slot);
    const base = slot * SCALES;
    for (let k = 0; k < SCALES; k++) {
      this.s0[base + k] = 1;
      this.q0[base + k] = 1;
    }
    this.lastT[slot] = tMs;
    this.lastV[slot] = value;
    this.count[slot] = 1;
  }

  private clear(slot: number): void {
    const base = slot * SCALES;
    for (const col of [this.s0, this.st, this.stt, this.sv, this.stv, this.svv, this.q0, this.qt, this.qtt]) {
      col.fill(0, base, base + SCALES);
    }
    this.lastT[slot] = 0;
    this.lastV[slot] = 0;
    this.count[slot] = 0;
  }

  private grow(cap: number): void {
    this.lastT = resizeF64(this.lastT, cap);
    this.lastV = resizeF64(this.lastV, cap);
    this.count = resizeF64(this.count, cap);
    const n = cap * SCALES;
    this.s0 = resizeF64(this.s0, n);
    this.st = resizeF64(this.st, n);
    this.stt = resizeF64(this.stt, n);
    this.sv = resizeF64(this.sv, n);
    this.stv = resizeF64(this.stv, n);
    this.svv = resizeF64(this.svv, n);
    this.q0 = resizeF64(this.q0, n);
    this.qt = resizeF64(this.qt, n);
    this.qtt = resizeF64(this.qtt, n);
  }
}

/**
 * First u in [from, to] where a convex f becomes ≥ 0, or null. A convex function that is
 * negative at both ends is negative in between, so checking the end is enough.
 */
function firstCrossingConvex(f: (u: number) => number, from: number, to: number): number | null {
  if (f(from) >= 0) return from;
  if (!(to > from) || f(to) < 0) return null;
  return bisect(f, from, to);
}

/**
 * First u in [from, to] where a concave f becomes ≥ 0, or null, searching from `start`
 * (f(start) < 0 is expected). A concave f may rise and fall again, so when it is negative at
 * `to` its maximum is located first (golden-section search on a unimodal function).
 */
function firstCrossingConcave(f: (u: number) => number, from: number, start: number, to: number): number | null {
  if (f(from) >= 0) return from;
  if (f(start) >= 0) return bisect(f, from, start);
  if (!(to > start)) return null;
  if (f(to) >= 0) return bisect(f, start, to);
  let a = start;
  let b = to;
  const r = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 80 && b - a > 1; i++) {
    const m1 = b - r * (b - a);
    const m2 = a + r * (b - a);
    if (f(m1) < f(m2)) a = m1;
    else b = m2;
  }
  const peak = (a + b) / 2;
  if (f(peak) < 0) return null;
  return bisect(f, start, peak);
}

/** Bisection for a sign change from negative at `lo` to non-negative at `hi`, to 1 ms. */
function bisect(f: (u: number) => number, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  for (let i = 0; i < 100 && b - a > 1; i++) {
    const m = (a + b) / 2;
    if (f(m) >= 0) b = m;
    else a = m;
  }
  return b;
}
