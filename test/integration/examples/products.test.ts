// The product-repository example (examples/product-repository), run as shipped: two
// instances in two processes (forked with tsx, which compiles the decorators), sharing a
// private redis-server (L2 + bus; this file kills it) and the test Postgres (products
// and L3, in a schema of this file's own). Each instance counts the statements that
// reach the products table; the assertions are on those counts.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, startInstance } from '../../../examples/product-repository/instances.js';
import { dropSchema, migrate, SEED } from '../../../examples/product-repository/schema.js';
import {
  type OwnServer,
  postgresUrlForTests,
  startRedisServer,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const schema = `tc_example_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let admin: pg.Pool;
let redis: OwnServer;
let a: Instance;
let b: Instance;

/** SELECTs that reached the products table, over both instances. */
async function reads(): Promise<number> {
  const [qa, qb] = await Promise.all([a.productQueries(), b.productQueries()]);
  return qa.reads + qb.reads;
}

beforeAll(async () => {
  const databaseUrl = await postgresUrlForTests();
  admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await migrate(admin, schema);
  redis = await startRedisServer();
  const config = { redisUrl: redis.url, databaseUrl, schema, namespace: uniqueNamespace('example') };
  [a, b] = await Promise.all([
    startInstance({ ...config, name: 'A' }),
    startInstance({ ...config, name: 'B' }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  await redis?.stop();
  if (admin) {
    await dropSchema(admin, schema);
    await admin.end();
  }
});

describe('examples/product-repository: two instances, L1 + Redis + Postgres', () => {
  it('repeated reads of one product make one query in total across both instances (L1, then L2)', async () => {
    const kettle = SEED[0];
    for (let i = 0; i < 3; i++) expect(await a.findById(1)).toEqual(kettle);
    expect(await reads()).toBe(1);
    for (let i = 0; i < 3; i++) expect(await b.findById(1)).toEqual(kettle);
    expect(await reads()).toBe(1);

    const [sa, sb] = await Promise.all([a.stats(), b.stats()]);
    expect(sa.loader.ok).toBe(1);
    expect(sa.l1.hits).toBe(2);
    // B's first read came from Redis, the next two from its own L1.
    expect(sb.loader.ok).toBe(0);
    expect(sb.stores.redis?.hits).toBe(1);
    expect(sb.l1.hits).toBe(2);
  });

  it("an update through A is seen by B's next read, with exactly one new query", async () => {
    expect(await b.findById(2)).toEqual(SEED[1]);
    expect(await a.findById(2)).toEqual(SEED[1]);
    expect(await b.peekLocal(2)).toEqual(SEED[1]);
    const before = await reads();
    const writesBefore = (await a.productQueries()).writes;

    expect(await a.updatePrice(2, 1_999)).toBe(true);
    expect((await a.productQueries()).writes).toBe(writesBefore + 1);
    // The bus drops B's L1 copy; no test waits a fixed time for it.
    await waitFor("the eviction reaching B's L1", async () => (await b.peekLocal(2)) === null);

    expect(await b.findById(2)).toEqual({ ...SEED[1], priceCents: 1_999 });
    expect(await b.findById(2)).toEqual({ ...SEED[1], priceCents: 1_999 });
    expect(await a.findById(2)).toEqual({ ...SEED[1], priceCents: 1_999 });
    expect(await reads()).toBe(before + 1);
  });

  it('does not evict when the update fails', async () => {
    expect(await a.findById(3)).toEqual(SEED[2]);
    const before = await reads();
    await expect(a.updatePrice(3, -1)).rejects.toThrow(/price_cents_check/);
    expect(await a.peekLocal(3)).toEqual(SEED[2]);
    expect(await a.findById(3)).toEqual(SEED[2]);
    expect(await reads()).toBe(before);
  });

  it('with Redis killed, reads still succeed from L1 and L3 without reaching the products table', async () => {
    // Warm: product 4 is read by A only (so B's L1 does not hold it, but L3 does).
    expect(await a.findById(4)).toEqual(SEED[3]);
    const before = await reads();
    const [statsA, statsB] = await Promise.all([a.stats(), b.stats()]);
    const served = (s: typeof statsA) => s.l1.hits + (s.stores.postgres?.hits ?? 0);

    redis.signal('SIGKILL');
    const started = Date.now();
    expect(await a.findById(4)).toEqual(SEED[3]);
    expect(await b.findById(4)).toEqual(SEED[3]);
    expect(await b.findById(1)).toEqual(SEED[0]);
    expect(await reads()).toBe(before);
    const [afterA, afterB] = await Promise.all([a.stats(), b.stats()]);
    expect(served(afterA) - served(statsA)).toBe(1);
    expect(served(afterB) - served(statsB)).toBe(2);

    // Once an instance sees its bus down its L1 is blind (no invalidation could reach
    // it): entries are served for at most a second after they were last known current,
    // then from L3. Either way: still no query to the products table.
    await waitFor('B to report its bus down', async () => (await b.health()).bus?.status !== 'up');
    const servedBefore = served(await b.stats());
    expect(await b.findById(4)).toEqual(SEED[3]);
    expect(await b.findById(2)).toEqual({ ...SEED[1], priceCents: 1_999 });
    expect(served(await b.stats())).toBe(servedBefore + 2);
    expect(await reads()).toBe(before);
    // A product no tier holds is loaded from the database: one query, and a success.
    expect(await a.findById(999)).toBeNull();
    expect(await reads()).toBe(before + 1);
    // The outage costs each read at most a store timeout, not a hang.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
