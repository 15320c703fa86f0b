/** The bench's percentile and timing helpers. */
import { describe, expect, it } from 'vitest';
import { compare, measure } from '../../bench/measure.js';
import { median, percentile } from '../../bench/stats.js';

describe('bench stats', () => {
  it('interpolates percentiles between order statistics', () => {
    const s = [1, 2, 3, 4, 5];
    expect(percentile(s, 0)).toBe(1);
    expect(percentile(s, 50)).toBe(3);
    expect(percentile(s, 100)).toBe(5);
    expect(percentile(s, 25)).toBe(2);
    expect(percentile([10, 20], 50)).toBe(15);
    expect(percentile([], 50)).toBeNaN();
    expect(median([5, 1, 3])).toBe(3);
  });

  it('compare() runs both sides the same number of rounds and finds a slower subject slower', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    let sink = 0;
    const spin = (n: number) => {
      for (let i = 0; i < n; i++) sink += i;
    };
    const plan = { rounds: 5, batchMs: 5, perOpCalls: 50, warmupMs: 2, warmupCalls: 10 };
    const result = await compare(
      { label: 'slow', mode: 'batch-sync', call: () => spin(2_000) },
      { label: 'fast', mode: 'batch-sync', call: () => spin(100) },
      keys,
      plan,
    );
    expect(result.ratios).toHaveLength(5);
    expect(result.subject.rounds).toHaveLength(5);
    expect(result.baseline.rounds).toHaveLength(5);
    expect(result.ratio).toBeGreaterThan(3);
    expect(sink).toBeGreaterThan(0);
  });

  it('measure() times awaited per-op calls', async () => {
    const figures = await measure(
      { label: 'timer', mode: 'perOp', call: () => new Promise((resolve) => setTimeout(resolve, 5)) },
      ['a'],
      { rounds: 2, batchMs: 1, perOpCalls: 5, warmupMs: 1, warmupCalls: 1 },
    );
    expect(figures.samples).toBe(10);
    // Node fires timers against a loop clock cached at the start of each turn, so a 5 ms
    // timer can fire up to ~1 ms early by hrtime - but never 4 ms early.
    expect(figures.p50).toBeGreaterThanOrEqual(4e6);
  });
});
