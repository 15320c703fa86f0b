import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import type { Entry } from '../../../src/entry/entry.js';
import { ZERO_VERSION } from '../../../src/entry/version.js';
import { InvalidOptionError } from '../../../src/errors.js';
import { LruMap } from '../../../src/l1/lru-map.js';
import { MemoryTier } from '../../../src/l1/memory-tier.js';
import { WTinyLfuStore } from '../../../src/l1/w-tinylfu.js';
import { FakeClock } from '../../../src/testing/index.js';

function entry(value: unknown, expiresAt = Number.POSITIVE_INFINITY): Entry {
  return { value, version: ZERO_VERSION, createdAt: 0, staleAt: expiresAt, expiresAt };
}

function tier(admission: boolean, max = 3, clock = new FakeClock(0), blindMaxAge = 1_000) {
  let evictions = 0;
  const t = new MemoryTier(
    admission ? { max, admission: 'w-tinylfu', blindMaxAge } : { max, blindMaxAge },
    () => evictions++,
    clock,
  );
  return { t, evictions: () => evictions };
}

describe('MemoryTier without admission', () => {
  it('is a plain LRU: the least recently used entry is evicted and counted', () => {
    const { t, evictions } = tier(false);
    expect(t.map).toBeInstanceOf(LruMap);
    expect(t.policy).toBeUndefined();
    for (const key of ['a', 'b', 'c']) t.set(key, entry(key));
    t.get('a');
    t.set('d', entry('d'));
    expect(t.get('b')).toBeUndefined();
    expect([...(t.map?.keys() ?? [])].sort()).toEqual(['a', 'c', 'd']);
    expect(evictions()).toBe(1);
  });

  it('takes any max: memory grows with the entries held (lru-cache preallocated max slots and threw past ~2^32)', async () => {
    const cache = new TieredCache({ namespace: 'huge-l1', l1: { max: 1e12 } });
    await cache.set('a', 1);
    expect(cache.getLocal('a')).toBe(1);
    await cache.close();
  });
});

describe.each([
  ['without admission', false],
  ['with W-TinyLFU admission', true],
])('MemoryTier %s', (_name, admission) => {
  it('reads, peeks with expiry, deletes, and undoes only its own write', () => {
    const { t } = tier(admission, 10);
    const a = entry('a', 100);
    t.set('a', a);
    expect(t.get('a')).toBe(a);
    expect(t.peek('a', 50)).toBe(a);
    expect(t.peek('a', 100)).toBeUndefined();
    expect(t.get('a')).toBeUndefined();
    const b = entry('b');
    t.set('b', b);
    t.deleteIfHolding('b', entry('other'));
    expect(t.get('b')).toBe(b);
    t.deleteIfHolding('b', b);
    expect(t.get('b')).toBeUndefined();
  });

  it('deletes by prefix and clears everything', () => {
    const { t } = tier(admission, 10);
    for (const key of ['u:1', 'u:2', 'p:1']) t.set(key, entry(key));
    t.deletePrefix('u:');
    expect(t.get('u:1')).toBeUndefined();
    expect(t.get('u:2')).toBeUndefined();
    expect(t.get('p:1')?.value).toBe('p:1');
    t.deletePrefix('');
    expect(t.get('p:1')).toBeUndefined();
    expect(t.policy?.audit()).toBeUndefined();
    expect(t.policy?.size ?? t.map?.size).toBe(0);
  });

  it('blind: serves an entry as fresh for at most blindMaxAge after it was last known current, then a stale view of it', () => {
    const clock = new FakeClock(10_000);
    const { t } = tier(admission, 10, clock, 1_000);
    const old = entry('old');
    t.set('old', old);
    // The link was last known good at 9,500: what L1 held then is current until 10,500.
    t.blind(9_500);
    expect(t.blindSince).toBe(9_500);
    expect(t.get('old')?.staleAt).toBe(10_500);
    expect(t.get('old')?.value).toBe('old');
    // Put while blind: current from the moment it was put.
    clock.advance(300);
    const fresh = entry('fresh');
    t.set('fresh', fresh);
    expect(t.get('fresh')?.staleAt).toBe(11_300);
    expect(t.peek('fresh', clock.now())?.staleAt).toBe(11_300);
    // An entry already stale earlier keeps its own bound; expiry is never moved.
    const short = entry('short', 10_400);
    t.set('short', short);
    expect(t.get('short')).toBe(short);
    // Its grace (none here) runs from the blind bound, never past its own expiry.
    expect(t.get('old')?.expiresAt).toBe(10_500);
    const graced = { ...entry('graced', 20_000), staleAt: 19_000 };
    t.set('graced', graced);
    expect(t.get('graced')).toMatchObject({ staleAt: 11_300, expiresAt: 12_300 });
    // A second down edge never moves the moment later.
    t.blind(10_200);
    expect(t.blindSince).toBe(9_500);
    // Back: entries are themselves again (the cache drops L1 on the link's return).
    t.blind(undefined);
    expect(t.blindSince).toBeUndefined();
    expect(t.get('old')).toBe(old);
    expect(t.get('fresh')).toBe(fresh);
  });

  it('blind with blindMaxAge 0: nothing is fresh, everything still there for grace and fail-safe', () => {
    const clock = new FakeClock(5_000);
    const { t } = tier(admission, 10, clock, 0);
    t.set('a', entry('a'));
    t.blind(5_000);
    t.set('b', entry('b'));
    expect(t.get('a')?.staleAt).toBe(5_000);
    expect(t.get('b')?.staleAt).toBe(5_000);
    t.delete('a');
    expect(t.get('a')).toBeUndefined();
  });

  it('never holds more than max, and counts every entry evicted or turned away', () => {
    const { t, evictions } = tier(admission, 5);
    for (let i = 0; i < 100; i++) t.set(`k${i}`, entry(i));
    const held = Array.from({ length: 100 }, (_, i) => t.get(`k${i}`)).filter((e) => e !== undefined);
    expect(held.length).toBe(5);
    expect(evictions()).toBe(95);
  });
});

describe('MemoryTier with admission', () => {
  it('puts the entries behind the W-TinyLFU policy and reports its shape', () => {
    const { t } = tier(true, 10_000);
    expect(t.map).toBeUndefined();
    expect(t.policy).toBeInstanceOf(WTinyLfuStore);
    const shape = t.policy!.shape();
    expect(shape.windowMax).toBe(100);
    expect(shape.protectedMax).toBe(7_920);
    expect(shape.sketchBytes).toBe(131_072);
  });

  it('bounds by size too (lru-cache enforces maxSize; the policy forgets what it evicts)', () => {
    let evictions = 0;
    const t = new MemoryTier(
      {
        max: 100,
        maxSize: 10,
        sizeCalculation: (value) => value as number,
        admission: 'w-tinylfu',
        blindMaxAge: 1_000,
      },
      () => evictions++,
      new FakeClock(0),
    );
    for (let i = 0; i < 20; i++) t.set(`k${i}`, entry(3));
    t.set('huge', entry(11));
    expect(t.get('huge')).toBeUndefined();
    expect(t.policy!.size).toBeLessThanOrEqual(3);
    expect(t.policy!.audit()).toBeUndefined();
    expect(evictions).toBeGreaterThanOrEqual(17);
  });
});

describe.each([
  ['without admission', false],
  ['with W-TinyLFU admission', 'w-tinylfu'],
] as const)('l1.sizeCalculation %s', (_name, admission) => {
  it.each([[-1], [0], [Number.NaN], [1.5], ['3']])(
    'returning %j: the write is refused with InvalidOptionError naming the option and the key',
    async (size) => {
      const cache = new TieredCache({
        namespace: 'sized',
        l1: { max: 10, maxSize: 10, sizeCalculation: () => size as number, admission },
      });
      const write = cache.set('user:1', { name: 'a' });
      await expect(write).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(write).rejects.toMatchObject({ option: 'l1.sizeCalculation', received: size });
      await expect(write).rejects.toThrow('"user:1"');
      expect(cache.getLocal('user:1')).toBeUndefined();
      await cache.close();
    },
  );
});

describe('l1.admission option', () => {
  const construct = (admission: unknown) => () =>
    new TieredCache({ namespace: 'adm', l1: { max: 10, admission } as never });

  it.each([['w-tinylfu'], [false], [undefined]])('accepts %j', (admission) => {
    expect(construct(admission)).not.toThrow();
  });

  it.each([['lru'], ['W-TinyLFU'], [true], [1], [null]])(
    'rejects %j with InvalidOptionError naming l1.admission',
    (admission) => {
      let error: unknown;
      try {
        construct(admission)();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe('l1.admission');
      expect((error as InvalidOptionError).received).toBe(admission);
      expect((error as InvalidOptionError).message).toContain('l1.admission');
    },
  );
});
