import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import type { LoaderContext } from '../../../src/cache/types.js';
import { makeEntry } from '../../../src/entry/entry.js';
import { InvalidOptionError, LoaderTimeoutError } from '../../../src/errors.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

const NS = 'gos';
const K = `${NS}:k`;

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(storeCount = 0, extra: Partial<TieredCacheOptions> = {}) {
  const clock = new FakeClock();
  const stores = Array.from({ length: storeCount }, (_, i) => new ByteStore(`s${i + 1}`, clock));
  const errors: Error[] = [];
  const cache = new TieredCache<unknown>({
    namespace: NS,
    clock,
    random: () => 0,
    ttl: 100,
    stores,
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { clock, stores, cache, errors };
}

/** Lets pending promise callbacks run (no timers involved). */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

async function until(what: string, check: () => boolean): Promise<void> {
  await vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 2_000, interval: 1 },
  );
}

/** Whether a promise has settled, without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await drain();
  return done;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('single-flight', () => {
  it('1,000 concurrent misses of one key make one loader call', async () => {
    const { cache } = setup(1);
    const load = deferred<string>();
    const loader = vi.fn(() => load.promise);
    const calls = Array.from({ length: 1_000 }, () => cache.getOrSet('k', loader));
    await drain();
    load.resolve('v');
    expect(new Set(await Promise.all(calls))).toEqual(new Set(['v']));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(cache.stats().loader).toMatchObject({ ok: 1, coalesced: 999 });
  });

  it('property: any number of concurrent callers, any tiers, exactly one load per key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fc.boolean(),
        async (callers, storeCount, l1, sync) => {
          const { cache } = setup(storeCount, l1 ? {} : { l1: false });
          let loads = 0;
          const loader = () => {
            loads++;
            return sync ? 'v' : new Promise<string>((resolve) => setImmediate(() => resolve('v')));
          };
          const results = await Promise.all(
            Array.from({ length: callers }, () => cache.getOrSet('k', loader)),
          );
          expect(results.every((r) => r === 'v')).toBe(true);
          expect(loads).toBe(1);
          expect(cache.stats().loader.coalesced).toBe(callers - 1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('different keys load independently', async () => {
    const { cache } = setup();
    const loader = vi.fn(async ({ key }: { key: string }) => key.toUpperCase());
    expect(await Promise.all(['a', 'b', 'a'].map((k) => cache.getOrSet(k, loader)))).toEqual(['A', 'B', 'A']);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('a loader error reaches every waiter when no stale value exists (no failSafe)', async () => {
    const { cache } = setup(1);
    const boom = new Error('origin down');
    const load = deferred<string>();
    const calls = Array.from({ length: 5 }, () => cache.getOrSet('k', () => load.promise));
    await drain();
    load.reject(boom);
    for (const call of calls) await expect(call).rejects.toBe(boom);
    expect(cache.stats().loader.failed).toBe(1);
    // The failed load is forgotten: the next call tries again.
    expect(await cache.getOrSet('k', async () => 'ok')).toBe('ok');
  });

  it('a loader that throws synchronously rejects, never throws', async () => {
    const { cache } = setup();
    const p = cache.getOrSet('k', () => {
      throw new Error('sync');
    });
    await expect(p).rejects.toThrow('sync');
  });

  it('a fresh store hit is returned without calling the loader, and backfills L1', async () => {
    const { cache, stores, clock } = setup(1);
    stores[0]?.put(K, makeEntry('stored', clock.now(), 100, 0));
    const loader = vi.fn(async () => 'loaded');
    expect(await cache.getOrSet('k', loader)).toBe('stored');
    expect(loader).not.toHaveBeenCalled();
    expect(cache.getLocal('k')).toBe('stored');
  });

  it('an L1 hit returns without awaiting I/O', async () => {
    const { cache, stores } = setup(1);
    await cache.set('k', 'v');
    stores[0]?.calls.splice(0);
    let value: unknown;
    void cache
      .getOrSet('k', async () => 'x')
      .then((v) => {
        value = v;
      });
    await Promise.resolve();
    expect(value).toBe('v');
    expect(stores[0]?.calls).toEqual([]);
    expect(cache.stats().l1.hits).toBe(1);
  });
});

describe('loads are written to every tier', () => {
  it('with the TTL, jitter and grace of the call', async () => {
    const { cache, stores, clock } = setup(2, { random: () => 0.5 });
    const t0 = clock.now();
    await cache.getOrSet('k', async () => 'v', { ttl: 1_000, jitter: 0.2, grace: 50 });
    for (const store of stores) {
      expect(store.entry(K)).toMatchObject({
        value: 'v',
        createdAt: t0,
        staleAt: t0 + 900,
        expiresAt: t0 + 950,
      });
    }
  });
});

describe('grace (stale-while-revalidate)', () => {
  it('a stale value within grace is returned at once and refreshed once in the background', async () => {
    const { cache, clock, stores } = setup(1, { grace: 1_000 });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string>();
    const loader = vi.fn(() => load.promise);
    const results = await Promise.all(Array.from({ length: 5 }, () => cache.getOrSet('k', loader)));
    expect(results).toEqual(['old', 'old', 'old', 'old', 'old']);
    // The refresh starts after the store walk, in the background.
    await until('the refresh to start', () => loader.mock.calls.length > 0);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(cache.stats().l1.staleHits).toBe(5);
    expect(cache.stats().loader.coalesced).toBe(4);
    load.resolve('new');
    await until('the refresh to reach L1', () => cache.getLocal('k') === 'new');
    await until('the refresh to reach the store', () => stores[0]?.entry(K)?.value === 'new');
    expect(await cache.getOrSet('k', loader)).toBe('new');
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('a stale value in a store (L1 off) is served at once and refreshed', async () => {
    const { cache, clock, stores } = setup(1, { grace: 1_000, l1: false });
    stores[0]?.put(K, makeEntry('old', clock.now(), 100, 1_000));
    clock.advance(150);
    const loader = vi.fn(async () => 'new');
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await until('the refresh', () => stores[0]?.entry(K)?.value === 'new');
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('the loader sees the stale value', async () => {
    const { cache, clock } = setup(0, { grace: 1_000 });
    await cache.set('k', 'old');
    await cache.set('u', undefined);
    clock.advance(150);
    const seen: Array<[unknown, boolean]> = [];
    const loader = async (ctx: { staleValue: unknown; hasStale: boolean }) => {
      seen.push([ctx.staleValue, ctx.hasStale]);
      return 'new';
    };
    await cache.getOrSet('k', loader);
    await cache.getOrSet('u', loader);
    await cache.getOrSet('none', loader);
    await drain();
    expect(seen).toEqual([
      ['old', true],
      [undefined, true],
      [undefined, false],
    ]);
  });

  it('past grace the value is gone: callers wait for the loader', async () => {
    const { cache, clock } = setup(0, { grace: 100 });
    await cache.set('k', 'old');
    clock.advance(200);
    expect(await cache.getOrSet('k', async () => 'new')).toBe('new');
  });

  it('regression: close() waits for a background batch refresh (getOrSetMany)', async () => {
    const { cache, clock, stores, errors } = setup(1, { grace: 1_000 });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string[]>();
    expect(await cache.getOrSetMany(['k'], () => load.promise)).toEqual(['old']);
    const closing = cache.close();
    expect(await settled(closing)).toBe(false);
    load.resolve(['new']);
    await closing;
    expect(stores[0]?.entry(K)?.value).toBe('new');
    expect(errors).toEqual([]);
  });

  it('regression: close() waits for a background refresh before closing the stores', async () => {
    const { cache, clock, stores, errors } = setup(1, { grace: 1_000 });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string>();
    expect(await cache.getOrSet('k', () => load.promise)).toBe('old');
    const closing = cache.close();
    expect(await settled(closing)).toBe(false);
    load.resolve('new');
    await closing;
    expect(stores[0]?.entry(K)?.value).toBe('new');
    expect(errors).toEqual([]);
  });
});

describe('timeouts', () => {
  it('soft timeout: a caller with a stale value gets it after the soft timeout; the load still lands', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache, clock } = setup(0, { grace: 1_000, timeouts: { soft: 50 } });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string>();
    const p = cache.getOrSet('k', () => load.promise);
    await vi.advanceTimersByTimeAsync(49);
    expect(await settled(p)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBe('old');
    expect(cache.stats().l1.staleHits).toBe(1);
    load.resolve('new');
    await drain();
    expect(cache.getLocal('k')).toBe('new');
  });

  it('soft timeout: a load that finishes in time is returned instead of the stale value', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache, clock } = setup(0, { grace: 1_000 });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string>();
    const p = cache.getOrSet('k', () => load.promise, { timeouts: { soft: 50 } });
    await vi.advanceTimersByTimeAsync(20);
    load.resolve('new');
    expect(await p).toBe('new');
  });

  it('soft timeout does not apply without a stale value', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache } = setup(0, { timeouts: { soft: 50 } });
    const load = deferred<string>();
    const p = cache.getOrSet('k', () => load.promise);
    await vi.advanceTimersByTimeAsync(500);
    expect(await settled(p)).toBe(false);
    load.resolve('v');
    expect(await p).toBe('v');
  });

  it('hard timeout: callers reject with LoaderTimeoutError and the signal is aborted', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache } = setup(1);
    let signal: AbortSignal | undefined;
    const loader = ({ signal: s }: { signal: AbortSignal }) => {
      signal = s;
      return new Promise<string>(() => {});
    };
    const calls = [cache.getOrSet('k', loader, { timeouts: { hard: 100 } }), cache.getOrSet('k', loader)];
    const outcomes = calls.map((c) => c.catch((e: unknown) => e));
    await vi.advanceTimersByTimeAsync(99);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    for (const outcome of outcomes) {
      const error = await outcome;
      expect(error).toBeInstanceOf(LoaderTimeoutError);
      expect((error as LoaderTimeoutError).key).toBe('k');
      expect((error as LoaderTimeoutError).timeoutMs).toBe(100);
    }
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(LoaderTimeoutError);
    expect(cache.stats().loader).toMatchObject({ timeouts: 1, failed: 1 });
  });

  it('a signal first read after the hard timeout is already aborted; setters work detached', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache, clock } = setup(1);
    let context: LoaderContext<string> | undefined;
    const p = cache.getOrSet(
      'k',
      (ctx: LoaderContext<string>) => {
        context = ctx;
        return new Promise<string>(() => {});
      },
      { timeouts: { hard: 100 } },
    );
    const outcome = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await outcome).toBeInstanceOf(LoaderTimeoutError);
    expect(context?.signal.aborted).toBe(true);
    expect(context?.signal.reason).toBeInstanceOf(LoaderTimeoutError);
    // Setters read off the context (destructured) still act on their own load.
    await cache.getOrSet('t', ({ setTtl }: LoaderContext<string>) => {
      setTtl(5_000);
      return 'v';
    });
    clock.advance(4_999);
    expect(cache.getLocal('t')).toBe('v');
    clock.advance(1);
    expect(cache.getLocal('t')).toBeUndefined();
    await cache.getOrSet('n', ({ noCache }: LoaderContext<string>) => {
      noCache();
      return 'v';
    });
    expect(cache.getLocal('n')).toBeUndefined();
  });

  it('hard timeout with failSafe and a stale value serves the stale value', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache, clock } = setup(0, { grace: 1_000, failSafe: true, timeouts: { soft: 10, hard: 100 } });
    await cache.set('k', 'old');
    clock.advance(150);
    const p = cache.getOrSet('k', () => new Promise<string>(() => {}));
    await vi.advanceTimersByTimeAsync(100);
    expect(await p).toBe('old');
    expect(cache.stats().loader.failSafe).toBe(1);
  });
});

describe('fail-safe', () => {
  it('serves the stale value when the loader fails, counts it, and throttles retries', async () => {
    const { cache, clock, errors } = setup(0, { grace: 1_000, failSafe: { throttle: 50 } });
    await cache.set('k', 'old');
    clock.advance(150); // stale; expires at 1,100
    const loader = vi.fn(async () => {
      throw new Error('origin down');
    });
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(loader).toHaveBeenCalledTimes(1);
    expect(cache.stats().loader.failSafe).toBe(1);
    expect(errors.map((e) => e.message)).toContain('origin down');
    // Within the throttle window the loader is not called again.
    clock.advance(49);
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(loader).toHaveBeenCalledTimes(1);
    // After it, the loader is tried again (and fails again).
    clock.advance(1);
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(loader).toHaveBeenCalledTimes(2);
    expect(cache.stats().loader.failSafe).toBe(2);
  });

  it('waiters without a stale value of their own still get the fail-safe value', async () => {
    const { cache, clock } = setup(0, { grace: 1_000, failSafe: true, timeouts: { soft: 1_000 } });
    await cache.set('k', 'old');
    clock.advance(150);
    const load = deferred<string>();
    const calls = [cache.getOrSet('k', () => load.promise), cache.getOrSet('k', () => load.promise)];
    await drain();
    load.reject(new Error('down'));
    expect(await Promise.all(calls)).toEqual(['old', 'old']);
  });

  it('never serves a value past its expiresAt, even within the throttle window', async () => {
    const { cache, clock } = setup(0, { grace: 100, failSafe: { throttle: 10_000 } });
    await cache.set('k', 'old'); // stale at 100, expires at 200
    clock.advance(150);
    const failing = async () => {
      throw new Error('down');
    };
    expect(await cache.getOrSet('k', failing)).toBe('old');
    clock.advance(49);
    expect(await cache.getOrSet('k', failing)).toBe('old');
    clock.advance(1);
    await expect(cache.getOrSet('k', failing)).rejects.toThrow('down');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('regression: a fail-safe value is still stale: get, has, getMany and getLocal do not return it', async () => {
    const { cache, clock } = setup(0, { grace: 1_000, failSafe: { throttle: 50 } });
    await cache.set('k', 'old');
    clock.advance(150);
    const loader = vi.fn(async () => {
      throw new Error('down');
    });
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.has('k')).toBe(false);
    expect(await cache.getMany(['k'])).toEqual([undefined]);
    expect(cache.getLocal('k')).toBeUndefined();
    // getOrSet keeps serving it within the throttle window, without calling the loader.
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(loader).toHaveBeenCalledTimes(1);
    expect(cache.stats().l1.staleHits).toBe(2);
  });

  it('regression: the fail-safe throttle holds per key with L1 disabled', async () => {
    const { cache, clock, stores } = setup(1, { grace: 1_000, failSafe: { throttle: 50 }, l1: false });
    stores[0]?.put(K, makeEntry('old', clock.now(), 100, 1_000));
    clock.advance(150);
    const loader = vi.fn(async () => {
      throw new Error('down');
    });
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await until('the first load', () => loader.mock.calls.length === 1);
    await drain();
    clock.advance(49);
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await drain();
    expect(loader).toHaveBeenCalledTimes(1);
    clock.advance(1);
    expect(await cache.getOrSet('k', loader)).toBe('old');
    await until('the retry after the window', () => loader.mock.calls.length === 2);
  });

  it('a set or delete ends the fail-safe throttle of the key', async () => {
    const { cache, clock } = setup(0, { grace: 1_000, failSafe: { throttle: 10_000 } });
    await cache.set('k', 'old');
    clock.advance(150);
    const failing = async () => {
      throw new Error('down');
    };
    expect(await cache.getOrSet('k', failing)).toBe('old');
    await drain();
    await cache.set('k', 'newer', { ttl: 10 });
    clock.advance(10); // 'newer' is stale now; no throttle may keep the loader away
    const loader = vi.fn(async () => 'loaded');
    expect(await cache.getOrSet('k', loader)).toBe('newer');
    await drain();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('regression: a caller joining a load after the stale value expired is not served it', async () => {
    const { cache, clock } = setup(0, { grace: 100 });
    await cache.set('k', 'old'); // stale at 100, expires at 200
    clock.advance(150);
    const load = deferred<string>();
    expect(await cache.getOrSet('k', () => load.promise)).toBe('old');
    clock.advance(60); // the load is still running; the value is now past expiresAt
    const late = cache.getOrSet('k', () => load.promise);
    expect(await settled(late)).toBe(false);
    load.resolve('new');
    expect(await late).toBe('new');
  });

  it('regression: a soft-timeout waiter whose stale value expired while waiting gets the load', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { cache, clock } = setup(0, { grace: 100, timeouts: { soft: 50 } });
    await cache.set('k', 'old'); // stale at 100, expires at 200
    clock.advance(150);
    const load = deferred<string>();
    const p = cache.getOrSet('k', () => load.promise);
    clock.advance(60);
    await vi.advanceTimersByTimeAsync(50);
    expect(await settled(p)).toBe(false);
    load.resolve('new');
    expect(await p).toBe('new');
  });

  it('without failSafe, a loader error with a stale value reaches callers that wait (soft timeout)', async () => {
    const { cache, clock } = setup(0, { grace: 1_000, timeouts: { soft: 1_000 } });
    await cache.set('k', 'old');
    clock.advance(150);
    await expect(
      cache.getOrSet('k', async () => {
        throw new Error('down');
      }),
    ).rejects.toThrow('down');
    expect(cache.stats().loader.failSafe).toBe(0);
  });

  it('uses a stale value found in a store', async () => {
    const { cache, clock, stores } = setup(1, { grace: 1_000, failSafe: true, timeouts: { soft: 1_000 } });
    stores[0]?.put(K, makeEntry('stored-old', clock.now(), 100, 1_000));
    clock.advance(150);
    expect(
      await cache.getOrSet('k', async () => {
        throw new Error('down');
      }),
    ).toBe('stored-old');
  });
});

describe('loader context', () => {
  it('ctx.key is the key without namespace or view prefix', async () => {
    const { cache } = setup();
    const keys: string[] = [];
    await cache.namespace('v').getOrSet('k', async ({ key }) => {
      keys.push(key);
      return 1;
    });
    expect(keys).toEqual(['k']);
  });

  it('ctx.setTtl sets this entry’s TTL', async () => {
    const { cache, clock, stores } = setup(1);
    const t0 = clock.now();
    await cache.getOrSet('k', async (ctx) => {
      ctx.setTtl('5s');
      return 'v';
    });
    expect(stores[0]?.entry(K)?.staleAt).toBe(t0 + 5_000);
    clock.advance(4_999);
    expect(await cache.get('k')).toBe('v');
    clock.advance(1);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('ctx.setTtl with a bad duration fails the load with InvalidOptionError', async () => {
    const { cache } = setup();
    await expect(
      cache.getOrSet('k', async (ctx) => {
        ctx.setTtl(-1);
        return 'v';
      }),
    ).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('ctx.noCache returns the value without caching it', async () => {
    const { cache, stores } = setup(1);
    const loader = vi.fn(async (ctx: { noCache(): void }) => {
      ctx.noCache();
      return 'v';
    });
    expect(await cache.getOrSet('k', loader)).toBe('v');
    expect(await cache.getOrSet('k', loader)).toBe('v');
    expect(loader).toHaveBeenCalledTimes(2);
    expect(stores[0]?.data.has(K)).toBe(false);
    expect(await cache.has('k')).toBe(false);
  });
});

describe('negative caching', () => {
  it.each([null, undefined])('caches %s by default', async (empty) => {
    const { cache } = setup(1);
    const loader = vi.fn(async () => empty);
    expect(await cache.getOrSet('k', loader)).toBe(empty);
    expect(await cache.getOrSet('k', loader)).toBe(empty);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(await cache.has('k')).toBe(true);
  });

  it.each([null, undefined])('does not cache %s with negativeCaching: false', async (empty) => {
    const { cache, stores } = setup(1, { negativeCaching: false });
    const loader = vi.fn(async () => empty);
    expect(await cache.getOrSet('k', loader)).toBe(empty);
    expect(await cache.getOrSet('k', loader)).toBe(empty);
    expect(loader).toHaveBeenCalledTimes(2);
    expect(stores[0]?.data.has(K)).toBe(false);
    // Falsy values that are not empty are still cached.
    const zero = vi.fn(async () => 0);
    await cache.getOrSet('z', zero);
    await cache.getOrSet('z', zero);
    expect(zero).toHaveBeenCalledTimes(1);
  });
});

describe('maxConcurrentLoads', () => {
  it('never runs more than N loaders at once, and runs them all', async () => {
    const { cache } = setup(0, { maxConcurrentLoads: 2 });
    let running = 0;
    let peak = 0;
    const gates = new Map<string, ReturnType<typeof deferred<string>>>();
    const loader = async ({ key }: { key: string }) => {
      running++;
      peak = Math.max(peak, running);
      const gate = deferred<string>();
      gates.set(key, gate);
      try {
        return await gate.promise;
      } finally {
        running--;
      }
    };
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const calls = keys.map((k) => cache.getOrSet(k, loader));
    for (let step = 0; step < keys.length; step++) {
      await drain();
      expect(running).toBeLessThanOrEqual(2);
      const next = [...gates.entries()][0];
      if (next === undefined) throw new Error(`no loader started at step ${step}`);
      gates.delete(next[0]);
      next[1].resolve(next[0].toUpperCase());
    }
    expect(await Promise.all(calls)).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(peak).toBe(2);
  });
});

describe('getOrSetMany', () => {
  it('makes one batch loader call for all missing keys, and returns values in order', async () => {
    const { cache, stores, clock } = setup(1);
    await cache.set('cached', 'C');
    stores[0]?.put(`${NS}:stored`, makeEntry('S', clock.now(), 100, 0));
    const loader = vi.fn(async (keys: string[]) => keys.map((k) => k.toUpperCase()));
    expect(await cache.getOrSetMany(['a', 'cached', 'b', 'stored', 'a'], loader)).toEqual([
      'A',
      'C',
      'B',
      'S',
      'A',
    ]);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(loader.mock.calls[0]?.[0]).toEqual(['a', 'b']);
    expect(await cache.getMany(['a', 'b'])).toEqual(['A', 'B']);
    expect(stores[0]?.entry(`${NS}:a`)?.value).toBe('A');
  });

  it('accepts a Map result; a key left out loads as undefined', async () => {
    const { cache } = setup();
    const result = await cache.getOrSetMany(['a', 'b'], async () => new Map([['a', 1]]));
    expect(result).toEqual([1, undefined]);
    expect(await cache.has('b')).toBe(true);
  });

  it('a misaligned array is an InvalidOptionError for every caller, and nothing is cached', async () => {
    const { cache } = setup();
    const error = await cache.getOrSetMany(['a', 'b'], async () => [1]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe('batch loader result');
    expect((error as InvalidOptionError).message).toContain('2');
    expect(await cache.has('a')).toBe(false);
    await expect(cache.getOrSetMany(['a'], async () => 'nope' as never)).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
  });

  it('joins loads already in flight instead of loading those keys again', async () => {
    const { cache } = setup();
    const single = deferred<string>();
    const one = cache.getOrSet('a', () => single.promise);
    await drain();
    const batch = vi.fn(async (keys: string[]) => keys.map((k) => `batch-${k}`));
    const many = cache.getOrSetMany(['a', 'b'], batch);
    await drain();
    expect(batch.mock.calls.map((c) => c[0])).toEqual([['b']]);
    single.resolve('single-a');
    expect(await many).toEqual(['single-a', 'batch-b']);
    expect(await one).toBe('single-a');
    expect(cache.stats().loader.coalesced).toBe(1);
    // And a getOrSet joins a batch in flight.
    const gate = deferred<string[]>();
    const batch2 = cache.getOrSetMany(['x', 'y'], () => gate.promise);
    const joiner = vi.fn(async () => 'alone');
    const y = cache.getOrSet('y', joiner);
    gate.resolve(['X', 'Y']);
    expect(await batch2).toEqual(['X', 'Y']);
    expect(await y).toBe('Y');
    expect(joiner).not.toHaveBeenCalled();
  });

  it('with failSafe, keys with a stale value are served it when the batch fails; others reject', async () => {
    const { cache, clock } = setup(0, { grace: 1_000, failSafe: true, timeouts: { soft: 1_000 } });
    await cache.set('a', 'old-a');
    clock.advance(150);
    const failing = async () => {
      throw new Error('down');
    };
    expect(await cache.getOrSetMany(['a'], failing)).toEqual(['old-a']);
    await expect(cache.getOrSetMany(['a', 'b'], failing)).rejects.toThrow('down');
  });

  it.each([
    ['L1', {}],
    ['L1 disabled', { l1: false as const }],
  ])('regression: a batch fail-safe throttles per key like getOrSet (%s)', async (_name, extra) => {
    const { cache, clock, stores } = setup(1, { grace: 1_000, failSafe: { throttle: 50 }, ...extra });
    stores[0]?.put(K, makeEntry('old', clock.now(), 100, 1_000));
    clock.advance(150);
    const batch = vi.fn(async (): Promise<string[]> => {
      throw new Error('down');
    });
    const single = vi.fn(async () => 'single');
    expect(await cache.getOrSetMany(['k'], batch, { timeouts: { soft: 1_000 } })).toEqual(['old']);
    expect(batch).toHaveBeenCalledTimes(1);
    clock.advance(49);
    expect(await cache.getOrSetMany(['k'], batch)).toEqual(['old']);
    expect(await cache.getOrSet('k', single)).toBe('old');
    await drain();
    expect(batch).toHaveBeenCalledTimes(1);
    expect(single).not.toHaveBeenCalled();
    clock.advance(1);
    expect(await cache.getOrSetMany(['k'], batch, { timeouts: { soft: 1_000 } })).toEqual(['old']);
    expect(batch).toHaveBeenCalledTimes(2);
  });

  it('negativeCaching: false leaves empty results uncached', async () => {
    const { cache } = setup(0, { negativeCaching: false });
    await cache.getOrSetMany(['a', 'b'], async () => [null, 1]);
    expect(await cache.has('a')).toBe(false);
    expect(await cache.has('b')).toBe(true);
  });
});
