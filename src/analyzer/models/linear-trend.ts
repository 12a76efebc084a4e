import { resizeF64, SlotPool } from "./slot-pool.js";
import { bandRoot } from "./robust-stats.js";
import { studentTCdf, tQuantile975 } from "./stats.js";

/**
 * Linear trend with a prediction interval, for every series at once.
 *
 * Design: exponentially weighted least squares (weights exp(-age/τ)) at twelve nested time
 * constants τ, τ/2, …, τ/2048, with τ = window/3 (95% of the longest scale's weight lies inside
 * the window). Scales holding fewer than 3 effective samples are skipped, so the short end
 * adapts to the sampling interval: a 6 h window still reacts to a fill that started 15 s ago
 * when sampled every second. Each scale keeps six decayed running sums; a sample costs O(1) and allocates
 * nothing. At prediction time the scale is chosen by Lepski's method: the longest scale whose
 * slope and current level agree, within their standard errors, with every shorter scale. A
 * straight line keeps the long, low-variance scale; a series that was flat and then starts
 * rising (or bends) switches to the short scale that only sees the new regime, instead of
 * averaging the old flat part into the slope for a whole window. The ETA bounds are where the
 * band's edges meet the threshold: the roots of a quadratic in time (`bandRoot`), not a search.
 *
 * Per-slot sums are kept relative to the slot's latest sample (time and value), so the numbers
 * stay small and cancellation in the centred moments is harmless. Besides Σw the model keeps
 * Σw², Σw²t, Σw²t², which give the exact variance of the weighted estimator (the Kish n_eff
 * shortcut overstates the slope variance of an exponential window by 2×). With scales a factor 2
 * apart these are the next scale's Σw, Σwt, Σwt² (w² = exp(-age/(τ/2))), updated with the very same
 * operations, so they are read from there; a thirteenth, half-size scale serves the shortest one.
 */

/** Number of nested time scales per series (memory: 6 doubles per scale per series). */
export const SCALES = 12;
/** Decayed sums per scale: Σw, Σwt, Σwt², Σwv, Σwtv, Σwv², in this order. */
const SUMS = 6;
// A slot's doubles, one block per slot: its latest sample and count, SUMS sums per scale, then
// Σw, Σwt, Σwt² of the extra scale τ/4096 (the Σw², Σw²t, Σw²t² of the shortest scale).
const LAST_T = 0;
const LAST_V = 1;
const COUNT = 2;
const FIRST_SUM = 3;
const TAIL = FIRST_SUM + SCALES * SUMS;
/** Doubles per slot. */
const STRIDE = TAIL + 3;
/** Ratio between successive time constants. Must be 2: scale k's Σw² is scale k+1's Σw. */
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

  /**
   * Every slot's state, interleaved: slot * STRIDE + (LAST_T | LAST_V | COUNT), the sums of
   * scale k at slot * STRIDE + FIRST_SUM + k * SUMS, the extra scale's at slot * STRIDE + TAIL. One
   * block per slot keeps a sample's reads and writes on adjacent cache lines instead of one line in each of many columns.
   */
  private state: Float64Array;
  /** Time constant of the extra scale whose sums are the shortest scale's Σw², Σw²t, Σw²t² (ms). */
  private readonly tailScaleMs: number;
  /** exp(-dt/τ) for the latest dt seen (series sampled at one interval share it): one Math.exp per new interval, not per sample. */
  private decayDtMs = NaN;
  private decay = 1;

  private readonly fits: ScaleFit[] = Array.from({ length: SCALES }, newFit);
  /**
   * The slot whose state `fits` were made from, -1 when none or when it changed since. An
   * evaluation with no new sample (a series sampled every minute, evaluated every 10 s) only
   * moves each fit's level to the new time: the fits themselves are state alone.
   */
  private fitSlot = -1;
  /** Per scale, Lepski's Z × slope standard error and level tolerance of the current predict. */
  private readonly slopeTolBase = new Float64Array(SCALES);
  private readonly levelTol = new Float64Array(SCALES);
  /** The chosen fit's line and band during one predict (reused: predict allocates only its result). */
  private readonly band: Band = { mean: 0, slope: 0, tbar: 0, a: 0, b: 0, c: 0, qs: 0, theta: 0 };

  constructor(windowMs: number, opts: LinearTrendOptions = {}) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    this.windowMs = windowMs;
    const tau = windowMs / 3;
    this.scalesMs = Array.from({ length: SCALES }, (_, k) => tau / SCALE_RATIO ** k);
    this.tailScaleMs = tau / SCALE_RATIO ** SCALES;
    const capacity = Math.max(1, opts.initialCapacity ?? 64);
    this.pool = new SlotPool(capacity, (n) => this.grow(n));
    this.state = new Float64Array(capacity * STRIDE);
  }

  /** Slots in use (allocated and not released). */
  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** Approximate bytes held by the columns. */
  get bytes(): number {
    return this.pool.capacity * STRIDE * 8;
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
    return this.state[slot * STRIDE + COUNT] ?? 0;
  }

  /** Time of the slot's latest sample (ms), or NaN when it has none. */
  lastTimeMs(slot: number): number {
    return (this.state[slot * STRIDE + COUNT] ?? 0) > 0 ? (this.state[slot * STRIDE + LAST_T] ?? NaN) : NaN;
  }

  /** exp(-dt/τ) of the longest scale, recomputed only when dt differs from the previous call's. */
  private decayFor(dt: number): number {
    if (dt !== this.decayDtMs) {
      this.decay = Math.exp(-dt / (this.scalesMs[0] ?? 1));
      this.decayDtMs = dt;
    }
    return this.decay;
  }

  /** Adds one sample. O(1), no allocation. Non-finite values are ignored. */
  observe(slot: number, tMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(tMs)) return;
    const m = this.state;
    const b = slot * STRIDE;
    const n = m[b + COUNT] ?? 0;
    const dt = tMs - (m[b + LAST_T] ?? 0);
    if (n === 0 || dt > this.windowMs) {
      this.start(slot, tMs, value);
      return;
    }
    if (slot === this.fitSlot) this.fitSlot = -1;
    const cv = value - (m[b + LAST_V] ?? 0);
    if (dt < 0) {
      this.observeLate(slot, dt, cv);
      return;
    }
    let d = this.decayFor(dt);
    // Loop invariants, grouped as the products below are evaluated (left to right), so results are bit-identical.
    const twoDt = 2 * dt;
    const dtDt = dt * dt;
    const twoCv = 2 * cv;
    const cvCv = cv * cv;
    const tail = b + TAIL;
    for (let i = b + FIRST_SUM; i < tail; i += SUMS) {
      // Decay, then move the origin to the new sample (t -= dt, v -= cv), then add it at (0, 0).
      const s0 = m[i]! * d;
      const st = m[i + 1]! * d;
      const stt = m[i + 2]! * d;
      const sv = m[i + 3]! * d;
      const stv = m[i + 4]! * d;
      const svv = m[i + 5]! * d;
      const st1 = st - dt * s0;
      m[i] = s0 + 1;
      m[i + 1] = st1;
      m[i + 2] = stt - twoDt * st + dtDt * s0;
      m[i + 3] = sv - cv * s0;
      m[i + 4] = stv - dt * sv - cv * st1;
      m[i + 5] = svv - twoCv * sv + cvCv * s0;
      d = d * d; // next scale has τ/2: exp(-dt/(τ/2)) = d²
    }
    const s0 = m[tail]! * d;
    const st = m[tail + 1]! * d;
    const stt = m[tail + 2]! * d;
    m[tail] = s0 + 1;
    m[tail + 1] = st - dt * s0;
    m[tail + 2] = stt - twoDt * st + dtDt * s0;
    m[b + LAST_T] = tMs;
    m[b + LAST_V] = value;
    m[b + COUNT] = n + 1;
  }

  /**
   * Forecast for a slot against an upper threshold, or undefined when the slot has fewer than
   * `minSamples` samples, its latest sample is older than the window, or the fit is degenerate.
   */
  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples = 3): TrendForecast | undefined {
    const k = this.fitAt(slot, nowMs, minSamples);
    if (k < 0) return undefined;
    const b = slot * STRIDE;
    const n = this.state[b + COUNT]!;
    const lastT = this.state[b + LAST_T]!;
    const lastV = this.state[b + LAST_V]!;
    const uNow = Math.max(0, nowMs - lastT);
    const f = this.fits[k]!;
    const { neff, slope, tbar, mean, c } = f;
    const theta = threshold - lastV;
    const s = Math.sqrt(f.s2);
    const band = this.band;
    band.mean = mean;
    band.slope = slope;
    band.tbar = tbar;
    band.a = f.a;
    band.b = f.b;
    band.c = c;
    band.qs = tQuantile975(neff - 2) * s;
    band.theta = theta;

    const eta = centralEta(f, uNow, theta);
    let etaLow: number | null;
    let etaHigh: number | null;
    const uMax = uNow + ETA_HIGH_HORIZONS * Math.max(horizonMs, 1);
    if (theta <= 0) {
      etaLow = uNow;
      etaHigh = uNow;
    } else {
      etaLow = upperCrossing(band, uNow, eta ?? uMax);
      etaHigh = eta === null ? null : lowerCrossing(band, uNow, Math.max(eta, uNow), uMax);
    }

    const seSlope = s * Math.sqrt(c);
    let confidence: number;
    if (seSlope > 0 && Number.isFinite(seSlope)) confidence = studentTCdf(slope / seSlope, Math.max(neff - 2, 1));
    else confidence = slope > 0 ? 1 : slope < 0 ? 0 : 0.5;

    return {
      lastValue: lastV,
      lastTimeMs: lastT,
      slopePerMs: slope,
      fittedNow: lastV + fittedAt(band, uNow),
      forecastValue: lastV + fittedAt(band, uNow + horizonMs),
      etaMs: eta === null ? null : lastT + eta,
      etaLowMs: etaLow === null ? null : lastT + etaLow,
      etaHighMs: etaHigh === null ? null : lastT + etaHigh,
      confidence,
      samples: n,
      effectiveSamples: neff,
      scaleMs: this.scalesMs[k] ?? 0,
      residualStd: s,
    };
  }

  /**
   * `predict`'s `etaMs` alone (NaN where predict gives none or a null ETA), for an alert's
   * condition: the same fits and scale, without the band, its crossings or the confidence.
   */
  eta(slot: number, nowMs: number, threshold: number, _horizonMs: number, minSamples = 3): number {
    const k = this.fitAt(slot, nowMs, minSamples);
    if (k < 0) return NaN;
    const lastT = this.state[slot * STRIDE + LAST_T]!;
    const u = centralEta(this.fits[k]!, Math.max(0, nowMs - lastT), threshold - this.state[slot * STRIDE + LAST_V]!);
    return u === null ? NaN : lastT + u;
  }

  /**
   * Fits a slot's scales at `nowMs` into `fits` and returns the Lepski choice, or -1 when the slot
   * has fewer than `minSamples` samples, its latest is older than the window, or no fit is usable.
   */
  private fitAt(slot: number, nowMs: number, minSamples: number): number {
    const b = slot * STRIDE;
    if ((this.state[b + COUNT] ?? 0) < Math.max(minSamples, MIN_EFFECTIVE)) return -1;
    const lastT = this.state[b + LAST_T]!;
    const uNow = Math.max(0, nowMs - lastT);
    if (uNow > this.windowMs) return -1;
    return this.chooseScale(slot, uNow, Math.abs(this.state[b + LAST_V]!));
  }

  /** Fits every scale of a slot (or moves the last fits of this slot to uNow) and returns the Lepski choice, or -1 when none is usable. */
  private chooseScale(slot: number, uNow: number, magnitude: number): number {
    const reuse = slot === this.fitSlot;
    let anyValid = false;
    for (let k = 0; k < SCALES; k++) {
      if (!reuse) anyValid = this.fitScale(slot, k, uNow) || anyValid;
      else if (this.fits[k]!.valid) {
        levelAt(this.fits[k]!, uNow);
        anyValid = true;
      }
    }
    this.fitSlot = slot;
    if (!anyValid) return -1;
    // Rounding slack so that noiseless data (zero standard errors) still compares equal.
    const levelEps = 1e-9 * magnitude + 1e-12;
    // Each scale's tolerances as a shorter scale, computed once (not once per longer scale): the same sums in the same order.
    // The longest scale is never the shorter one of a pair. The slope's depends on the fit alone: kept when the fits are.
    const slopeSe = this.slopeTolBase;
    const levelTol = this.levelTol;
    for (let j = 1; j < SCALES; j++) {
      const fj = this.fits[j]!;
      if (!fj.valid) continue;
      if (!reuse) slopeSe[j] = LEPSKI_Z * Math.sqrt(fj.s2 * fj.c);
      levelTol[j] = LEPSKI_Z * Math.sqrt(fj.levelVar) + levelEps + 1e-9 * Math.abs(fj.slope * fj.tbar);
    }
    for (let k = 0; k < SCALES; k++) {
      const fk = this.fits[k]!;
      if (!fk.valid) continue;
      let ok = true;
      for (let j = k + 1; j < SCALES && ok; j++) {
        const fj = this.fits[j]!;
        if (!fj.valid) continue;
        const slopeTol = slopeSe[j]! + 1e-9 * (Math.abs(fk.slope) + Math.abs(fj.slope)) + 1e-300;
        ok = Math.abs(fk.slope - fj.slope) <= slopeTol && Math.abs(fk.levelNow - fj.levelNow) <= levelTol[j]!;
      }
      if (ok) return k;
    }
    return -1;
  }

  private fitScale(slot: number, k: number, uNow: number): boolean {
    const f = this.fits[k]!;
    f.valid = false;
    const m = this.state;
    const i = slot * STRIDE + FIRST_SUM + k * SUMS;
    // Σw², Σw²t, Σw²t² of this scale: the first three sums of the next one.
    const q = i + SUMS;
    const s0 = m[i]!;
    const q0 = m[q]!;
    if (!(s0 > 0) || !(q0 > 0)) return false;
    const neff = (s0 * s0) / q0;
    if (neff < MIN_EFFECTIVE) return false;
    const st = m[i + 1]!;
    const sv = m[i + 3]!;
    const qt = m[q + 1]!;
    const tbar = st / s0;
    const mean = sv / s0;
    const sxx = m[i + 2]! - st * tbar;
    if (!(sxx > 0)) return false;
    const sxy = m[i + 4]! - st * mean;
    const syy = m[i + 5]! - sv * mean;
    const slope = sxy / sxx;
    const rss = Math.max(0, syy - slope * sxy);
    const s2 = (rss / s0) * (neff / (neff - 2));
    const qx = qt - q0 * tbar;
    const qxx = m[q + 2]! - 2 * tbar * qt + tbar * tbar * q0;
    f.neff = neff;
    f.tbar = tbar;
    f.mean = mean;
    f.slope = slope;
    f.s2 = s2;
    f.a = q0 / (s0 * s0);
    f.b = qx / (s0 * sxx);
    f.c = Math.max(0, qxx) / (sxx * sxx);
    // As levelAt (inline: this runs per scale per forecast).
    const x = uNow - tbar;
    f.levelNow = mean + slope * x;
    f.levelVar = s2 * Math.max(0, f.a + 2 * f.b * x + f.c * x * x);
    f.valid = Number.isFinite(slope) && Number.isFinite(s2);
    return f.valid;
  }

  /** A sample older than the latest: added with its age's weight, origin unchanged. */
  private observeLate(slot: number, u: number, y: number): void {
    if (-u > this.windowMs) return;
    const m = this.state;
    const b = slot * STRIDE;
    for (let k = 0; k < SCALES; k++) {
      const i = b + FIRST_SUM + k * SUMS;
      const w = Math.exp(u / (this.scalesMs[k] ?? 1));
      m[i]! += w;
      m[i + 1]! += w * u;
      m[i + 2]! += w * u * u;
      m[i + 3]! += w * y;
      m[i + 4]! += w * u * y;
      m[i + 5]! += w * y * y;
    }
    const w = Math.exp(u / this.tailScaleMs);
    m[b + TAIL]! += w;
    m[b + TAIL + 1]! += w * u;
    m[b + TAIL + 2]! += w * u * u;
    m[b + COUNT] = (m[b + COUNT] ?? 0) + 1;
  }

  private start(slot: number, tMs: number, value: number): void {
    this.clear(slot);
    const m = this.state;
    const b = slot * STRIDE;
    for (let k = 0; k < SCALES; k++) m[b + FIRST_SUM + k * SUMS] = 1; // Σw (and the previous scale's Σw²)
    m[b + TAIL] = 1;
    m[b + LAST_T] = tMs;
    m[b + LAST_V] = value;
    m[b + COUNT] = 1;
  }

  private clear(slot: number): void {
    if (slot === this.fitSlot) this.fitSlot = -1;
    this.state.fill(0, slot * STRIDE, (slot + 1) * STRIDE);
  }

  private grow(cap: number): void {
    this.state = resizeF64(this.state, cap * STRIDE);
  }
}

/**
 * The chosen fit as the crossing search sees it, times relative to the latest sample (ms):
 * fitted(u) = mean + slope·(u − tbar), half-width qs·sqrt(1 + a + 2b·x + c·x²) with x = u − tbar,
 * `theta` the threshold minus the latest value.
 */
interface Band {
  mean: number;
  slope: number;
  tbar: number;
  a: number;
  b: number;
  c: number;
  /** Student-t quantile × residual σ. */
  qs: number;
  theta: number;
}

/** A fit's level at uNow (relative to the latest sample) and its variance. */
function levelAt(f: ScaleFit, uNow: number): void {
  const x = uNow - f.tbar;
  f.levelNow = f.mean + f.slope * x;
  f.levelVar = f.s2 * Math.max(0, f.a + 2 * f.b * x + f.c * x * x);
}

/**
 * When the fitted line reaches `theta` (the threshold minus the latest value), relative to the
 * latest sample: uNow when the latest value or the line is already there, null when it never does.
 */
function centralEta(f: ScaleFit, uNow: number, theta: number): number | null {
  if (theta <= 0 || f.levelNow >= theta) return uNow;
  return f.slope > 0 ? Math.max(uNow, f.tbar + (theta - f.mean) / f.slope) : null;
}

function fittedAt(band: Band, u: number): number {
  return band.mean + band.slope * (u - band.tbar);
}

/** The band's edge minus the threshold at u: `side` +1 the upper edge (convex in u), −1 the lower (concave). */
function edge(band: Band, u: number, side: 1 | -1): number {
  const x = u - band.tbar;
  return fittedAt(band, u) + side * band.qs * Math.sqrt(Math.max(0, 1 + band.a + 2 * band.b * x + band.c * x * x)) - band.theta;
}

/**
 * First u in [from, to] where the upper edge reaches the threshold, or null. The edge is convex:
 * negative at both ends means negative in between, so the ends decide whether it crosses.
 */
function upperCrossing(band: Band, from: number, to: number): number | null {
  if (edge(band, from, 1) >= 0) return from;
  if (!(to > from) || edge(band, to, 1) < 0) return null;
  return rootIn(band, 1, from, to);
}

/**
 * First u in [from, to] where the lower edge reaches the threshold, or null, searching from
 * `start` (the ETA, where the lower edge is expected below). The edge is concave: it may rise
 * and fall again before `to`, and then it crosses where the band's quadratic has its rising root.
 */
function lowerCrossing(band: Band, from: number, start: number, to: number): number | null {
  if (edge(band, from, -1) >= 0) return from;
  if (edge(band, start, -1) >= 0) return rootIn(band, -1, from, start);
  if (!(to > start)) return null;
  if (edge(band, to, -1) >= 0) return rootIn(band, -1, start, to);
  // Below at both ends: a crossing in between is the rising root, where the line is above the threshold.
  const r = band.tbar + bandRoot(band.mean - band.theta, band.slope, band.qs * band.qs, 1 + band.a, band.b, band.c, true);
  if (!(r > start && r < to) || !(fittedAt(band, r) > band.theta)) return null;
  return r;
}

/**
 * The crossing of an edge that is below the threshold at `lo` and at or above it at `hi` (so
 * crosses once in between): the root of the band's quadratic, without iterations. Should
 * rounding put the root outside [lo, hi] by more than a ms, bisection on the edge itself decides.
 */
function rootIn(band: Band, side: 1 | -1, lo: number, hi: number): number {
  const r = band.tbar + bandRoot(band.mean - band.theta, band.slope, band.qs * band.qs, 1 + band.a, band.b, band.c, side < 0);
  if (r >= lo - 1 && r <= hi + 1) return Math.min(hi, Math.max(lo, r));
  return bisect(band, side, lo, hi);
}

/** Bisection for a sign change of an edge from negative at `lo` to non-negative at `hi`, to 1 ms. */
function bisect(band: Band, side: 1 | -1, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  for (let i = 0; i < 100 && b - a > 1; i++) {
    const m = (a + b) / 2;
    if (edge(band, m, side) >= 0) b = m;
    else a = m;
  }
  return b;
}
