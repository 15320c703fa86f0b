import type pg from 'pg';
import pgLib from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import {
  installInvalidationTrigger,
  type PostgresStore,
  postgresBus,
  postgresStore,
} from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';

/** Where the instances of a test keep their tiers. */
export interface Tiers {
  readonly namespace: string;
  readonly redisUrl: string;
  /** The Redis key prefix of the test. */
  readonly prefix: string;
  readonly pgUrl: string;
  /** The Postgres schema of the test (L3's table lives there). */
  readonly schema: string;
}

/**
 * Two application instances, as a deployment whose database is written outside the
 * cache runs them: L1, Redis L2, Postgres L3, and the Postgres bus (which hears triggers).
 */
export async function twoInstances<V>(
  tiers: Tiers,
  closing: Array<{ close(): Promise<void> }>,
  options: { l1Max?: number; timeoutMs?: number } = {},
): Promise<[TieredCache<V>, TieredCache<V>]> {
  const make = () => {
    const cache = new TieredCache<V>({
      namespace: tiers.namespace,
      l1: { max: options.l1Max ?? 1000 },
      stores: [
        redisStore({ url: tiers.redisUrl, prefix: tiers.prefix }),
        postgresStore({ connectionString: tiers.pgUrl, schema: tiers.schema, sweepIntervalMs: 0 }),
      ],
      bus: postgresBus({ connectionString: tiers.pgUrl }),
      ttl: '10m',
      jitter: 0,
      // Generous store timeouts: a busy shared test machine must not turn a slow call into a skip.
      guard: { timeout: options.timeoutMs ?? 2_000 },
    });
    closing.push(cache);
    return cache;
  };
  const pair: [TieredCache<V>, TieredCache<V>] = [make(), make()];
  await Promise.all(pair.map((cache) => cache.ready()));
  return pair;
}

/**
 * Creates L3's table (the trigger tombstones its rows, so it comes first) and installs
 * the invalidation trigger on `table` of the test's schema; returns the L3 store.
 */
export async function watchTable(
  admin: pg.Pool,
  tiers: Tiers,
  table: string,
  key: string,
  closing: Array<{ close(): Promise<void> }>,
): Promise<PostgresStore> {
  const l3 = postgresStore({ connectionString: tiers.pgUrl, schema: tiers.schema, sweepIntervalMs: 0 });
  closing.push(l3);
  await l3.ensureSchema();
  await installInvalidationTrigger(admin, {
    table,
    schema: tiers.schema,
    namespace: tiers.namespace,
    key,
    cacheSchema: tiers.schema,
  });
  return l3;
}

/** What {@link useServers} sets up for a test file. */
export interface Servers {
  pgUrl: string;
  redisUrl: string;
  admin: pg.Pool;
  /** The file's own schema, and its quoted form for statements. */
  readonly schema: string;
  readonly S: string;
  /** The file's own Redis key prefix. */
  readonly prefix: string;
  /** Closed after the file's tests. */
  readonly closing: Array<{ close(): Promise<void> }>;
}

/**
 * Registers the file's beforeAll/afterAll: the servers resolved, an admin pool, its own
 * schema and Redis prefix, and everything left behind removed afterwards.
 */
export function useServers(label: string): Servers {
  const schema = `tc_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const servers = {
    schema,
    S: pgLib.escapeIdentifier(schema),
    prefix: `${uniqueNamespace(label)}|`,
    closing: [],
  } as unknown as Servers;
  beforeAll(async () => {
    servers.pgUrl = await postgresUrlForTests();
    servers.redisUrl = await redisUrlForTests();
    servers.admin = new pgLib.Pool({ connectionString: servers.pgUrl, max: 4 });
    servers.admin.on('error', () => {});
    await servers.admin.query(`CREATE SCHEMA ${servers.S}`);
  });
  afterAll(async () => {
    await Promise.allSettled(servers.closing.map((c) => c.close()));
    const wipe = redisStore({ url: servers.redisUrl, prefix: servers.prefix });
    await wipe.clear('').catch(() => {});
    await wipe.close();
    await servers.admin.query(`DROP SCHEMA IF EXISTS ${servers.S} CASCADE`);
    await servers.admin.end();
  });
  return servers;
}
