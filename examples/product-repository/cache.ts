// The cache every instance builds at startup: L1 in process, Redis as L2 with its pub/sub
// bus, Postgres as L3. In your project, import from 'tiercache', 'tiercache/redis' and
// 'tiercache/postgres'.
import type pg from 'pg';
import { TieredCache } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';

/** Where the cache's tiers live. */
export interface CacheConfig {
  /** The cache namespace (every key in Redis and in the L3 table starts with it). */
  readonly namespace: string;
  readonly redisUrl: string;
  /** The schema of the L3 table (`tiercache_entries`); the example uses the products' own schema. */
  readonly schema: string;
}

/**
 * A three-tier cache. L3 shares the application's pool: its queries are few (a miss in
 * L1 and L2), and they never touch the products table.
 */
export function createProductCache(config: CacheConfig, pool: pg.Pool): TieredCache {
  return new TieredCache({
    namespace: config.namespace,
    l1: { max: 10_000 },
    stores: [
      redisStore({ url: config.redisUrl }),
      postgresStore({ pool, schema: config.schema, sweepIntervalMs: 60_000 }),
    ],
    bus: redisBus({ url: config.redisUrl }),
    ttl: '10m',
  });
}
