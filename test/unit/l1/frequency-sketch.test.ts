import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrequencySketch, hashKey, MAX_COUNT } from '../../../src/l1/frequency-sketch.js';

const SEED = 0x5eed;
const keyArb = fc.string({ minLength: 1, maxLength: 12 });

describe('hashKey', () => {
  it('is a 30-bit non-negative integer (a V8 small integer), the same for the same key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (key) => {
        const h = hashKey(key);
        expect(Number.isInteger(h)).toBe(true);
        expect(h).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThan(2 ** 30);
        expect(hashKey(key)).toBe(h);
      }),
      { seed: SEED },
    );
  });

  it('spreads near-identical keys', () => {
    const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => hashKey(`user:${i}`)));
    expect(hashes.size).toBe(10_000);
  });
});

describe('FrequencySketch', () => {
  it('never under-counts between halvings (up to the 4-bit cap)', () => {
    fc.assert(
      fc.property(
        fc.array(keyArb, { minLength: 1, maxLength: 400 }),
        fc.integer({ min: 1, max: 64 }),
        (keys, max) => {
          // A sample far larger than the sequence: no halving happens.
          const sketch = new FrequencySketch(max, 1_000_000);
          const truth = new Map<string, number>();
          for (const key of keys) {
            sketch.increment(hashKey(key));
            truth.set(key, (truth.get(key) ?? 0) + 1);
          }
          for (const [key, count] of truth) {
            expect(sketch.frequency(hashKey(key))).toBeGreaterThanOrEqual(Math.min(count, MAX_COUNT));
          }
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('saturates at 15 (4-bit counters)', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 15, max: 100 }), (key, times) => {
        const sketch = new FrequencySketch(16, 1_000_000);
        const h = hashKey(key);
        for (let i = 0; i < times; i++) sketch.increment(h);
        expect(sketch.frequency(h)).toBe(MAX_COUNT);
      }),
      { seed: SEED },
    );
  });

  it('counts exactly when keys do not collide (a large table, few keys)', () => {
    const sketch = new FrequencySketch(1 << 16, 1_000_000);
    for (let i = 0; i < 10; i++) for (let j = 0; j <= i; j++) sketch.increment(hashKey(`k${i}`));
    for (let i = 0; i < 10; i++) expect(sketch.frequency(hashKey(`k${i}`))).toBe(i + 1);
    expect(sketch.frequency(hashKey('never'))).toBe(0);
  });

  it('halves every counter (rounding down) when the sample is full', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArb, fc.integer({ min: 0, max: 20 })), { minLength: 1, maxLength: 20 }),
        (plan) => {
          const sketch = new FrequencySketch(1 << 12, 1_000_000);
          for (const [key, times] of plan) for (let i = 0; i < times; i++) sketch.increment(hashKey(key));
          const before = plan.map(([key]) => sketch.frequency(hashKey(key)));
          sketch.halve();
          plan.forEach(([key], i) => {
            expect(sketch.frequency(hashKey(key))).toBe(Math.floor((before[i] as number) / 2));
          });
        },
      ),
      { seed: SEED },
    );
  });

  it('halves on its own after sampleSize counted increments (10 × max by default)', () => {
    const sketch = new FrequencySketch(8);
    expect(sketch.sampleSize).toBe(80);
    const hot = hashKey('hot');
    for (let i = 0; i < 12; i++) sketch.increment(hot);
    expect(sketch.frequency(hot)).toBe(12);
    // Distinct keys fill the sample; the halving comes with the 80th counted increment.
    let previous = sketch.additions;
    for (let i = 0; ; i++) {
      sketch.increment(hashKey(`cold${i}`));
      if (sketch.additions < previous) break;
      previous = sketch.additions;
    }
    expect(previous).toBe(79);
    expect(sketch.frequency(hot)).toBeGreaterThanOrEqual(6);
    expect(sketch.frequency(hot)).toBeLessThan(12);
  });

  it('sizes its table at 8 bytes per entry (rounded to a power of two), at least 32 bytes', () => {
    expect(new FrequencySketch(1).bytes).toBe(32);
    expect(new FrequencySketch(10_000).bytes).toBe(8 * 16_384);
    expect(new FrequencySketch(1_000_000).bytes).toBe(8 * 1_048_576);
  });
});
