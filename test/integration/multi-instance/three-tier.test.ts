import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvalidationBus } from '../../../src/bus/bus.js';
import { EntryCodec } from '../../../src/entry/codec.js';
import type { Entry } from '../../../src/entry/entry.js';
import { TieredCache } from '../../../src/index.js';
import { postgresBus, postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

// L1 + Redis (L2) + Postgres (L3), real servers, this file's own Redis prefix and schema.
const schema = `tc_three_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const prefix = `${uniqueNamespace('three')}|`;

let redisUrl: string;
let pgUrl: string;
let redis: Redis;
let admin: pg.Pool;
const caches: TieredCache<unknown>[] = [];

/** One application instance: its own L1, its own clients to the shared Redis and Postgres. */
function instance<V>(
  namespace: string,
  options: { ttl?: string; clock?: { now(): number }; bus?: () => InvalidationBus } = {},
): TieredCache<V> {
  const cache = new TieredCache<V>({
    namespace,
    l1: { max: 1000 },
    stores: [
      redisStore({ url: redisUrl, prefix }),
      postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 }),
    ],
    ...(options.bus ? { bus: options.bus() } : {}),
    ttl: options.ttl ?? '10m',
    jitter: 0,
    // Generous store timeouts: a busy shared test machine must not turn a slow call into a skip.
    guard: { timeout: 2_000 },
    strict: true,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  caches.push(cache as TieredCache<unknown>);
  return cache;
}

async function l3Row(key: string): Promise<{ expires_at: string } | undefined> {
  const result = await admin.query<{ expires_at: string }>(
    `SELECT expires_at FROM ${pg.escapeIdentifier(schema)}.tiercache_entries WHERE key = $1`,
    [key],
  );
  return result.rows[0];
}

/** The entry a store holds for `key`, read through the store itself and decoded. */
async function storedEntry(store: 'redis' | 'postgres', key: string): Promise<Entry | undefined> {
  const tier =
    store === 'redis'
      ? redisStore({ url: redisUrl, prefix })
      : postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 });
  try {
    const bytes = await tier.get(key);
    return bytes === undefined ? undefined : new EntryCodec().decode(bytes);
  } finally {
    await tier.close();
  }
}

async function wipeRedisPrefix(): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

beforeAll(async () => {
  redisUrl = await redisUrlForTests();
  pgUrl = await postgresUrlForTests();
  redis = new Redis(redisUrl);
  admin = new pg.Pool({ connectionString: pgUrl, max: 2 });
  admin.on('error', () => {});
});

afterAll(async () => {
  await Promise.allSettled(caches.map((cache) => cache.close()));
  await wipeRedisPrefix().catch(() => {});
  redis?.disconnect();
  await admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin?.end();
});

describe('three tiers: L1 + Redis + Postgres', () => {
  it('a value written by A is found by a new B in L3 after Redis is wiped, and backfills B with its remaining life', async () => {
    const ns = uniqueNamespace('t3-backfill');
    const a = instance<{ name: string }>(ns, { ttl: '20s' });
    await a.set('user:1', { name: 'Ada' });
    const row = await l3Row(`${ns}:user:1`);
    expect(row).toBeDefined();
    const expiresAt = Number(row?.expires_at);
    expect(await redis.exists(`${prefix}${ns}:user:1`)).toBe(1);

    await wipeRedisPrefix();
    expect(await redis.exists(`${prefix}${ns}:user:1`)).toBe(0);

    // B's own default TTL is an hour: a backfill with a fresh TTL would show up as ~1 h in Redis.
    const b = instance<{ name: string }>(ns, { ttl: '1h' });
    let loads = 0;
    const before = Date.now();
    const value = await b.getOrSet('user:1', async () => {
      loads++;
      return { name: 'from the loader' };
    });
    expect(value).toEqual({ name: 'Ada' });
    expect(loads).toBe(0);
    // L1 is filled as the hit returns; L2 in the background.
    expect(b.getLocal('user:1')).toEqual({ name: 'Ada' });
    await waitFor(
      'the L3 hit to be backfilled into Redis',
      async () => (await redis.exists(`${prefix}${ns}:user:1`)) === 1,
    );
    const pttl = await redis.pttl(`${prefix}${ns}:user:1`);
    expect(pttl).toBeGreaterThan(0);
    // Never longer than what was left of the entry's life when B read it (Redis rounds to the ms).
    expect(pttl).toBeLessThanOrEqual(expiresAt - before + 1);
    expect(pttl).toBeLessThanOrEqual(20_000);
    // And Postgres still holds the one row, with the expiry A gave it.
    expect(Number((await l3Row(`${ns}:user:1`))?.expires_at)).toBe(expiresAt);
  });

  it('an L3 hit backfills an entry whose life is mostly spent with only what is left', async () => {
    const ns = uniqueNamespace('t3-spent');
    // A's clock runs 55 s behind: its 1-minute entry has about 5 s left in real time.
    const a = instance<string>(ns, { ttl: '1m', clock: { now: () => Date.now() - 55_000 } });
    await a.set('k', 'v');
    await wipeRedisPrefix();
    const b = instance<string>(ns);
    expect(await b.get('k')).toBe('v');
    await waitFor('the backfill into Redis', async () => (await redis.exists(`${prefix}${ns}:k`)) === 1);
    const pttl = await redis.pttl(`${prefix}${ns}:k`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5_000);
  });

  it('an expired L3 row is a miss: the loader runs and its value replaces the row', async () => {
    const ns = uniqueNamespace('t3-expired');
    // A's clock runs a minute behind: its 10-second entry expired 50 s ago in real time.
    const a = instance<string>(ns, { ttl: '10s', clock: { now: () => Date.now() - 60_000 } });
    await a.set('k', 'old');
    const row = await l3Row(`${ns}:k`);
    // The row is there (nothing swept it): the miss below is the read filter's doing.
    expect(Number(row?.expires_at)).toBeLessThan(Date.now());
    await wipeRedisPrefix();

    const b = instance<string>(ns);
    expect(await b.get('k')).toBeUndefined();
    let loads = 0;
    expect(
      await b.getOrSet('k', async () => {
        loads++;
        return 'new';
      }),
    ).toBe('new');
    expect(loads).toBe(1);
    expect(Number((await l3Row(`${ns}:k`))?.expires_at)).toBeGreaterThan(Date.now());
    // A third instance finds the new value in L3 alone.
    await wipeRedisPrefix();
    expect(await instance<string>(ns).get('k')).toBe('new');
  });

  describe.each([
    ['the Postgres bus', () => postgresBus({ connectionString: pgUrl })],
    ['the Redis bus', () => redisBus({ url: redisUrl })],
  ])('with %s', (_name, makeBus) => {
    it('a delete reaches Redis, Postgres and every instance’s L1', async () => {
      const ns = uniqueNamespace('t3-delete');
      const a = instance<string>(ns, { bus: makeBus });
      const b = instance<string>(ns, { bus: makeBus });
      const c = instance<string>(ns, { bus: makeBus });
      await Promise.all([a.ready(), b.ready(), c.ready()]);
      expect(b.health().bus?.status).toBe('up');

      await a.set('user:1', 'Ada');
      await a.set('user:2', 'Bob');
      // B and C read it: now in their L1s.
      expect(await b.get('user:1')).toBe('Ada');
      expect(await c.get('user:1')).toBe('Ada');
      expect(await c.get('user:2')).toBe('Bob');
      expect(b.getLocal('user:1')).toBe('Ada');
      expect(c.getLocal('user:1')).toBe('Ada');

      await a.delete('user:1');
      // Each store holds the deletion (a versioned tombstone), no value.
      expect(await storedEntry('redis', `${ns}:user:1`)).toMatchObject({ deleted: true });
      expect(await storedEntry('postgres', `${ns}:user:1`)).toMatchObject({ deleted: true });
      expect(a.getLocal('user:1')).toBeUndefined();
      await waitFor(
        'the delete to reach B and C’s L1',
        () => b.getLocal('user:1') === undefined && c.getLocal('user:1') === undefined,
      );
      expect(await b.get('user:1')).toBeUndefined();
      expect(await c.get('user:1')).toBeUndefined();
      // Only the deleted key went.
      expect(c.getLocal('user:2')).toBe('Bob');
      expect(await redis.exists(`${prefix}${ns}:user:2`)).toBe(1);
      expect(await l3Row(`${ns}:user:2`)).toBeDefined();
    });
  });
});
