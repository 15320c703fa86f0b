/** Zipf-distributed ranks, for the sections that replay skewed traffic (mixed, cluster). */

/**
 * A Zipf(s) sampler over ranks `0 … n-1` (rank r drawn with weight 1 / (r + 1)^s): a CDF,
 * binary-searched. Returns the rank for a uniform `u` in [0, 1), so the caller picks the
 * source of randomness (seeded for a trace that must repeat, `Math.random` otherwise).
 */
export function zipfRanks(n: number, s: number): (u: number) => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  return (u) => {
    const target = u * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
