// The product-repository example, end to end: two instances of an app, each in its own
// process, share Redis (L2 and the invalidation bus) and Postgres (the products and L3).
//
//   npx tsx examples/product-repository/main.ts
//
// REDIS_URL and DATABASE_URL default to the local servers (redis://127.0.0.1:6379,
// postgres://postgres@127.0.0.1:5432/test).
import pg from 'pg';
import { startInstance } from './instances.js';
import { dropSchema, migrate } from './schema.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = 'tiercache_example';
const namespace = `example-products-${process.pid}`;

const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
await migrate(admin, schema);
const config = { redisUrl, databaseUrl, schema, namespace };
const [a, b] = await Promise.all([
  startInstance({ ...config, name: 'A' }),
  startInstance({ ...config, name: 'B' }),
]);
const queries = async () => (await a.productQueries()).reads + (await b.productQueries()).reads;

try {
  console.log(
    'A reads product 1 three times:',
    await a.findById(1),
    await a.findById(1),
    await a.findById(1),
  );
  console.log('B reads product 1 (from Redis, then its own L1):', await b.findById(1), await b.findById(1));
  console.log(`SELECTs that reached the products table so far: ${await queries()}`);

  await a.updatePrice(1, 4_499);
  // The eviction reaches B's L1 over the Redis bus, typically within a millisecond.
  const deadline = Date.now() + 2_000;
  while ((await b.peekLocal(1)) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  console.log('after A updates the price, B reads:', await b.findById(1));
  console.log(`SELECTs that reached the products table so far: ${await queries()}`);
  const { l1, stores, loader } = await b.stats();
  console.log('B stats:', {
    l1Hits: l1.hits,
    redisHits: stores.redis?.hits,
    postgresHits: stores.postgres?.hits,
    loads: loader.ok,
  });
} finally {
  await Promise.all([a.stop(), b.stop()]);
  await dropSchema(admin, schema);
  await admin.end();
}
