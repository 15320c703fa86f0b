import { describe, expect, it } from 'vitest';
import { CacheClosedError, type StoreTier, TieredCache } from '../../../src/index.js';
import { MemoryBus } from '../../../src/testing/memory-bus.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

describe('close() with a loader that never settles', () => {
  it('does not hang: past the timeout the load rejects with CacheClosedError and its signal fires', async () => {
    const cache = new TieredCache<number>({ namespace: 'close-hang' });
    let signal: AbortSignal | undefined;
    const pending = cache.getOrSet('k', (ctx) => {
      signal = ctx.signal;
      return new Promise<number>(() => {});
    });
    await Promise.resolve();
    await cache.close({ timeout: 20 });
    await expect(pending).rejects.toBeInstanceOf(CacheClosedError);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(CacheClosedError);
  });

  it('rejects a load queued behind the bulkhead when the cache closes', async () => {
    const cache = new TieredCache<number>({ namespace: 'close-queued', maxConcurrentLoads: 1 });
    const first = cache.getOrSet('a', () => new Promise<number>(() => {}));
    const queued = cache.getOrSet('b', () => 2);
    await Promise.resolve();
    await cache.close({ timeout: 0 });
    await expect(first).rejects.toBeInstanceOf(CacheClosedError);
    await expect(queued).rejects.toBeInstanceOf(CacheClosedError);
  });
});

describe('empty batches', () => {
  it('setMany([]) and deleteMany([]) write nothing and publish nothing', async () => {
    const published: unknown[] = [];
    const cache = new TieredCache<number>({
      namespace: 'empty-batches',
      bus: {
        name: 'recording',
        start: async () => {},
        publish: async (message) => {
          published.push(message);
        },
        health: () => ({ status: 'up' }),
        close: async () => {},
      },
    });
    await cache.setMany([]);
    await cache.deleteMany([]);
    expect(published).toEqual([]);
    expect(cache.stats().l1.sets).toBe(0);
    await cache.close();
  });

  it('set() on a closed cache names set(), not setMany()', async () => {
    const cache = new TieredCache<number>({ namespace: 'closed-name' });
    await cache.close();
    await expect(cache.set('k', 1)).rejects.toThrow('set()');
    await expect(cache.delete('k')).rejects.toThrow('delete()');
  });

  it('close() rejects a bad timeout naming it', async () => {
    const cache = new TieredCache<number>({ namespace: 'close-timeout' });
    await expect(cache.close({ timeout: -1 })).rejects.toThrow('close(options.timeout)');
    await cache.close();
  });
});

describe('many loads in flight', () => {
  it('print no MaxListenersExceededWarning (each listens for the close)', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const cache = new TieredCache<number>({ namespace: 'listeners' });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const loads = Array.from({ length: 50 }, (_, i) =>
        cache.getOrSet(`k${i}`, async () => {
          await gate;
          return i;
        }),
      );
      release();
      expect(await Promise.all(loads)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      await cache.close();
      // Node emits process warnings on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('health after close', () => {
  it('says closed, not degraded', async () => {
    const cache = new TieredCache<number>({ namespace: 'health-closed' });
    expect(cache.health().status).toBe('up');
    await cache.close();
    expect(cache.health().status).toBe('closed');
  });
});

describe('close() is bounded and shared', () => {
  it('resolves within its timeout when a store never finishes closing, and reports it', async () => {
    const errors: Error[] = [];
    const inner = new MemoryStore('hung');
    const hung: StoreTier = Object.assign(Object.create(inner), {
      name: 'hung',
      close: () => new Promise<void>(() => {}),
    });
    const cache = new TieredCache<number>({
      namespace: 'close-hung',
      stores: [hung],
      onError: (e) => errors.push(e),
    });
    const started = performance.now();
    const first = cache.close({ timeout: 300 });
    const second = cache.close({ timeout: 300 });
    // Both calls wait for the same close: the second does not resolve while the first waits.
    let secondDone = false;
    second.then(() => {
      secondDone = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(secondDone).toBe(false);
    await Promise.all([first, second]);
    // Bounded by the timeout, not by the store (a generous margin for a busy machine).
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/did not close within 300 ms/);
  });
});

describe('ready()', () => {
  it('rejects when the bus cannot subscribe, instead of resolving as if it had', async () => {
    const errors: Error[] = [];
    const failing = new MemoryBus();
    failing.start = () => Promise.reject(new Error('bus "memory" could not subscribe: link down'));
    const cache = new TieredCache<number>({
      namespace: 'ready-fails',
      bus: failing,
      onError: (e) => errors.push(e),
    });
    await expect(cache.ready()).rejects.toThrow(/could not subscribe/);
    expect(errors.map((e) => e.message)).toContain('bus "memory" could not subscribe: link down');
    // The cache still answers (without invalidations from other instances).
    expect(await cache.getOrSet('k', () => 1)).toBe(1);
    await cache.close();
  });
});
