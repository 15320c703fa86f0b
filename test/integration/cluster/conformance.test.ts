/**
 * The store and bus conformance suites on a Redis Cluster of this file's own (3 masters,
 * 3 replicas, started by test/support/cluster.ts and stopped when the file ends, also
 * when a test fails): the store through an ioredis `Cluster` (keys of every suite spread
 * over all three masters), the bus sharded (SSUBSCRIBE on the channel's master) and
 * classic (SUBSCRIBE on one node, broadcast by the cluster).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../../src/errors.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { rejectCluster, slotOf } from '../../../src/redis/slots.js';
import { registerBusConformanceSuite, registerStoreConformanceSuite } from '../../../src/testing/index.js';
import { bytes, write } from '../../../src/testing/store-suite.js';
import { startRedisCluster } from '../../support/cluster.js';
import { uniqueNamespace } from '../../support/services.js';

const cluster = await startRedisCluster();
afterAll(() => cluster.stop());

registerStoreConformanceSuite('redis cluster (Cluster client, with a prefix)', () => {
  const client = cluster.client();
  const prefix = `${uniqueNamespace('cluster-conf')}:`;
  return {
    store: redisStore({ client, prefix }),
    putLegacy: async (key, value) => {
      await client.set(prefix + key, Buffer.from(value), 'PX', 600_000);
    },
  };
});

registerStoreConformanceSuite('redis cluster (Cluster client, no prefix)', () => {
  const client = cluster.client();
  return { store: redisStore({ client }) };
});

registerBusConformanceSuite('redis cluster (sharded pub/sub)', () => ({
  bus: redisBus({ client: cluster.client() }),
}));

registerBusConformanceSuite('redis cluster (classic pub/sub)', () => ({
  bus: redisBus({ client: cluster.client(), pubsub: 'classic' }),
}));

describe('cluster specifics', () => {
  it('slotOf agrees with CLUSTER KEYSLOT (hash tags, unicode, empty tags, bytes)', async () => {
    const client = cluster.client();
    const keys = [
      '',
      'a',
      'ns:key',
      '{user1000}.following',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{',
      '}{',
      'ключ:ü:😀',
      ...Array.from({ length: 200 }, () => Math.random().toString(36).repeat(3)),
    ];
    for (const key of keys) expect(slotOf(key), key).toBe(await client.cluster('KEYSLOT', key));
  });

  it('getMany, setMany and deleteMany of keys on every master, in order, each command within one slot', async () => {
    const store = redisStore({ client: cluster.client(), prefix: `${uniqueNamespace('spread')}:` });
    const keys = Array.from({ length: 3_000 }, (_, i) => `k${i}`);
    // More than one command's worth of keys for some slots: hash-tagged keys share one.
    const tagged = Array.from({ length: 2_500 }, (_, i) => `{tag}${i}`);
    const all = [...keys, ...tagged];
    await store.setMany(all.map((key) => write(key, bytes(`v-${key}`))));
    const got = await store.getMany(all);
    expect(got.map((value) => (value === undefined ? undefined : Buffer.from(value).toString()))).toEqual(
      all.map((key) => `v-${key}`),
    );
    await store.deleteMany(all.filter((_, i) => i % 2 === 0));
    const after = await store.getMany(all);
    expect(after.map((value) => value !== undefined)).toEqual(all.map((_, i) => i % 2 === 1));
    await store.clear('');
    expect((await store.getMany(all)).every((value) => value === undefined)).toBe(true);
  });

  it('rejects a Cluster with a keyPrefix, and an unknown pubsub mode, at construction', () => {
    const prefixed = cluster.client({ keyPrefix: 'x:' });
    expect(() => redisStore({ client: prefixed })).toThrow(expect.objectContaining({ option: 'client' }));
    expect(() => redisStore({ client: prefixed })).toThrow(/keyPrefix/);
    const bad = { client: cluster.client(), pubsub: 'broadcast' as never };
    expect(() => redisBus(bad)).toThrow(expect.objectContaining({ option: 'pubsub' }));
  });

  it('rejectCluster refuses a Cluster and lets a single-node client through', () => {
    expect(() => rejectCluster(cluster.client(), 'redisLease')).toThrow(InvalidOptionError);
    expect(() => rejectCluster(cluster.client(), 'redisLease')).toThrow(
      /redisLease does not support Redis Cluster/,
    );
    expect(() => rejectCluster({ isCluster: false }, 'redisLease')).not.toThrow();
  });
});
