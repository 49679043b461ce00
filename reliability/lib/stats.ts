/** Small statistics for the reliability figures; inputs are plain arrays of numbers. */

import { mean } from '../../bench/lib/stats.js';

// Shared with the benchmarks: one definition of a quantile and of how milliseconds print.
export { mean, ms, quantile } from '../../bench/lib/stats.js';

export function max(values: readonly number[]): number {
  return values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
}

/** Least-squares slope of y over x (units of y per unit of x); NaN with fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return Number.NaN;
  const mx = mean(xs.slice(0, n));
  const my = mean(ys.slice(0, n));
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/**
 * Least-squares slope with its standard error: a trend is real when the slope is well above its
 * error (here: more than twice), not merely above zero, since samples scatter.
 */
export function trend(xs: readonly number[], ys: readonly number[]): { slope: number; se: number } {
  const n = Math.min(xs.length, ys.length);
  const b = slope(xs, ys);
  if (n < 3 || !Number.isFinite(b)) return { slope: b, se: Number.NaN };
  const mx = mean(xs.slice(0, n));
  const my = mean(ys.slice(0, n));
  let residuals = 0;
  let spread = 0;
  for (let i = 0; i < n; i++) {
    residuals += (ys[i]! - (my + b * (xs[i]! - mx))) ** 2;
    spread += (xs[i]! - mx) ** 2;
  }
  return { slope: b, se: Math.sqrt(residuals / (n - 2) / spread) };
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : 'n/a';
}
