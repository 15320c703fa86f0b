import { Redis } from 'ioredis';
// Three real tiers for the Keyv tests: L1, Redis (L2 + bus) and Postgres (L3), each file
// with its own Redis prefix and Postgres schema, dropped afterwards.
import pg from 'pg';
import { TieredCache, type TieredCacheOptions } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';

export interface Tiers {
  /** A new cache over the file's tiers (same namespace: instances share the tiers). */
  cache(options?: Partial<TieredCacheOptions>): TieredCache;
  /** Clears and closes every cache made, and drops the schema. */
  cleanup(): Promise<void>;
}

export async function realTiers(label: string): Promise<Tiers> {
  const [redisUrl, pgUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
  const namespace = uniqueNamespace(label);
  const schema = `tc_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const prefix = `${namespace}|`;
  const caches: TieredCache[] = [];
  return {
    cache(options = {}) {
      const cache = new TieredCache({
        namespace,
        l1: { max: 1_000 },
        stores: [
          redisStore({ url: redisUrl, prefix }),
          postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 }),
        ],
        bus: redisBus({ url: redisUrl }),
        guard: { timeout: 2_000 },
        ...options,
      });
      caches.push(cache);
      return cache;
    },
    async cleanup() {
      await Promise.allSettled(caches.map((cache) => cache.close()));
      // Every key the stores wrote under the test's prefix (values, tombstones, clears'
      // epochs, leases), not only the namespace's values.
      const redis = new Redis(redisUrl);
      try {
        const keys = await redis.keys(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`);
        if (keys.length > 0) await redis.unlink(...keys);
      } finally {
        redis.disconnect();
      }
      const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      await admin.end();
    },
  };
}
