import { describe, expect, it } from 'vitest';
import { hotKey, jitterReplay } from '../../bench/sim/expiry.js';

describe('expiry on the fake clock (bench/sim/expiry.ts)', () => {
  it('a hot key with refreshAhead: no read blocks on the loader, at most one load per expiry', async () => {
    const without = await hotKey({ refreshAhead: false });
    expect(without.blocked).toBeGreaterThan(0);
    expect(without.loaderCalls).toBe(without.expiries);
    for (const seed of [1, 2, 3]) {
      const withIt = await hotKey({ refreshAhead: true, seed });
      expect(withIt.blocked / withIt.reads).toBeLessThan(0.001);
      expect(withIt.loaderCalls).toBeGreaterThanOrEqual(withIt.expiries - 1);
      expect(withIt.loaderCalls).toBeLessThanOrEqual(withIt.expiries);
    }
  });

  it('jitter 0.1 cuts the peak misses per second by at least half; totals stay within 1%', async () => {
    const flat = await jitterReplay({ jitter: 0, keys: 2_000 });
    const spread = await jitterReplay({ jitter: 0.1, keys: 2_000 });
    expect(flat.peakMissesPerSecond).toBe(2_000);
    expect(spread.peakMissesPerSecond).toBeLessThanOrEqual(flat.peakMissesPerSecond / 2);
    expect(Math.abs(spread.totalMisses - flat.totalMisses)).toBeLessThanOrEqual(flat.totalMisses * 0.01);
  });
});
