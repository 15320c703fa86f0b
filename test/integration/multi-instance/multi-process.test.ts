/**
 * Two real Node processes, each with its own TieredCache (L1 + Redis store + Redis bus)
 * on the same Redis and namespace: what one does must reach the other's L1.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, spawnInstance } from '../../fixtures/redis-instance/spawn.js';
import { redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const url = await redisUrlForTests();
let admin: Redis;
let namespace: string;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  namespace = uniqueNamespace('mp');
  admin = new Redis(url);
  [a, b] = await Promise.all([spawnInstance(url, namespace, 'A'), spawnInstance(url, namespace, 'B')]);
});

afterAll(async () => {
  await Promise.all([a?.exit(), b?.exit()]);
  // Nothing left behind: the values, tombstones and the clears' epochs (`namespace#epoch:`).
  const keys = namespace === undefined ? [] : await admin.keys(`${namespace}*`);
  if (keys.length > 0) await admin.unlink(...keys);
  await admin?.quit();
});

describe('two processes on one Redis', () => {
  it('delete in A drops the key from B’s L1', async () => {
    await a.set('del:1', 'v1');
    expect(await b.get('del:1')).toBe('v1'); // from L2, now in B's L1
    expect(await b.local('del:1')).toBe('v1');
    await a.delete('del:1');
    await waitFor("B's L1 to drop del:1", async () => (await b.local('del:1')) === undefined, 2_000);
    expect(await b.get('del:1')).toBeUndefined();
  });

  it('set in A drops B’s old copy, and B reloads the new value from L2', async () => {
    await a.set('set:1', 'old');
    expect(await b.get('set:1')).toBe('old');
    expect(await b.local('set:1')).toBe('old');
    await a.set('set:1', 'new');
    await waitFor("B's L1 to drop its old set:1", async () => (await b.local('set:1')) !== 'old', 2_000);
    expect(await b.get('set:1')).toBe('new');
    expect(await b.local('set:1')).toBe('new');
  });

  it('a value loaded by B is served to A from L2 without A loading', async () => {
    expect(await b.getOrSet('load:1')).toBe('loaded-by-B-1');
    expect(await a.getOrSet('load:1')).toBe('loaded-by-B-1');
  });

  it('object values written by A twice are read by B from L2 (the codec is self-describing)', async () => {
    // Two values of one shape: the second must not depend on the writer's earlier message.
    await a.set('obj:1', { id: 1, name: 'first', tags: new Set(['x']), at: new Date(1) });
    await a.set('obj:2', { id: 2, name: 'second', tags: new Set(['y']), at: new Date(2) });
    expect(await b.get('obj:2')).toEqual({ id: 2, name: 'second', tags: new Set(['y']), at: new Date(2) });
    expect(await b.get('obj:1')).toEqual({ id: 1, name: 'first', tags: new Set(['x']), at: new Date(1) });
  });

  it('clear of the namespace in A empties B’s L1', async () => {
    await a.set('clr:1', 'x');
    await a.set('clr:2', 'y');
    expect(await b.get('clr:1')).toBe('x');
    expect(await b.get('clr:2')).toBe('y');
    await a.clear();
    await waitFor(
      "B's L1 to drop clr:1 and clr:2",
      async () => (await b.local('clr:1')) === undefined && (await b.local('clr:2')) === undefined,
      2_000,
    );
    expect(await b.get('clr:1')).toBeUndefined();
  });

  it('clear of a view in A drops only that view’s keys from B’s L1', async () => {
    await a.set('users:1', 'u1');
    await a.set('orders:1', 'o1');
    expect(await b.get('users:1')).toBe('u1');
    expect(await b.get('orders:1')).toBe('o1');
    await a.clear('users');
    await waitFor("B's L1 to drop users:1", async () => (await b.local('users:1')) === undefined, 2_000);
    expect(await b.local('orders:1')).toBe('o1');
  });

  it('CLIENT KILL of B’s subscriber resyncs B: L1 emptied, then invalidations flow again', async () => {
    await a.set('kill:1', 'k');
    // A's own message for kill:1 may reach B while B reads it, and then (rightly) stops
    // that read from filling B's L1: read again until B holds it.
    await waitFor(
      'B to hold kill:1 in L1',
      async () => (await b.get('kill:1')) === 'k' && (await b.local('kill:1')) === 'k',
      2_000,
    );
    const resyncsBefore = (await b.stats()).bus.resyncs;

    const list = String(await admin.client('LIST'));
    const line = list.split('\n').find((l) => l.includes(` name=${b.subscriberName} `));
    const id = line === undefined ? undefined : /(?:^|\s)id=(\d+)/.exec(line)?.[1];
    expect(id, `B's subscriber (${b.subscriberName}) in CLIENT LIST`).toBeDefined();
    await admin.client('KILL', 'ID', id as string);

    await waitFor(
      'B to resync after the kill and report its bus up again',
      async () =>
        (await b.stats()).bus.resyncs >= resyncsBefore + 1 && (await b.health()).bus?.status === 'up',
      5_000,
    );
    expect(await b.local('kill:1')).toBeUndefined();

    // The subscription is back: a delete in A reaches B again.
    expect(await b.get('kill:1')).toBe('k');
    expect(await b.local('kill:1')).toBe('k');
    await a.delete('kill:1');
    await waitFor(
      "B's L1 to drop kill:1 after the reconnect",
      async () => (await b.local('kill:1')) === undefined,
      2_000,
    );
  });

  it('an invalidation reaches the other L1 well within the deadline, 50 times in a row', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const key = `lat:${i}`;
      await a.set(key, i);
      expect(await b.get(key)).toBe(i);
      const started = Date.now();
      await a.delete(key);
      await waitFor(`B's L1 to drop ${key}`, async () => (await b.local(key)) === undefined, 2_000);
      latencies.push(Date.now() - started);
    }
    latencies.sort((x, y) => x - y);
    // Each round trip includes IPC polling; this bounds the bus, the bench measures it.
    expect(latencies[latencies.length - 1]).toBeLessThan(1_000);
  });
});
