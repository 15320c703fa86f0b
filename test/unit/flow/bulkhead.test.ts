import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { BulkheadFullError, InvalidOptionError, LoaderTimeoutError } from '../../../src/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';

// The bulkhead behind maxConcurrentLoads: a bounded queue (maxQueuedLoads) and a hard
// timeout that counts the time a load waits for its slot.

const caches: TieredCache<unknown>[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close({ timeout: 0 })));
});

/** A loader that settles only when told. */
function gate() {
  let open!: (value: string) => void;
  const opened = new Promise<string>((resolve) => {
    open = resolve;
  });
  let calls = 0;
  return {
    loader: () => {
      calls++;
      return opened;
    },
    open: (value: string) => open(value),
    calls: () => calls,
  };
}

describe('bulkhead', () => {
  it('turns a load away with BulkheadFullError once maxQueuedLoads wait, and serves the rest in order', async () => {
    const cache = new TieredCache<unknown>({ namespace: 'bh', maxConcurrentLoads: 1, maxQueuedLoads: 1 });
    caches.push(cache);
    const running = gate();
    const queued = gate();
    const first = cache.getOrSet('a', running.loader);
    const second = cache.getOrSet('b', queued.loader);
    const third = cache.getOrSet('c', () => 'never');
    await expect(third).rejects.toBeInstanceOf(BulkheadFullError);
    await expect(third).rejects.toMatchObject({ key: 'c', code: 'E_BULKHEAD_FULL' });
    expect(queued.calls()).toBe(0);
    running.open('A');
    expect(await first).toBe('A');
    // The slot passed to the queued load.
    await new Promise((resolve) => setImmediate(resolve));
    expect(queued.calls()).toBe(1);
    queued.open('B');
    expect(await second).toBe('B');
  });

  it('serves a stale value with failSafe when the bulkhead turns the load away', async () => {
    const clock = new FakeClock(1_000_000);
    const cache = new TieredCache<unknown>({
      namespace: 'bh-fs',
      clock,
      maxConcurrentLoads: 1,
      maxQueuedLoads: 0,
    });
    caches.push(cache);
    await cache.set('s', 'stale', { ttl: 1_000, grace: '1h' });
    clock.advance(2_000);
    const running = gate();
    const busy = cache.getOrSet('busy', running.loader);
    expect(
      await cache.getOrSet('s', () => 'fresh', { failSafe: true, grace: '1h', timeouts: { soft: 0 } }),
    ).toBe('stale');
    running.open('x');
    await busy;
  });

  it("the hard timeout counts the time queued: a load stuck behind the slot's holder times out, and the slot is not lost", async () => {
    const cache = new TieredCache<unknown>({ namespace: 'bh-to', maxConcurrentLoads: 1 });
    caches.push(cache);
    const running = gate();
    const first = cache.getOrSet('a', running.loader);
    const queued = gate();
    const second = cache.getOrSet('b', queued.loader, { timeouts: { hard: 30 } });
    await expect(second).rejects.toBeInstanceOf(LoaderTimeoutError);
    expect(queued.calls()).toBe(0);
    expect(cache.stats().loader.timeouts).toBe(1);
    running.open('A');
    expect(await first).toBe('A');
    // The slot is free again: the next load runs at once.
    expect(await cache.getOrSet('c', () => 'C')).toBe('C');
  });

  it('maxQueuedLoads needs maxConcurrentLoads', () => {
    expect(() => new TieredCache({ namespace: 'x', maxQueuedLoads: 5 })).toThrow(InvalidOptionError);
    expect(() => new TieredCache({ namespace: 'x', maxQueuedLoads: 5 })).toThrow(/maxQueuedLoads/);
  });
});
