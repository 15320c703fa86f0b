/**
 * The lease on a Redis Cluster of this file's own: one load per key across instances,
 * for keys (and so lease keys) spread over every master. Each lease script names one
 * key, so ioredis routes it to that key's slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueNamespace } from '../../support/services.js';
import { ClusterWorld } from './cluster-world.js';

const world = new ClusterWorld();
beforeAll(() => world.start(), 60_000);
afterAll(() => world.stop(), 30_000);

describe('lease on a Redis Cluster', () => {
  it('3 instances × 10 concurrent misses of each of 30 keys: one load per key', async () => {
    const ns = uniqueNamespace('cl-lease');
    const caches = [world.instance(ns), world.instance(ns), world.instance(ns)];
    await Promise.all(caches.map((cache) => cache.ready()));
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const loads = new Map<string, number>();
    const loader = (key: string) => async () => {
      loads.set(key, (loads.get(key) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 30));
      return `v:${key}`;
    };
    const values = await Promise.all(
      caches.flatMap((cache) =>
        keys.flatMap((key) => Array.from({ length: 10 }, () => cache.getOrSet(key, loader(key)))),
      ),
    );
    expect(values).toEqual(caches.flatMap(() => keys.flatMap((key) => Array(10).fill(`v:${key}`))));
    expect([...loads.values()].every((n) => n === 1)).toBe(true);
    expect(loads.size).toBe(keys.length);
    // The leases ended as landed markers (for one lease life), under the store's prefix.
    expect(await world.keysOnMasters(`${ns}#lease:`)).toBe(keys.length);
  }, 60_000);
});
