import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isExpired, isFresh, jitterTtl, makeEntry } from '../../../src/entry/entry.js';
import { versionAt } from '../../../src/entry/version.js';
import { InvalidOptionError } from '../../../src/errors.js';
import { MAX_DURATION_MS, parseDuration } from '../../../src/options/duration.js';

describe('jitterTtl', () => {
  it('stays in (ttl * (1 - jitter), ttl], an integer >= 1, for any ttl, jitter and random', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_DURATION_MS }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ttl, jitter, random) => {
          const out = jitterTtl(ttl, jitter, random);
          expect(Number.isInteger(out)).toBe(true);
          expect(out).toBeGreaterThanOrEqual(1);
          expect(out).toBeLessThanOrEqual(ttl);
          // The window is open at the bottom; it holds ttl itself even when jitter is so
          // small that ttl * (1 - jitter) rounds to ttl in floating point.
          if (out !== ttl) expect(out).toBeGreaterThan(ttl * (1 - jitter));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('does not round below the window (regression: ttl 10, jitter 0.58, random 0.9828 gave 4 < 4.2)', () => {
    const out = jitterTtl(10, 0.58, 0.9828);
    expect(out).toBeGreaterThan(10 * (1 - 0.58));
  });

  it('returns the ttl itself with no jitter or a zero random', () => {
    expect(jitterTtl(1234, 0, 0.99)).toBe(1234);
    expect(jitterTtl(1234, 0.5, 0)).toBe(1234);
  });

  it('spreads entries over the window instead of one instant', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) seen.add(jitterTtl(100_000, 0.1, i / 100));
    expect(seen.size).toBeGreaterThan(90);
    expect(Math.min(...seen)).toBeGreaterThan(90_000);
  });
});

describe('parseDuration', () => {
  it.each([
    [250, 250],
    [0.4, 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    [' 10 s ', 10_000],
  ] as const)('parses %j as %d ms', (input, ms) => {
    expect(parseDuration(input, 'ttl', true)).toBe(ms);
  });

  it.each([
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'abc',
    '5 minutes',
    '-5m',
    '',
    '5',
    null,
    true,
    {},
    MAX_DURATION_MS + 1,
    '30d',
  ])('rejects %j with InvalidOptionError naming the option and the value', (input) => {
    let error: unknown;
    try {
      parseDuration(input, 'grace');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    const e = error as InvalidOptionError;
    expect(e.option).toBe('grace');
    expect(e.received).toBe(input);
    expect(e.message).toContain('grace');
    const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
    if (typeof input !== 'object' || input === null) expect(e.message).toContain(shown);
  });

  it('rejects 0 unless allowZero', () => {
    expect(() => parseDuration(0, 'ttl')).toThrow(InvalidOptionError);
    // Under 1 ms rounds to nothing: a TTL that made entries never fresh.
    for (const tiny of [0.4, 0.5, 0.99, '0.3ms']) {
      expect(() => parseDuration(tiny, 'ttl')).toThrow(/ttl.*>= 1 ms/);
    }
    expect(parseDuration(1, 'ttl')).toBe(1);
    expect(parseDuration(0, 'grace', true)).toBe(0);
    expect(parseDuration('0s', 'grace', true)).toBe(0);
  });

  it('is integer for any positive finite number of ms within bounds', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: MAX_DURATION_MS, noNaN: true }), (ms) => {
        const out = parseDuration(ms, 'x', true);
        expect(Number.isInteger(out)).toBe(true);
        expect(Math.abs(out - ms)).toBeLessThanOrEqual(0.5);
      }),
    );
  });
});

describe('makeEntry', () => {
  it('is fresh before staleAt, stale within grace, expired at expiresAt', () => {
    const e = makeEntry('v', 1_000, 100, 50, ['a']);
    expect(e).toEqual({
      value: 'v',
      version: versionAt(1_000),
      createdAt: 1_000,
      staleAt: 1_100,
      expiresAt: 1_150,
      tags: ['a'],
    });
    expect(isFresh(e, 1_099)).toBe(true);
    expect(isFresh(e, 1_100)).toBe(false);
    expect(isExpired(e, 1_149)).toBe(false);
    expect(isExpired(e, 1_150)).toBe(true);
    expect('tags' in makeEntry('v', 0, 1, 0, [])).toBe(false);
  });
});
