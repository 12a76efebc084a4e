/**
 * Order statistics, normal-distribution and line-crossing helpers shared by the models. Pure functions over
 * caller-owned scratch arrays: nothing here allocates per call.
 */

/** z such that Φ(z) = 0.975: the half-width of a two-sided 95% normal interval. */
export const Z975 = 1.959963984540054;

/** Median of three numbers. */
export function median3(a: number, b: number, c: number): number {
  if (a > b) [a, b] = [b, a];
  if (b > c) b = c;
  return a > b ? a : b;
}

/**
 * The k-th smallest (0-based) value of a[lo, hi). Reorders that range (Hoare's selection with a
 * median-of-three pivot, expected O(n)); afterwards a[lo, k) ≤ a[k] ≤ a(k, hi).
 */
export function selectKth(a: Float64Array, k: number, lo = 0, hi = a.length): number {
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    const m = (l + r) >>> 1;
    // Median of three as pivot, moved to a[m].
    if (a[m]! < a[l]!) swap(a, m, l);
    if (a[r]! < a[l]!) swap(a, r, l);
    if (a[r]! < a[m]!) swap(a, r, m);
    const pivot = a[m]!;
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return a[k]!;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** Median of a[0, n) (mean of the two middle values when n is even). Reorders a; NaN when n = 0. */
export function medianInPlace(a: Float64Array, n: number): number {
  if (n <= 0) return NaN;
  const h = n >>> 1;
  const upper = selectKth(a, h, 0, n);
  if (n % 2 === 1) return upper;
  // After selection a[0, h) ≤ upper: the lower middle is their maximum.
  let lower = -Infinity;
  for (let i = 0; i < h; i++) if (a[i]! > lower) lower = a[i]!;
  return (lower + upper) / 2;
}

/** Consistency factor turning a median absolute deviation into a normal standard deviation. */
export const MAD_TO_SIGMA = 1.4826;

/**
 * Robust standard deviation of a[0, n) around `center`: 1.4826 × median |a − center|.
 * Overwrites a[0, n) with the absolute deviations.
 */
export function madSigmaInPlace(a: Float64Array, n: number, center: number): number {
  for (let i = 0; i < n; i++) a[i] = Math.abs(a[i]! - center);
  return MAD_TO_SIGMA * medianInPlace(a, n);
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 on erf; absolute error < 1.5e-7). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return 0.5;
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** ETA and its bounds as times relative to the caller's origin (ms); see `lineEtas`. */
export interface RelativeEtas {
  eta: number | null;
  low: number | null;
  high: number | null;
}

/**
 * Where a line through (pivotU, level) reaches `threshold`, for its central slope and for the
 * two extremes of its uncertainty: the earliest plausible crossing uses the upper level
 * (level + halfWidth) with the highest slope, the latest the lower level with the lowest slope.
 * Results are ≥ uNow. `eta` is null when the slope is ≤ 0; `low` is null when even the upper
 * line does not cross before uMax; `high` is null (unbounded) when the lower line does not
 * cross before uMax — the same conventions as `TrendForecast`.
 */
export function lineEtas(
  pivotU: number,
  level: number,
  halfWidth: number,
  slope: number,
  slopeLow: number,
  slopeHigh: number,
  threshold: number,
  uNow: number,
  uMax: number,
): RelativeEtas {
  const eta = crossing(pivotU, level, slope, threshold, uNow, Infinity);
  const low = crossing(pivotU, level + halfWidth, Math.max(slope, slopeHigh), threshold, uNow, uMax);
  const high = crossing(pivotU, level - halfWidth, Math.min(slope, slopeLow), threshold, uNow, uMax);
  return { eta, low, high };
}

/** First u ≥ uNow where level + slope·(u − pivotU) ≥ threshold, or null when not before uMax. */
export function crossing(pivotU: number, level: number, slope: number, threshold: number, uNow: number, uMax: number): number | null {
  if (level + slope * (uNow - pivotU) >= threshold) return uNow;
  if (!(slope > 0)) return null;
  const u = pivotU + (threshold - level) / slope;
  return u > uMax ? null : Math.max(uNow, u);
}

/**
 * Where an edge of a line's prediction band meets a threshold, in closed form: with the line
 * d(x) = d0 + slope·x (value minus threshold, x from the fit's centre) and the band's half-width
 * k·sqrt(p0 + 2·p1·x + p2·x²), an edge d ± k·sqrt(…) is zero where
 * Q(x) = d² − k²(p0 + 2·p1·x + p2·x²) = 0, a quadratic in x. The upper edge d + k·sqrt(…) is
 * convex and crosses upwards (from below the threshold to at or above it) where Q falls through 0
 * (d < 0 there); the concave lower edge d − k·sqrt(…) crosses upwards where Q rises through 0
 * (d > 0 there). `rising` picks the root: false for the upper edge, true for the lower. NaN when
 * Q has no such root (no real root, or a line Q without that direction). Uses the cancellation-free
 * form of the quadratic formula (the small root as c/q), so a nearly flat Q keeps its finite root exact.
 */
export function bandRoot(d0: number, slope: number, k2: number, p0: number, p1: number, p2: number, rising: boolean): number {
  const a = slope * slope - k2 * p2;
  const b = 2 * (slope * d0 - k2 * p1);
  const c = d0 * d0 - k2 * p0;
  if (a === 0) return (b > 0) === rising && b !== 0 ? -c / b : NaN;
  const disc = b * b - 4 * a * c;
  if (!(disc >= 0)) return NaN;
  const sq = Math.sqrt(disc);
  // Q'(root) = 2a·root + b = ±sq: the "+" root (−b + sq)/(2a) is the rising one.
  const q = b >= 0 ? -(b + sq) / 2 : -(b - sq) / 2;
  if (q === 0) return 0; // b = 0 and disc = 0: a double root at 0
  // For b ≥ 0, q/a = (−b − sq)/(2a) (falling) and c/q = (−b + sq)/(2a) (rising); for b < 0 the other way round.
  const falling = b >= 0 ? q / a : c / q;
  const risingRoot = b >= 0 ? c / q : q / a;
  return rising ? risingRoot : falling;
}
