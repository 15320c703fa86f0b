import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { makeEntry } from '../../../src/entry/entry.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

// The stale-set race: a load (or a backfill) reads a value, then a set or delete of the key
// lands, then the read's result is written back. Whatever the interleaving, the newer
// write (or the delete) must win in every tier; callers of the load still get its value.

const NS = 'race';
const K = `${NS}:k`;

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setup(options: { stores?: number; l1?: false; chaos?: boolean } = {}) {
  const clock = new FakeClock();
  const bytes = Array.from({ length: options.stores ?? 0 }, (_, i) => new ByteStore(`s${i + 1}`, clock));
  const chaos = bytes.map((store) => new ChaosStore(store));
  const extra: Partial<TieredCacheOptions> = options.l1 === false ? { l1: false } : {};
  const cache = new TieredCache<string>({
    namespace: NS,
    clock,
    random: () => 0,
    ttl: 1_000,
    stores: options.chaos ? chaos : bytes,
    guard: { timeout: 5_000 },
    ...extra,
  });
  return { clock, bytes, chaos, cache };
}

/** Lets pending promise callbacks run (no timers involved). */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

describe.each([
  ['L1 only', { stores: 0 }],
  ['L1 + byte store', { stores: 1 }],
  ['byte store, L1 disabled', { stores: 1, l1: false as const }],
  ['L1 + two byte stores', { stores: 2 }],
])('a write during an in-flight load wins (%s)', (_name, shape) => {
  it('set while loading: callers get the load, the cache keeps the set', async () => {
    const { cache, bytes } = setup(shape);
    const load = deferred<string>();
    const pending = cache.getOrSet('k', () => load.promise);
    const joiner = cache.getOrSet('k', () => Promise.resolve('never'));
    await drain();
    await cache.set('k', 'newer');
    load.resolve('loaded-before-set');
    expect(await pending).toBe('loaded-before-set');
    expect(await joiner).toBe('loaded-before-set');
    await cache.close().catch(() => {});
    for (const store of bytes) expect(store.entry(K)?.value ?? 'newer').toBe('newer');
  });

  it('set while loading: later reads see the set', async () => {
    const { cache } = setup(shape);
    const load = deferred<string>();
    const pending = cache.getOrSet('k', () => load.promise);
    await drain();
    await cache.set('k', 'newer');
    load.resolve('old');
    await pending;
    expect(await cache.get('k')).toBe('newer');
    expect(await cache.getOrSet('k', async () => 'reload')).toBe('newer');
  });

  it('delete while loading: callers get the load, nothing is cached', async () => {
    const { cache, bytes } = setup(shape);
    const load = deferred<string>();
    const pending = cache.getOrSet('k', () => load.promise);
    await drain();
    await cache.delete('k');
    load.resolve('loaded-before-delete');
    expect(await pending).toBe('loaded-before-delete');
    expect(await cache.get('k')).toBeUndefined();
    for (const store of bytes) expect(holdsValue(store, K)).toBe(false);
  });

  it('clear while loading: nothing is cached', async () => {
    const { cache, bytes } = setup(shape);
    const load = deferred<string>();
    const pending = cache.getOrSet('k', () => load.promise);
    await drain();
    await cache.clear();
    load.resolve('loaded-before-clear');
    expect(await pending).toBe('loaded-before-clear');
    expect(await cache.get('k')).toBeUndefined();
    for (const store of bytes) expect(holdsValue(store, K)).toBe(false);
  });

  it('a call after the set starts a fresh load instead of joining the outdated one', async () => {
    const { cache } = setup({ ...shape, l1: false });
    const load = deferred<string>();
    const first = cache.getOrSet('k', () => load.promise);
    await drain();
    await cache.delete('k');
    const second = cache.getOrSet('k', async () => 'second');
    expect(await second).toBe('second');
    load.resolve('first');
    expect(await first).toBe('first');
  });

  it('getOrSetMany: a delete during the batch load keeps the key out of the cache', async () => {
    const { cache, bytes } = setup(shape);
    const load = deferred<string[]>();
    const pending = cache.getOrSetMany(['k', 'j'], () => load.promise);
    await drain();
    await cache.delete('k');
    load.resolve(['K', 'J']);
    expect(await pending).toEqual(['K', 'J']);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('j')).toBe('J');
    for (const store of bytes) expect(holdsValue(store, K)).toBe(false);
  });
});

/** Whether the store holds a value for `key` (a deletion's tombstone is no value). */
function holdsValue(
  store: { entry(key: string): { deleted?: true } | undefined } | undefined,
  key: string,
): boolean {
  const entry = store?.entry(key);
  return entry !== undefined && entry.deleted !== true;
}

describe('writes on the wire', () => {
  it('a delete that lands while the load’s store write is on the wire still wins', async () => {
    const { cache, bytes, chaos } = setup({ stores: 1, chaos: true });
    const gate = chaos[0]?.hold('setMany');
    const pending = cache.getOrSet('k', async () => 'loaded');
    await gate?.entered;
    // The load's write has left but not landed; the delete reaches the store first.
    await cache.delete('k');
    expect(holdsValue(bytes[0], K)).toBe(false);
    gate?.release();
    expect(await pending).toBe('loaded');
    expect(holdsValue(bytes[0], K)).toBe(false);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('a set that lands while the load’s store write is on the wire is not overwritten by it', async () => {
    const { cache, bytes, chaos } = setup({ stores: 1, chaos: true });
    const gate = chaos[0]?.hold('setMany');
    const pending = cache.getOrSet('k', async () => 'loaded');
    await gate?.entered;
    await cache.set('k', 'newer');
    gate?.release();
    expect(await pending).toBe('loaded');
    expect(bytes[0]?.entry(K)?.value ?? 'newer').toBe('newer');
    expect(await cache.get('k')).toBe('newer');
  });

  it('a set while a read of a lower store is in flight: the read returns its snapshot and writes nothing back', async () => {
    const { cache, bytes, chaos, clock } = setup({ stores: 2, chaos: true });
    const [b1, b2] = bytes as [ByteStore, ByteStore];
    b2.put(K, makeEntry('old', clock.now(), 1_000, 0));
    const gate = chaos[1]?.hold('get', 'after'); // the read lands now, its reply comes later
    const reading = cache.get('k');
    await gate?.entered;
    await cache.set('k', 'newer');
    gate?.release();
    expect(await reading).toBe('old');
    await cache.close();
    expect(b1.entry(K)?.value).toBe('newer');
    expect(b2.entry(K)?.value).toBe('newer');
  });

  it.each(['before', 'after'] as const)(
    'a delete while getOrSet walks the stores (read held %s landing): nothing old is written back',
    async (when) => {
      const { cache, bytes, chaos, clock } = setup({ stores: 2, chaos: true });
      const [b1, b2] = bytes as [ByteStore, ByteStore];
      b2.put(K, makeEntry('old', clock.now(), 1_000, 0));
      const gate = chaos[1]?.hold('get', when);
      const pending = cache.getOrSet('k', async () => 'loaded');
      await gate?.entered;
      await cache.delete('k');
      // 'before': the delete lands first, the walk finds nothing and loads. 'after': the walk
      // read 'old' before the delete; its callers get it, but it must not be cached.
      gate?.release();
      expect(await pending).toBe(when === 'before' ? 'loaded' : 'old');
      await cache.close();
      expect(b1.entry(K)?.value ?? 'loaded').toBe('loaded');
      expect(b2.entry(K)?.value ?? 'loaded').toBe('loaded');
    },
  );

  it('regression: a delete while a backfill write is on the wire does not resurrect the value', async () => {
    const { cache, bytes, chaos, clock } = setup({ stores: 2, chaos: true });
    const [b1, b2] = bytes as [ByteStore, ByteStore];
    b2.put(K, makeEntry('deep', clock.now(), 1_000, 0));
    const gate = chaos[0]?.hold('setMany');
    expect(await cache.get('k')).toBe('deep');
    await gate?.entered; // the backfill into s1 is on the wire
    await cache.delete('k');
    gate?.release();
    await cache.close(); // waits for the backfill
    expect(holdsValue(b1, K)).toBe(false);
    expect(holdsValue(b2, K)).toBe(false);
  });

  it('regression: a delete while a getOrSet backfill is on the wire does not resurrect the value', async () => {
    const { cache, bytes, chaos, clock } = setup({ stores: 2, chaos: true });
    const [b1, b2] = bytes as [ByteStore, ByteStore];
    b2.put(K, makeEntry('deep', clock.now(), 1_000, 0));
    const gate = chaos[0]?.hold('setMany');
    expect(await cache.getOrSet('k', async () => 'loader')).toBe('deep');
    await gate?.entered;
    await cache.delete('k');
    gate?.release();
    await cache.close();
    expect(holdsValue(b1, K)).toBe(false);
  });

  it('regression: a set while a getMany backfill is on the wire is not overwritten by the older value', async () => {
    const { cache, bytes, chaos, clock } = setup({ stores: 2, chaos: true });
    const [b1, b2] = bytes as [ByteStore, ByteStore];
    b2.put(K, makeEntry('old', clock.now(), 1_000, 0));
    const gate = chaos[0]?.hold('setMany');
    expect(await cache.getMany(['k'])).toEqual(['old']);
    await gate?.entered;
    await cache.set('k', 'newer');
    gate?.release();
    await cache.close();
    expect(b1.entry(K)?.value ?? 'newer').toBe('newer');
  });
});
