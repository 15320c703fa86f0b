import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { makeEntry } from '../../../src/entry/entry.js';
import { InvalidKeyError } from '../../../src/errors.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

const NS = 'walk';

function setup(storeCount: number, extra: Partial<TieredCacheOptions> = {}) {
  const clock = new FakeClock();
  const stores = Array.from({ length: storeCount }, (_, i) => new ByteStore(`s${i + 1}`, clock));
  const cache = new TieredCache<unknown>({
    namespace: NS,
    clock,
    random: () => 0,
    jitter: 0,
    ttl: 1_000,
    stores,
    ...extra,
  });
  return { clock, stores, cache };
}

/** Waits (bounded) for background backfills to reach a store. */
async function until(what: string, check: () => boolean): Promise<void> {
  await vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 2_000, interval: 1 },
  );
}

describe.each([
  ['L1 only', 0, {}],
  ['L1 + one store', 1, {}],
  ['L1 + two stores', 2, {}],
  ['one store, L1 disabled', 1, { l1: false as const }],
  ['two stores, L1 disabled', 2, { l1: false as const }],
])('cache-aside with %s', (_name, storeCount, extra) => {
  it('set/get/has/delete round-trip', async () => {
    const { cache } = setup(storeCount, extra);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.has('a')).toBe(false);
    await cache.set('a', { n: 1 });
    expect(await cache.get('a')).toEqual({ n: 1 });
    expect(await cache.has('a')).toBe(true);
    await cache.set('u', undefined);
    expect(await cache.has('u')).toBe(true);
    await cache.delete('a');
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.has('a')).toBe(false);
  });

  it('getMany/setMany/deleteMany keep order and handle misses', async () => {
    const { cache } = setup(storeCount, extra);
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2, options: { ttl: 5_000 } },
    ]);
    expect(await cache.getMany(['b', 'x', 'a', 'b'])).toEqual([2, undefined, 1, 2]);
    await cache.deleteMany(['a', 'x']);
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, 2]);
  });

  it('entries are fresh before ttl and gone after; stale values are not returned by get', async () => {
    const { cache, clock } = setup(storeCount, { ...extra, grace: 500 });
    await cache.set('a', 'v');
    clock.advance(999);
    expect(await cache.get('a')).toBe('v');
    clock.advance(1);
    // Stale (within grace): neither get, has nor getMany return it.
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.has('a')).toBe(false);
    expect(await cache.getMany(['a'])).toEqual([undefined]);
    clock.advance(500);
    expect(await cache.get('a')).toBeUndefined();
  });

  it('clear() drops every key of the namespace', async () => {
    const { cache } = setup(storeCount, extra);
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    await cache.clear();
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, undefined]);
  });

  it('namespace views prefix keys and clear only their own', async () => {
    const { cache, stores } = setup(storeCount, extra);
    const users = cache.namespace('users');
    const posts = cache.namespace('posts');
    await cache.set('a', 'root');
    await users.set('a', 'user');
    await posts.set('a', 'post');
    expect(await users.get('a')).toBe('user');
    expect(await cache.get('users:a')).toBe('user');
    for (const store of stores) expect(store.entry(`${NS}:users:a`)?.value).toBe('user');
    await users.clear();
    expect(await users.get('a')).toBeUndefined();
    expect(await cache.get('a')).toBe('root');
    expect(await posts.get('a')).toBe('post');
    for (const store of stores) {
      expect(store.data.has(`${NS}:users:a`)).toBe(false);
      expect(store.data.has(`${NS}:posts:a`)).toBe(true);
    }
    expect(users.namespace('x')).toBeInstanceOf(TieredCache);
    await users.namespace('x').set('k', 1);
    expect(await cache.get('users:x:k')).toBe(1);
  });
});

describe('tier walk and backfill', () => {
  it('reads stores in order and stops at the first fresh hit', async () => {
    const { cache, stores, clock } = setup(2);
    const [s1, s2] = stores as [ByteStore, ByteStore];
    s1.put(`${NS}:k`, makeEntry('from-s1', clock.now(), 1_000, 0));
    s2.put(`${NS}:k`, makeEntry('from-s2', clock.now(), 1_000, 0));
    expect(await cache.get('k')).toBe('from-s1');
    expect(s1.callsOf('get')).toHaveLength(1);
    expect(s2.callsOf('get')).toHaveLength(0);
  });

  it('a hit in the lower store backfills L1 and the upper store with the remaining life', async () => {
    const { cache, stores, clock } = setup(2);
    const [s1, s2] = stores as [ByteStore, ByteStore];
    const original = makeEntry('deep', clock.now(), 1_000, 200);
    s2.put(`${NS}:k`, original);
    clock.advance(600);
    expect(await cache.get('k')).toBe('deep');
    expect(s1.callsOf('get').map((c) => c.keys)).toEqual([[`${NS}:k`]]);
    await until('the backfill of s1', () => s1.data.has(`${NS}:k`));
    const write = s1.callsOf('setMany')[0]?.writes?.[0];
    expect(write?.expiresAt).toBe(original.expiresAt);
    expect(s1.entry(`${NS}:k`)).toEqual(original);
    // L1 got the same entry: it goes stale at the original staleAt, not 1,000 ms from now.
    expect(cache.getLocal('k')).toBe('deep');
    clock.advance(399);
    expect(cache.getLocal('k')).toBe('deep');
    clock.advance(1);
    expect(cache.getLocal('k')).toBeUndefined();
    // s2 is not written back to.
    expect(s2.callsOf('setMany')).toHaveLength(0);
  });

  it('property: backfill never extends a life, in any tier', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.boolean(),
        async (ttl, grace, elapsed, many) => {
          const { cache, stores, clock } = setup(2, { ttl: 50, grace: 10 });
          const [s1, s2] = stores as [ByteStore, ByteStore];
          const original = makeEntry('v', clock.now(), ttl, grace);
          s2.put(`${NS}:k`, original);
          clock.advance(elapsed);
          const got = many ? (await cache.getMany(['k']))[0] : await cache.get('k');
          const fresh = elapsed < ttl;
          expect(got).toBe(fresh ? 'v' : undefined);
          await cache.close(); // waits for background backfills
          for (const write of s1.callsOf('setMany').flatMap((c) => c.writes ?? [])) {
            expect(write.expiresAt).toBeLessThanOrEqual(original.expiresAt);
          }
          const upper = s1.entry(`${NS}:k`);
          if (fresh) expect(upper).toEqual(original);
          else expect(upper).toBeUndefined();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('property: get returns the first fresh entry in store order, and getOrSet falls back to the newest stale one', async () => {
    const state = fc.constantFrom('absent', 'fresh', 'stale', 'expired');
    await fc.assert(
      fc.asyncProperty(fc.array(state, { minLength: 1, maxLength: 3 }), fc.boolean(), async (states, l1) => {
        const { cache, stores, clock } = setup(states.length, {
          ...(l1 ? {} : { l1: false as const }),
          grace: 1_000,
          timeouts: { soft: 1_000 },
          failSafe: true,
        });
        const t0 = clock.now();
        // Each store's entry is made at a different time, so "newest" is well defined.
        states.forEach((st, i) => {
          const created = t0 - 10_000 + i * 10;
          const ttl = st === 'fresh' ? 20_000 : 5_000;
          const grace = st === 'expired' ? 0 : 20_000;
          if (st !== 'absent') stores[i]?.put(`${NS}:k`, makeEntry(`v${i}`, created, ttl, grace));
        });
        const firstFresh = states.indexOf('fresh');
        const expected = firstFresh === -1 ? undefined : `v${firstFresh}`;
        expect(await cache.get('k')).toBe(expected);
        const staleIdx = states.map((st, i) => (st === 'stale' ? i : -1)).filter((i) => i >= 0);
        const newestStale = staleIdx.length > 0 ? `v${Math.max(...staleIdx)}` : undefined;
        const got = await cache
          .getOrSet('k', async () => {
            throw new Error('down');
          })
          .catch(() => 'rejected');
        expect(got).toBe(expected ?? newestStale ?? 'rejected');
        await cache.close();
      }),
      { numRuns: 150 },
    );
  });

  it('a stale or expired entry in an upper store is skipped for a fresh one below', async () => {
    const { cache, stores, clock } = setup(2);
    const [s1, s2] = stores as [ByteStore, ByteStore];
    s1.put(`${NS}:k`, makeEntry('old', clock.now(), 10, 10_000));
    clock.advance(20);
    s2.put(`${NS}:k`, makeEntry('new', clock.now(), 1_000, 0));
    expect(await cache.get('k')).toBe('new');
    await until('the backfill of s1', () => s1.entry(`${NS}:k`)?.value === 'new');
  });

  it('a store that holds bytes past expiresAt is read as a miss and never served', async () => {
    const { cache, stores, clock } = setup(1, { l1: false });
    const [s1] = stores as [ByteStore];
    const entry = makeEntry('gone', clock.now(), 10, 5);
    // A store that has not dropped the key yet (say, a lazy sweeper): the envelope still says expired.
    s1.put(`${NS}:k`, entry);
    (s1.data.get(`${NS}:k`) as { expiresAt: number }).expiresAt = Number.POSITIVE_INFINITY;
    clock.advance(15);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getOrSet('k', async () => 'reloaded')).toBe('reloaded');
    expect(cache.stats().stores.s1?.misses).toBeGreaterThanOrEqual(2);
  });

  it('getMany asks each store once for the keys still missing, in order', async () => {
    const { cache, stores, clock } = setup(2);
    const [s1, s2] = stores as [ByteStore, ByteStore];
    await cache.set('l1', 'L1');
    s1.put(`${NS}:a`, makeEntry('A1', clock.now(), 1_000, 0));
    s2.put(`${NS}:b`, makeEntry('B2', clock.now(), 1_000, 0));
    s1.calls.length = 0;
    s2.calls.length = 0;
    expect(await cache.getMany(['a', 'l1', 'b', 'c'])).toEqual(['A1', 'L1', 'B2', undefined]);
    expect(s1.callsOf('getMany').map((c) => c.keys)).toEqual([[`${NS}:a`, `${NS}:b`, `${NS}:c`]]);
    expect(s2.callsOf('getMany').map((c) => c.keys)).toEqual([[`${NS}:b`, `${NS}:c`]]);
    await until('the backfill of b into s1', () => s1.entry(`${NS}:b`)?.value === 'B2');
    expect(cache.getLocal('a')).toBe('A1');
    expect(cache.getLocal('b')).toBe('B2');
  });

  it('writes go to every store with the entry expiry; deletes and clears too', async () => {
    const calls = (store: ByteStore) => store.callsOf('setMany')[0]?.writes ?? [];
    const { cache, stores, clock } = setup(2, { grace: 300 });
    await cache.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2, options: { ttl: 50 } },
    ]);
    for (const store of stores) {
      const calls = store.callsOf('setMany');
      expect(calls).toHaveLength(1);
      expect(calls[0]?.writes?.map((w) => [w.key, w.expiresAt])).toEqual([
        [`${NS}:a`, clock.now() + 1_300],
        [`${NS}:b`, clock.now() + 350],
      ]);
    }
    await cache.deleteMany(['a', 'b']);
    // A delete is a versioned tombstone write, newer than the values it deletes.
    for (const store of stores) {
      const deletes = store.callsOf('setMany')[1]?.writes ?? [];
      expect(deletes.map((w) => w.key)).toEqual([`${NS}:a`, `${NS}:b`]);
      for (const key of ['a', 'b']) expect(store.entry(`${NS}:${key}`)?.deleted).toBe(true);
      expect((deletes[0]?.version ?? '') > (calls(store)[0]?.version ?? '')).toBe(true);
    }
    await cache.clear();
    for (const store of stores) expect(store.callsOf('clear').map((c) => c.keys)).toEqual([[`${NS}:`]]);
  });

  it('clear() of one namespace leaves another namespace in the same store', async () => {
    const clock = new FakeClock();
    const shared = new ByteStore('shared', clock);
    const a = new TieredCache({ namespace: 'a', clock, stores: [shared] });
    const ab = new TieredCache({ namespace: 'ab', clock, stores: [shared] });
    await a.set('k', 1);
    await ab.set('k', 2);
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(await ab.get('k')).toBe(2);
  });

  it('bytes that do not decode are a miss, counted as a codec error', async () => {
    const errors: Error[] = [];
    const { cache, stores } = setup(1, { onError: (e) => errors.push(e) });
    (stores[0] as ByteStore).data.set(`${NS}:bad`, { value: new Uint8Array([1, 2, 3]), expiresAt: Infinity });
    expect(await cache.get('bad')).toBeUndefined();
    expect(cache.stats().stores.s1?.codecErrors).toBe(1);
    expect(errors.map((e) => e.name)).toContain('CodecError');
  });
});

describe('L1', () => {
  it('drops an expired entry when read, so it does not take a slot', async () => {
    const { cache, clock } = setup(0, { l1: { max: 1 } });
    await cache.set('a', 1, { ttl: 10 });
    clock.advance(10);
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('b', 2);
    // Had the expired `a` been kept, writing `b` would have evicted it.
    expect(cache.stats().l1.evictions).toBe(0);
    await cache.set('c', 3);
    expect(cache.stats().l1.evictions).toBe(1);
  });

  it('getLocal reads only L1, synchronously, and only fresh values', async () => {
    const { cache, stores, clock } = setup(1, { grace: 100 });
    (stores[0] as ByteStore).put(`${NS}:s`, makeEntry('store-only', clock.now(), 1_000, 0));
    expect(cache.getLocal('s')).toBeUndefined();
    await cache.set('a', 'x');
    expect(cache.getLocal('a')).toBe('x');
    clock.advance(1_000);
    expect(cache.getLocal('a')).toBeUndefined();
    const view = cache.namespace('v');
    await view.set('a', 'vx');
    expect(view.getLocal('a')).toBe('vx');
    expect(cache.getLocal('v:a')).toBe('vx');
  });

  it('l1.max bounds the entries and counts evictions', async () => {
    const { cache } = setup(0, { l1: { max: 2 } });
    await cache.setMany([1, 2, 3, 4].map((n) => ({ key: `k${n}`, value: n })));
    expect(cache.stats().l1.evictions).toBe(2);
    expect(await cache.getMany(['k1', 'k2', 'k3', 'k4'])).toEqual([undefined, undefined, 3, 4]);
  });

  it('l1.maxSize with sizeCalculation bounds total size', async () => {
    const { cache } = setup(0, {
      l1: { max: 100, maxSize: 10, sizeCalculation: (v) => (v as string).length },
    });
    await cache.set('a', 'xxxxxx');
    await cache.set('b', 'yyyyyy');
    expect(cache.getLocal('a')).toBeUndefined();
    expect(cache.getLocal('b')).toBe('yyyyyy');
  });
});

describe('stats', () => {
  it('counts hits, misses, sets, deletes and the hit ratio; resetStats zeroes them', async () => {
    const { cache, stores, clock } = setup(1);
    await cache.set('a', 1);
    await cache.get('a'); // L1 hit
    await cache.get('zz'); // L1 miss, store miss
    (stores[0] as ByteStore).put(`${NS}:b`, makeEntry(2, clock.now(), 1_000, 0));
    await cache.get('b'); // L1 miss, store hit
    await cache.delete('a');
    const s = cache.stats();
    expect(s.l1).toMatchObject({ hits: 1, misses: 2, sets: 1, deletes: 1, hitRatio: 1 / 3 });
    expect(s.stores.s1).toMatchObject({ hits: 1, misses: 1, sets: 1, deletes: 1, hitRatio: 0.5 });
    // Lookups: a (L1), zz (nobody), b (store): 2 of 3 answered.
    expect(s.hitRatio).toBeCloseTo(2 / 3);
    cache.resetStats();
    const z = cache.stats();
    expect(z.l1).toMatchObject({ hits: 0, misses: 0, sets: 0, deletes: 0, evictions: 0, hitRatio: 0 });
    expect(z.stores.s1).toMatchObject({ hits: 0, misses: 0, sets: 0, deletes: 0 });
    expect(z.loader).toEqual({ ok: 0, failed: 0, timeouts: 0, timeMs: 0, coalesced: 0, failSafe: 0 });
    expect(z.hitRatio).toBe(0);
  });

  it('a snapshot does not change after the fact', async () => {
    const { cache } = setup(0);
    const before = cache.stats();
    await cache.set('a', 1);
    await cache.get('a');
    expect(before.l1.hits).toBe(0);
    expect(Object.isFrozen(before)).toBe(true);
  });
});

describe('wrap', () => {
  it('caches results by the key of the arguments, with the options given', async () => {
    const { cache, clock } = setup(1);
    const fn = vi.fn(async (id: number, suffix: string) => `user-${id}${suffix}`);
    const find = cache.wrap(fn, { key: (id, suffix) => `user:${id}:${suffix}`, ttl: 100 });
    expect(await find(1, '!')).toBe('user-1!');
    expect(await find(1, '!')).toBe('user-1!');
    expect(await find(2, '!')).toBe('user-2!');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(await cache.get('user:1:!')).toBe('user-1!');
    clock.advance(100);
    expect(await find(1, '!')).toBe('user-1!');
    expect(fn).toHaveBeenCalledTimes(3);
  });
});

describe('wrap errors', () => {
  it('a key function returning a bad key rejects with InvalidKeyError', async () => {
    const { cache } = setup(0);
    const fn = cache.wrap(async () => 1, { key: () => '' });
    await expect(fn()).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('regression: a key function that throws makes the call reject, not throw', async () => {
    const { cache } = setup(0);
    const fn = cache.wrap(async (id: number) => id, {
      key: (id) => {
        if (id < 0) throw new RangeError(`bad id ${id}`);
        return `id:${id}`;
      },
    });
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = fn(-1);
    }).not.toThrow();
    await expect(result).rejects.toThrow('bad id -1');
    expect(await fn(2)).toBe(2);
  });
});

describe('close', () => {
  it('closes every store and empties L1', async () => {
    const { cache, stores } = setup(2);
    await cache.set('a', 1);
    await cache.close();
    for (const store of stores) expect(store.closed).toBe(true);
    expect(cache.getLocal('a')).toBeUndefined();
  });
});
