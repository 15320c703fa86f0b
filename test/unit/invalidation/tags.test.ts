import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { Invalidator, InvalidOptionError } from '../../../src/index.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryBusHub } from '../../../src/testing/memory-bus.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';
import { waitFor } from '../../support/wait.js';

// Tags as generations, expire(), and the Invalidator, over in-memory stores and bus.

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((c) => c.close()));
});

function setup() {
  const clock = new FakeClock();
  const l2 = new MemoryStore('l2', clock);
  const l3 = new MemoryStore('l3', clock);
  const hub = new MemoryBusHub();
  const make = (grace = 0) => {
    const cache = new TieredCache<unknown>({
      namespace: 'tg',
      clock,
      stores: [l2, l3],
      bus: hub.bus(),
      ttl: 60_000,
      grace,
      jitter: 0,
    });
    closing.push(cache);
    return cache;
  };
  const invalidator = () => {
    const inv = new Invalidator({ namespace: 'tg', clock, stores: [l2, l3], bus: hub.bus() });
    closing.push(inv);
    return inv;
  };
  return { clock, l2, l3, make, invalidator };
}

describe('deleteByTag', () => {
  it('every entry written with the tag before the call is a miss in every tier and instance; others stay', async () => {
    const { clock, l2, make } = setup();
    const a = make();
    const b = make();
    await Promise.all([a.ready(), b.ready()]);
    await a.set('p:1', 'one', { tags: ['products'] });
    await a.set('p:2', 'two', { tags: ['products', 'featured'] });
    await a.set('u:1', 'user');
    expect(await b.getMany(['p:1', 'p:2', 'u:1'])).toEqual(['one', 'two', 'user']);
    expect(b.getLocal('p:1')).toBe('one');
    clock.advance(1);
    const getManyBefore = l2.calls.filter((c) => c.op === 'getMany' || c.op === 'get').length;
    await a.deleteByTag('products');
    await waitFor("B's L1 to drop p:1", () => b.getLocal('p:1') === undefined);
    expect(b.getLocal('p:2')).toBeUndefined();
    expect(b.getLocal('u:1')).toBe('user');
    // Still physically in the stores: hidden by the generation, not deleted.
    expect(l2.entry('tg:p:1')?.value).toBe('one');
    const fresh = make();
    for (const cache of [a, b, fresh]) {
      expect(await cache.get('p:1')).toBeUndefined();
      expect(await cache.get('p:2')).toBeUndefined();
      expect(await cache.get('u:1')).toBe('user');
    }
    // A reload after the call is served.
    let loads = 0;
    expect(
      await b.getOrSet(
        'p:1',
        () => {
          loads++;
          return 'one again';
        },
        { tags: ['products'] },
      ),
    ).toBe('one again');
    expect(await a.get('p:1')).toBe('one again');
    expect(loads).toBe(1);
    // No scan: the stores saw reads of keys only (each a get or getMany of named keys).
    expect(l2.calls.filter((c) => c.op === 'clear')).toHaveLength(0);
    expect(l2.calls.filter((c) => c.op === 'getMany' || c.op === 'get').length).toBeGreaterThan(
      getManyBefore,
    );
  });

  it('a load that started before deleteByTag does not land a tagged value after it', async () => {
    const { clock, make } = setup();
    const a = make();
    const b = make();
    await Promise.all([a.ready(), b.ready()]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = a.getOrSet('k', async (ctx) => {
      await gate;
      ctx.setTags(['t']);
      return 'old';
    });
    await new Promise((r) => setImmediate(r));
    clock.advance(1);
    await b.deleteByTag('t');
    release();
    expect(await slow).toBe('old');
    for (const cache of [a, b, make()]) expect(await cache.get('k')).toBeUndefined();
  });

  it('the loader context sets tags from the loaded value', async () => {
    const { clock, make } = setup();
    const a = make();
    await a.getOrSet('order:1', (ctx) => {
      ctx.setTags(['customer:7']);
      return { customer: 7 };
    });
    await a.getOrSet('order:2', (ctx) => {
      ctx.setTags('customer:8');
      return { customer: 8 };
    });
    clock.advance(1);
    await a.deleteByTag(['customer:7']);
    expect(await a.get('order:1')).toBeUndefined();
    expect(await a.get('order:2')).toEqual({ customer: 8 });
    await expect(a.getOrSet('x', (ctx) => ctx.setTags([''] as string[]))).rejects.toThrow(InvalidOptionError);
    await expect(a.deleteByTag(42 as unknown as string)).rejects.toThrow(InvalidOptionError);
  });

  it('an L2 hit of a tagged entry asks the stores for its tag once, then never again', async () => {
    const { l2, l3, make } = setup();
    const writer = make();
    await writer.set('k1', 'v1', { tags: ['t'] });
    await writer.set('k2', 'v2', { tags: ['t'] });
    const reader = make();
    await reader.ready();
    await reader.get('k1');
    const tagReads = () =>
      [...l2.calls, ...l3.calls].filter((c) => c.keys.some((key) => key.includes('#tag:'))).length;
    expect(tagReads()).toBe(2); // one getMany per store, the first time
    await reader.get('k2');
    expect(tagReads()).toBe(2);
  });
});

describe('expire', () => {
  it('marks a value stale everywhere without removing it: grace serves it while one refresh runs', async () => {
    const { clock, l2, make } = setup();
    const a = make(60_000);
    const b = make(60_000);
    await Promise.all([a.ready(), b.ready()]);
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    clock.advance(1);
    await a.expire('k');
    expect(l2.entry('tg:k')?.value).toBe('v1');
    expect(l2.entry('tg:k')?.staleAt).toBe(clock.now());
    await waitFor("B's L1 to drop its fresh copy", () => b.getLocal('k') === undefined);
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const loader = async () => {
      loads++;
      await gate;
      return 'v2';
    };
    // Stale-while-revalidate: both instances answer with the stale value at once.
    expect(await b.getOrSet('k', loader)).toBe('v1');
    expect(await b.getOrSet('k', loader)).toBe('v1');
    expect(await a.getOrSet('k', loader)).toBe('v1');
    release();
    await waitFor('the refreshes to land', async () => (await b.get('k')) === 'v2');
    expect(loads).toBeLessThanOrEqual(2); // one refresh per instance at most
    expect(await b.get('k')).toBe('v2');
  });

  it('a write made after the entry wins over expire whatever order they land in', async () => {
    const clock = new FakeClock();
    const memory = new MemoryStore('l2', clock);
    const l2 = new ChaosStore(memory);
    const a = new TieredCache<unknown>({ namespace: 'tg', clock, stores: [l2], ttl: 60_000, grace: 60_000 });
    closing.push(a);
    await a.set('k', 'v1');
    clock.advance(1);
    // A set of v2 took its version and is on the wire when another process expires the
    // key: that process reads v1 and rewrites it stale after v2 has landed.
    const gate = l2.hold('setMany');
    const setting = a.set('k', 'v2');
    await gate.entered;
    const other = new Invalidator({ namespace: 'tg', clock, stores: [l2] });
    closing.push(other);
    clock.advance(1);
    const expiring = other.expire('k');
    await waitFor('the expire to read v1', () =>
      memory.calls.some((c) => c.op === 'get' && c.keys[0] === 'tg:k'),
    );
    gate.release();
    await setting;
    await expiring;
    expect(memory.entry('tg:k')?.value).toBe('v2');
    expect(memory.entry('tg:k')?.staleAt).toBeGreaterThan(clock.now());
  });
});

describe('Invalidator', () => {
  it('delete, deleteByTag and clear reach every tier and every instance', async () => {
    const { clock, l2, l3, make, invalidator } = setup();
    const a = make();
    const inv = invalidator();
    await Promise.all([a.ready(), inv.ready()]);
    await a.setMany([
      { key: 'k1', value: 1 },
      { key: 'k2', value: 2, options: { tags: ['t'] } },
      { key: 'k3', value: 3 },
    ]);
    clock.advance(1);
    await inv.delete('k1');
    await waitFor("A's L1 to drop k1", () => a.getLocal('k1') === undefined);
    expect(l2.entry('tg:k1')?.deleted).toBe(true);
    expect(l3.entry('tg:k1')?.deleted).toBe(true);
    await inv.deleteByTag(['t']);
    await waitFor("A's L1 to drop k2", () => a.getLocal('k2') === undefined);
    expect(await a.get('k2')).toBeUndefined();
    expect(await a.get('k3')).toBe(3);
    await inv.clear();
    await waitFor("A's L1 to drop k3", () => a.getLocal('k3') === undefined);
    expect(await a.get('k3')).toBeUndefined();
  });

  it('validates its options', () => {
    expect(() => new Invalidator({ namespace: 'x', l1: { max: 1 } } as never)).toThrow(/Unknown option `l1`/);
    expect(() => new Invalidator({} as never)).toThrow(InvalidOptionError);
  });
});
