/**
 * Order statistics and normal-distribution helpers for the leak, seasonal and anomaly models.
 * Pure functions working in place on caller-owned scratch arrays, so evaluations allocate nothing.
 */

/** z such that Φ(z) = 0.975: the half-width of a two-sided 95% normal interval. */
export const Z975 = 1.959963984540054;

/**
 * The k-th smallest (0-based) of a[0..n), by quickselect. Reorders a[0..n) in place.
 * Expected O(n); the middle-of-three pivot keeps sorted input from going quadratic.
 * `from`/`to` narrow the search to a[from..to] when an earlier selection already partitioned
 * the array around those positions (every element left of `from` ≤ a[from..to] ≤ every element right of `to`).
 */
export function selectKth(a: Float64Array, n: number, k: number, from = 0, to = n - 1): number {
  let lo = from;
  let hi = to;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three into a[mid], then Hoare partition around it.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** Median of a[0..n) (mean of the two middle values when n is even); reorders a. NaN when n = 0. */
export function medianInPlace(a: Float64Array, n: number): number {
  if (n <= 0) return NaN;
  const hi = selectKth(a, n, n >> 1);
  if (n % 2 === 1) return hi;
  // After selection everything left of n/2 is ≤ hi: the lower middle is their maximum.
  let lo = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (a[i]! > lo) lo = a[i]!;
  return (lo + hi) / 2;
}

/** Median of three numbers. */
export function median3(a: number, b: number, c: number): number {
  if (a > b) [a, b] = [b, a];
  if (b > c) b = c;
  return a > b ? a : b;
}

/** Standard normal CDF Φ(z), via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return 0.5;
  const x = -z / Math.SQRT2;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.5 * ax);
  const poly =
    -ax * ax -
    1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfcAbs = t * Math.exp(poly);
  const erfc = x >= 0 ? erfcAbs : 2 - erfcAbs;
  return 0.5 * erfc;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}
