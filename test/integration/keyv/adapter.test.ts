// KeyvTiercache over real L1 + Redis + Postgres: what goes into the cache is Keyv's value
// through the cache's codec (no JSON inside), Keyv's TTL in ms, and entries written through
// Keyv keep the cache's grace and single-flight for `getOrSet`.
import { Keyv } from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheClosedError, InvalidOptionError, type TieredCache } from '../../../src/index.js';
import { createKeyv, KeyvTiercache } from '../../../src/keyv/index.js';
import { waitFor } from '../../support/wait.js';
import { realTiers, type Tiers } from './tiers.js';

let tiers: Tiers;
let cache: TieredCache;
/** A second instance over the same tiers, L1 off: what it reads came from Redis or Postgres. */
let other: TieredCache;

beforeAll(async () => {
  tiers = await realTiers('keyvadapter');
  cache = tiers.cache({ grace: '1h' });
  other = tiers.cache({ l1: false, grace: '1h' });
});
afterAll(() => tiers?.cleanup());

describe('KeyvTiercache', () => {
  it('createKeyv: Keyv values go through the cache codec, readable by the cache under the same key', async () => {
    const keyv = createKeyv(cache, { closeOnDisconnect: false });
    const value = { id: 1, at: new Date(1_700_000_000_000), tags: new Set(['a']), big: 2n ** 70n };
    expect(await keyv.set('user:1', value, 60_000)).toBe(true);
    expect(await keyv.get('user:1')).toEqual(value);
    // From Redis, decoded by msgpackr: a Date, a Set and a BigInt survive, so no JSON was on the way.
    const shared = (await other.get('user:1')) as typeof value;
    expect(shared).toEqual(value);
    expect(shared.at).toBeInstanceOf(Date);
  });

  it("a Keyv with its default serializer: the JSON is unwrapped, the cache holds Keyv's value", async () => {
    const keyv = new Keyv({
      store: new KeyvTiercache(cache, { closeOnDisconnect: false }),
      namespace: 'json',
    });
    await keyv.set('k', { a: 1, buf: Buffer.from('hi') });
    expect(await other.get('json:k')).toEqual({ a: 1, buf: Buffer.from('hi') });
    expect(await keyv.get('k')).toEqual({ a: 1, buf: Buffer.from('hi') });
  });

  it("a custom serializer's strings are kept as they come; a value shaped like that marker is escaped", async () => {
    const store = new KeyvTiercache(cache, { closeOnDisconnect: false });
    const custom = new Keyv({
      store,
      namespace: 'custom',
      serialize: (data) => `custom:${JSON.stringify(data)}`,
      deserialize: (text) => JSON.parse(text.slice('custom:'.length)),
    });
    await custom.set('k', { n: 1 });
    expect(await custom.get('k')).toEqual({ n: 1 });
    const raw = createKeyv(cache, { closeOnDisconnect: false, namespace: 'escape' });
    const tricky = { __keyvSerialized: 'not a string from a serializer' };
    await raw.set('k', tricky);
    expect(await raw.get('k')).toEqual(tricky);
  });

  it('maps the TTL in ms; an expired Keyv entry is still served by getOrSet within the grace, refreshed once', async () => {
    const keyv = createKeyv<{ eur: number }>(cache as TieredCache<{ eur: number }>, {
      closeOnDisconnect: false,
    });
    await keyv.set('rates', { eur: 1 }, 50);
    expect(await keyv.get('rates')).toEqual({ eur: 1 });
    await waitFor('the 50 ms TTL to pass', async () => (await keyv.get('rates')) === undefined, 1_000, 5);
    expect(await keyv.has('rates')).toBe(false);
    let loads = 0;
    // The 20 callers join one flight: they call in the same turn, before the loader runs.
    const loader = async () => {
      loads++;
      return { eur: 2 };
    };
    const served = await Promise.all(Array.from({ length: 20 }, () => cache.getOrSet('rates', loader)));
    expect(served).toEqual(Array.from({ length: 20 }, () => ({ eur: 1 })));
    await waitFor('the background refresh to reach Keyv', async () => (await keyv.get('rates'))?.eur === 2);
    expect(loads).toBe(1);
  });

  it('single-flight: concurrent getOrSet for a key Keyv deleted load once, and Keyv reads the result', async () => {
    const keyv = createKeyv(cache, { closeOnDisconnect: false });
    await keyv.set('product:7', { price: 1 });
    expect(await keyv.delete('product:7')).toBe(true);
    expect(await keyv.delete('product:7')).toBe(false);
    let loads = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        // The 50 callers join one flight: they call in the same turn, before the loader runs.
        cache.getOrSet('product:7', async () => {
          loads++;
          return { price: 2 };
        }),
      ),
    );
    expect(loads).toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r)))).toEqual(new Set(['{"price":2}']));
    expect(await keyv.get('product:7')).toEqual({ price: 2 });
  });

  it('getMany, setMany, deleteMany, has and a namespace-only clear', async () => {
    const a = createKeyv(cache, { closeOnDisconnect: false, namespace: 'a' });
    const b = createKeyv(cache, { closeOnDisconnect: false, namespace: 'b' });
    await a.setMany([
      { key: 'x', value: 1 },
      { key: 'y', value: null, ttl: 60_000 },
    ]);
    await b.set('x', 'b');
    expect(await a.get(['x', 'y', 'z'])).toEqual([1, null, undefined]);
    expect(await a.has('y')).toBe(true);
    expect(await a.has(['x', 'z'])).toEqual([true, false]);
    await a.clear();
    expect(await a.get(['x', 'y'])).toEqual([undefined, undefined]);
    expect(await b.get('x')).toBe('b');
    expect(await b.delete(['x', 'nope'])).toBe(true);
    expect(await b.delete(['x', 'nope'])).toBe(false);
  });

  it('disconnect closes the cache unless closeOnDisconnect is false', async () => {
    const own = tiers.cache();
    await createKeyv(own, { closeOnDisconnect: false }).disconnect();
    await own.set('k', 1);
    await createKeyv(own).disconnect();
    await expect(own.get('k')).rejects.toBeInstanceOf(CacheClosedError);
  });

  it('validates its arguments, naming the option', () => {
    expect(() => new KeyvTiercache({} as TieredCache)).toThrow(InvalidOptionError);
    expect(() => new KeyvTiercache(cache, { closeOnDisconect: true } as never)).toThrow(/closeOnDisconect/);
    expect(() => new KeyvTiercache(cache, { closeOnDisconnect: 'yes' } as never)).toThrow(
      /closeOnDisconnect/,
    );
    expect(() => createKeyv(cache, { ttl: -1 })).toThrow(/`ttl`/);
    expect(() => createKeyv(cache, { namespace: '' })).toThrow(/`namespace`/);
  });
});
