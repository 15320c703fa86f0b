/**
 * The store and bus conformance suites on a Redis Cluster of this file's own (3 masters,
 * 3 replicas, started by test/support/cluster.ts and stopped when the file ends, also
 * when a test fails): the store through an ioredis `Cluster` (keys of every suite spread
 * over all three masters), the bus sharded (SSUBSCRIBE on the channel's master) and
 * classic (SUBSCRIBE on one node, broadcast by the cluster).
 */
import { afterAll } from 'vitest';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { registerBusConformanceSuite, registerStoreConformanceSuite } from '../../../src/testing/index.js';
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
