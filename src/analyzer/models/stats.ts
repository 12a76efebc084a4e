/**
 * Small statistics helpers for the models: Student-t quantiles and CDF.
 * Pure functions, no state; kept here so models do not depend on a table-based library CDF.
 */

/** Two-sided 95% Student-t quantiles (t_{0.975, df}) for df = 1..30, published constants. */
const T975: readonly number[] = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12,
  2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Anchors past the table: df 40, 60, 120 (then the normal 1.96), as parallel arrays (this runs per forecast). */
const TAIL_DF: readonly number[] = [30, 40, 60, 120];
const TAIL_Q: readonly number[] = [2.042, 2.021, 2.0, 1.98];

/** t_{0.975} for a possibly fractional df (linear interpolation); df below 1 is treated as 1. */
export function tQuantile975(df: number): number {
  if (!(df > 1)) return T975[0] ?? 12.706;
  if (df <= 30) {
    const lo = Math.floor(df);
    const a = T975[lo - 1] ?? 12.706;
    const b = T975[Math.min(lo, 29)] ?? a;
    return a + (b - a) * (df - lo);
  }
  for (let i = 1; i < TAIL_DF.length; i++) {
    const d1 = TAIL_DF[i]!;
    if (df <= d1) {
      const d0 = TAIL_DF[i - 1]!;
      const q0 = TAIL_Q[i - 1]!;
      // Quantiles are close to linear in 1/df.
      const f = (1 / d0 - 1 / df) / (1 / d0 - 1 / d1);
      return q0 + (TAIL_Q[i]! - q0) * f;
    }
  }
  return 1.96 + (1.98 - 1.96) * (120 / df);
}

/** Lanczos coefficients (g = 7, n = 9). */
const LANCZOS: readonly number[] = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). */
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the regularized incomplete beta (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 200; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const front = Math.exp(lnFront);
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * ln of the tail below which `studentTCdf` skips the series: e^-46 ≈ 1e-20, far below 2^-54,
 * under which 1 − tail rounds to exactly 1.
 */
const NEGLIGIBLE_LN_TAIL = -46;
/** ln of the tail below which the tail computes to exactly 0: e^-800, past the smallest double (e^-744). */
const ZERO_LN_TAIL = -800;

/**
 * P(T ≤ t) for Student's t with `df` (> 0, may be fractional) degrees of freedom.
 *
 * A far tail is answered without the incomplete beta (three log-gammas and a continued
 * fraction: most of a forecast's cost when a trend is clear, t in the hundreds): with
 * x = v/(v+t²) ≤ 1/2 and a = v/2 ≥ 1, the tail ½·I_x(a, ½) ≤ ½·x^a/√(π·a·(1−x)) < x^a
 * (Gautschi: Γ(a+½)/Γ(a) < √a). Below NEGLIGIBLE_LN_TAIL the full computation returns exactly
 * 1 for t > 0; below ZERO_LN_TAIL (with the 1/B(a, ½) ≤ √(a/π) factor) its tail underflows to
 * exactly 0. Either way the result is bit-for-bit what the series gives.
 */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t)) return 0.5;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const v = Math.max(df, 1e-9);
  const x = v / (v + t * t);
  if (v >= 2 && x <= 0.5) {
    const lnXa = (v / 2) * Math.log(x);
    if (t > 0 && lnXa < NEGLIGIBLE_LN_TAIL) return 1;
    if (lnXa + 0.5 * Math.log(v / 2) < ZERO_LN_TAIL) return t > 0 ? 1 : 0;
  }
  return studentTCdfSeries(t, v);
}

/** `studentTCdf` through the incomplete beta always (exported to test the far-tail shortcut against). */
export function studentTCdfSeries(t: number, df: number): number {
  if (Number.isNaN(t)) return 0.5;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const v = Math.max(df, 1e-9);
  const tail = 0.5 * incompleteBeta(v / (v + t * t), v / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}
