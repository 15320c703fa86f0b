// cache-manager 7 with tiercache as its store (createKeyv), over real L1 + Redis + Postgres:
// wrap, get and del work; what cache-manager writes is an ordinary tiercache entry, so two
// instances share it, a del reaches the other instance's L1 over the bus, and getOrSet
// serves it with the cache's grace and single-flight.
import { createCache } from 'cache-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TieredCache } from '../../../src/index.js';
import { createKeyv } from '../../../src/keyv/index.js';
import { waitFor } from '../../support/wait.js';
import { realTiers, type Tiers } from './tiers.js';

let tiers: Tiers;
let a: TieredCache;
let b: TieredCache;

beforeAll(async () => {
  tiers = await realTiers('cachemanager');
  a = tiers.cache({ grace: '1h' });
  b = tiers.cache({ grace: '1h' });
  await Promise.all([a.ready(), b.ready()]);
});
afterAll(() => tiers?.cleanup());

interface User {
  id: number;
  name: string;
}

describe('cache-manager 7 over tiercache', () => {
  it('wrap loads once, get reads what wrap wrote, del deletes from every tier and instance', async () => {
    const manager = createCache({ stores: [createKeyv(a, { closeOnDisconnect: false })] });
    let loads = 0;
    // The load stays in flight until every caller has had its turn to join it.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const load = async (): Promise<User> => {
      loads++;
      await gate;
      return { id: 1, name: 'Ada' };
    };
    const calls = Promise.all(Array.from({ length: 25 }, () => manager.wrap('user:1', load, 60_000)));
    await waitFor('the load to start', () => loads > 0);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const users = await calls;
    expect(users.every((user) => user.name === 'Ada')).toBe(true);
    expect(loads).toBe(1);
    expect(await manager.wrap('user:1', load, 60_000)).toEqual({ id: 1, name: 'Ada' });
    expect(loads).toBe(1);
    expect(await manager.get<User>('user:1')).toEqual({ id: 1, name: 'Ada' });

    // The other instance reads it from Redis into its L1; cache-manager's del on the first
    // reaches it over the bus.
    // (A read racing the bus message of cache-manager's write is not backfilled: read again.)
    await waitFor("b's L1 to hold user:1", async () => {
      expect(await b.get('user:1')).toEqual({ id: 1, name: 'Ada' });
      return b.getLocal('user:1') !== undefined;
    });
    expect(await manager.del('user:1')).toBe(true);
    expect(await manager.get('user:1')).toBeUndefined();
    await waitFor("b's L1 to drop user:1", () => b.getLocal('user:1') === undefined);
    expect(await b.get('user:1')).toBeUndefined();
    await manager.disconnect();
    expect(await a.get('user:1')).toBeUndefined(); // closeOnDisconnect: false left the cache open
  });

  it('an entry cache-manager wrote past its TTL is served by getOrSet within the grace, refreshed once', async () => {
    const manager = createCache({ stores: [createKeyv(a, { closeOnDisconnect: false })] });
    await manager.set('rates', { eur: 1 }, 50);
    await waitFor('the 50 ms TTL to pass', async () => (await manager.get('rates')) === undefined, 2_000, 5);
    let loads = 0;
    // The ten callers join one flight before its loader runs (after the store walk).
    const refresh = async () => {
      loads++;
      return { eur: 2 };
    };
    const served = await Promise.all(Array.from({ length: 10 }, () => b.getOrSet('rates', refresh)));
    expect(served).toEqual(Array.from({ length: 10 }, () => ({ eur: 1 })));
    await waitFor(
      'the refresh to reach cache-manager',
      async () => (await manager.get('rates')) !== undefined,
    );
    expect(await manager.get('rates')).toEqual({ eur: 2 });
    expect(loads).toBe(1);
  });

  it('mset / mget / mdel', async () => {
    const manager = createCache({ stores: [createKeyv(a, { closeOnDisconnect: false, namespace: 'm' })] });
    await manager.mset<unknown>([
      { key: 'x', value: 1 },
      { key: 'y', value: { z: true }, ttl: 60_000 },
    ]);
    expect(await manager.mget(['x', 'y', 'nope'])).toEqual([1, { z: true }, undefined]);
    expect(await a.get('m:y')).toEqual({ z: true });
    await manager.mdel(['x', 'y']);
    expect(await manager.mget(['x', 'y'])).toEqual([undefined, undefined]);
  });
});
