/** Small descriptive statistics for the bench: medians and percentiles of samples. */

/** The `p`-th percentile (0..100) of `sorted` (ascending), by linear interpolation between order statistics. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (rank - low);
}

/** The median of `values` (any order). */
export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Ascending copy of `values`. */
export function sorted(values: readonly number[] | Float64Array): number[] {
  return Array.from(values).sort((a, b) => a - b);
}
