/**
 * Refresh-ahead (XFetch) on the fake clock: options validated, the refresh runs before
 * the value goes stale, and, between two instances on the real Redis that both hold a
 * value they loaded, one refresh per key (the lease applies).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../../src/errors.js';
import { TieredCache } from '../../../src/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { FakeClock } from '../../../src/testing/index.js';
import { redisUrlForTests } from '../../support/services.js';
import { leaseTestRig, unlinkPrefix } from './support.js';

const url = await redisUrlForTests();
const rig = leaseTestRig(url);

afterAll(() => rig.cleanup());

/** A loader that takes `ms` of fake time (it moves the clock) and counts its calls. */
function timedLoader(clock: FakeClock, ms: number, label: string) {
  const loader = {
    calls: 0,
    load: async () => {
      loader.calls++;
      clock.advance(ms);
      return `${label}${loader.calls}`;
    },
  };
  return loader;
}

describe('refreshAhead', () => {
  it('is validated at construction and per call', async () => {
    const cases: Array<[unknown, string]> = [
      [{ beta: 0 }, 'refreshAhead.beta'],
      [{ beta: Number.NaN }, 'refreshAhead.beta'],
      [{ bta: 1 }, 'refreshAhead.bta'],
      ['yes', 'refreshAhead'],
    ];
    for (const [refreshAhead, option] of cases) {
      expect(() => new TieredCache({ namespace: 'ra-options', refreshAhead } as never)).toThrow(
        expect.objectContaining({ option }),
      );
    }
    const cache = rig.keep(new TieredCache({ namespace: 'ra-options', refreshAhead: { beta: 2 } }));
    await expect(
      cache.getOrSet('k', () => 1, { refreshAhead: { beta: -1 } } as never),
    ).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('refreshes a value read near its expiry in the background, before it goes stale', async () => {
    const clock = new FakeClock();
    // U close to 1: -ln(1 - U) is about 13.8, so the refresh comes 13.8 load times early.
    const cache = rig.keep(
      new TieredCache<unknown>({
        namespace: 'ra-one',
        clock,
        random: () => 0.999999,
        ttl: 10_000,
        jitter: 0,
      }),
    );
    const loader = timedLoader(clock, 50, 'v');
    expect(await cache.getOrSet('k', loader.load, { refreshAhead: true })).toBe('v1');
    // Stale 10,000 ms after the load ended; the window is 50 × 13.8 = 690 ms.
    clock.advance(10_000 - 800); // 800 ms left, outside the window: no refresh
    expect(await cache.getOrSet('k', loader.load, { refreshAhead: true })).toBe('v1');
    expect(loader.calls).toBe(1);
    clock.advance(200); // 600 ms left, inside it: answered at once, refreshed behind
    expect(await cache.getOrSet('k', loader.load, { refreshAhead: true })).toBe('v1');
    await expect.poll(() => loader.calls).toBe(2);
    await expect.poll(() => cache.getLocal('k')).toBe('v2');
  });

  it('two instances holding values they loaded, read near expiry: one refresh between them', async () => {
    const ns = rig.namespace('ra-two');
    const clock = new FakeClock(Date.now());
    // No bus: each keeps its own L1 copy, so both would refresh without the lease.
    const make = () =>
      new TieredCache<unknown>({
        namespace: ns,
        stores: [redisStore({ url })],
        guard: { timeout: '1s' },
        clock,
        random: () => 0.999999,
        ttl: 10_000,
        jitter: 0,
        refreshAhead: true,
      });
    const a = rig.keep(make());
    const b = rig.keep(make());
    const loadA = timedLoader(clock, 50, 'a');
    const loadB = timedLoader(clock, 50, 'b');
    expect(await a.getOrSet('k', loadA.load)).toBe('a1');
    // Gone from Redis (evicted, say): B loads it too, and keeps its own window.
    await unlinkPrefix(rig.admin, `${ns}:k`);
    expect(await b.getOrSet('k', loadB.load)).toBe('b1');
    clock.advance(10_000 - 50 * 10);
    // Both inside their windows: each read triggers its instance's refresh.
    await Promise.all([a.getOrSet('k', loadA.load), b.getOrSet('k', loadB.load)]);
    await Promise.all([a.close(), b.close()]); // waits for the refreshes
    expect(loadA.calls + loadB.calls).toBe(3);
  });
});
