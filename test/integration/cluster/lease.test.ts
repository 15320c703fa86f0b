/**
 * The lease on a Redis Cluster of this file's own: one load per key across instances,
 * for keys (and so lease keys) spread over every master. Each lease script names one
 * key, so ioredis routes it to that key's slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
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
    // Every loader waits until each key's load has started, so the other instances' misses
    // all meet a held lease (no load finishes before the last one begins).
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const loader = (key: string) => async () => {
      loads.set(key, (loads.get(key) ?? 0) + 1);
      await gate;
      return `v:${key}`;
    };
    const calls = Promise.all(
      caches.flatMap((cache) =>
        keys.flatMap((key) => Array.from({ length: 10 }, () => cache.getOrSet(key, loader(key)))),
      ),
    );
    await waitFor('a load of every key to start', () => loads.size === keys.length, 10_000, 5);
    open();
    const values = await calls;
    expect(values).toEqual(caches.flatMap(() => keys.flatMap((key) => Array(10).fill(`v:${key}`))));
    expect([...loads.values()].every((n) => n === 1)).toBe(true);
    expect(loads.size).toBe(keys.length);
    // The leases ended as landed markers (for one lease life), under the store's prefix.
    expect(await world.keysOnMasters(`${ns}#lease:`)).toBe(keys.length);
  }, 60_000);
});
