import { describe, expect, it } from 'vitest';
import { EntryCodec } from '../../../src/entry/codec.js';
import { Invalidator, TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { useServers } from './instances.js';

// deleteByTag and the Invalidator on the real servers, over the Redis bus: two instances
// with the entries in all three tiers.
const servers = useServers('tags');

function tiers() {
  const { redisUrl, prefix, pgUrl, schema } = servers;
  return [
    redisStore({ url: redisUrl, prefix }),
    postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 }),
  ];
}

function instance(namespace: string): TieredCache<string> {
  const cache = new TieredCache<string>({
    namespace,
    stores: tiers(),
    bus: redisBus({ url: servers.redisUrl }),
    ttl: '10m',
    jitter: 0,
    guard: { timeout: 2_000 },
    strict: true,
  });
  servers.closing.push(cache);
  return cache;
}

describe('deleteByTag across two instances, entries in L1, Redis and Postgres', () => {
  it('every tagged entry is a miss in every tier and instance afterwards; untagged ones stay', async () => {
    const namespace = uniqueNamespace('tags');
    const a = instance(namespace);
    const b = instance(namespace);
    await Promise.all([a.ready(), b.ready()]);
    let loads = 0;
    const load = (value: string, tags: string[]) => (ctx: { setTags(tags: string[]): void }) => {
      loads++;
      ctx.setTags(tags);
      return value;
    };
    expect(await a.getOrSet('order:1', load('o1', ['customer:7']))).toBe('o1');
    expect(await a.getOrSet('order:2', load('o2', ['customer:7', 'region:eu']))).toBe('o2');
    expect(await a.getOrSet('order:3', load('o3', ['customer:8']))).toBe('o3');
    // B holds them in L1 too (read from Redis; A's set messages may reach B while it reads
    // and stop that read's copy into L1, so read until held).
    const keys = ['order:1', 'order:2', 'order:3'];
    await waitFor("B's L1 to hold the orders", async () => {
      expect(await b.getMany(keys)).toEqual(['o1', 'o2', 'o3']);
      return keys.every((key) => b.getLocal(key) !== undefined);
    });
    // And Postgres holds them (L3).
    const codec = new EntryCodec();
    const l3 = postgresStore({ connectionString: servers.pgUrl, schema: servers.schema, sweepIntervalMs: 0 });
    servers.closing.push(l3);
    const inL3 = async (key: string) => {
      const bytes = await l3.get(`${namespace}:${key}`);
      return bytes === undefined ? undefined : codec.decode(bytes);
    };
    expect((await inL3('order:1'))?.tags).toEqual(['customer:7']);

    await a.deleteByTag('customer:7');
    await waitFor(
      'B to drop the tagged orders',
      () => b.getLocal('order:1') === undefined && b.getLocal('order:2') === undefined,
    );
    expect(b.getLocal('order:3')).toBe('o3');
    // Nothing was deleted from the stores: the generation hides them.
    expect((await inL3('order:1'))?.value).toBe('o1');
    // A new instance (empty L1, never heard the message) sees none of them either.
    const c = instance(namespace);
    await c.ready();
    for (const cache of [a, b, c]) {
      expect(await cache.get('order:1')).toBeUndefined();
      expect(await cache.get('order:2')).toBeUndefined();
      expect(await cache.get('order:3')).toBe('o3');
    }
    // Also when only Postgres holds them (Redis evicted everything).
    const l2 = redisStore({ url: servers.redisUrl, prefix: servers.prefix });
    servers.closing.push(l2);
    await l2.deleteMany([`${namespace}:order:1`, `${namespace}:order:3`]);
    const d = instance(namespace);
    await d.ready();
    expect(await d.get('order:1')).toBeUndefined();
    expect(await d.get('order:3')).toBe('o3');
    loads = 0;
    expect(await b.getOrSet('order:1', load('o1 again', ['customer:7']))).toBe('o1 again');
    expect(await a.getOrSet('order:1', load('never', []))).toBe('o1 again');
    expect(loads).toBe(1);
  });

  it('an Invalidator with no L1 (a command handler) reaches both instances and every store', async () => {
    const namespace = uniqueNamespace('inv');
    const a = instance(namespace);
    const b = instance(namespace);
    const invalidator = new Invalidator({
      namespace,
      stores: tiers(),
      bus: redisBus({ url: servers.redisUrl }),
      guard: { timeout: 2_000 },
      strict: true,
    });
    servers.closing.push(invalidator);
    await Promise.all([a.ready(), b.ready(), invalidator.ready()]);
    await a.set('k1', 'v1');
    await a.set('k2', 'v2', { tags: ['t'] });
    expect(await b.getMany(['k1', 'k2'])).toEqual(['v1', 'v2']);
    await invalidator.delete('k1');
    await invalidator.deleteByTag('t');
    // Counting messages would also count A's own sets reaching B late: wait for the drops.
    await waitFor('both instances to drop k1 and k2 from L1', () =>
      [a, b].every((cache) => cache.getLocal('k1') === undefined && cache.getLocal('k2') === undefined),
    );
    for (const cache of [a, b]) {
      expect(cache.getLocal('k1')).toBeUndefined();
      expect(await cache.get('k1')).toBeUndefined();
      expect(await cache.get('k2')).toBeUndefined();
    }
  });
});
