// examples/cache-aside.ts: the same service code on L1 alone and on two instances sharing
// Redis (L2 + bus) and Postgres (L3), with this file's own Redis prefix and schema.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type User, UserTable, userService } from '../../../examples/cache-aside.js';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const schema = `tc_aside_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const prefix = `${uniqueNamespace('aside')}|`;
const caches: TieredCache<User>[] = [];
let redisUrl: string;
let pgUrl: string;

beforeAll(async () => {
  [redisUrl, pgUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
});

afterAll(async () => {
  for (const cache of caches) await cache.clear().catch(() => {});
  await Promise.allSettled(caches.map((cache) => cache.close()));
  const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

function instance(namespace: string): TieredCache<User> {
  const cache = new TieredCache<User>({
    namespace,
    l1: { max: 100 },
    stores: [
      redisStore({ url: redisUrl, prefix }),
      postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 }),
    ],
    bus: redisBus({ url: redisUrl }),
    guard: { timeout: 2_000 },
  });
  caches.push(cache);
  return cache;
}

const ada: User = { id: 'u1', name: 'Ada', email: 'ada@example.com' };

describe('examples/cache-aside', () => {
  it('on L1 alone: one table query per user until a write deletes the key', async () => {
    const cache = new TieredCache<User>({ namespace: uniqueNamespace('aside-l1'), l1: { max: 10 } });
    caches.push(cache);
    const table = new UserTable();
    await table.upsert(ada);
    table.queries = 0;
    const users = userService(cache, table);
    expect(await users.getUser('u1')).toEqual(ada);
    expect(await users.getUser('u1')).toEqual(ada);
    expect(table.queries).toBe(1);
    await users.renameUser('u1', 'Ada L.');
    expect(await users.getUser('u1')).toEqual({ ...ada, name: 'Ada L.' });
    // rename: one select and one upsert; then one select to refill.
    expect(table.queries).toBe(4);
    expect(await users.getUser('nobody')).toBeUndefined();
  });

  it('on two instances sharing Redis and Postgres: the same service code, coherent across them', async () => {
    const namespace = uniqueNamespace('aside-shared');
    const [cacheA, cacheB] = [instance(namespace), instance(namespace)];
    await Promise.all([cacheA.ready(), cacheB.ready()]);
    const table = new UserTable();
    await table.upsert(ada);
    table.queries = 0;
    const [a, b] = [userService(cacheA, table), userService(cacheB, table)];

    expect(await a.getUser('u1')).toEqual(ada);
    expect(await b.getUser('u1')).toEqual(ada);
    expect(table.queries).toBe(1);
    expect(cacheB.stats().stores.redis?.hits).toBe(1);

    await a.renameUser('u1', 'Ada Lovelace');
    await waitFor("the delete reaching B's L1", () => cacheB.getLocal('user:u1') === undefined);
    expect(await b.getUser('u1')).toEqual({ ...ada, name: 'Ada Lovelace' });

    await b.createUser({ id: 'u2', name: 'Grace', email: 'grace@example.com' });
    const before = table.queries;
    expect(await a.getUser('u2')).toEqual({ id: 'u2', name: 'Grace', email: 'grace@example.com' });
    expect(table.queries).toBe(before);
  });
});
