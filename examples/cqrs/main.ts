// The CQRS example, end to end: a command side appending events and updating a
// projection in Postgres, and two query processes reading the projection through a
// three-tier cache (L1, Redis, Postgres), kept fresh by an Invalidator on the command
// side and a trigger on the projection table.
//
//   npx tsx examples/cqrs/main.ts
//
// REDIS_URL and DATABASE_URL default to the local servers.
import pg from 'pg';
import { Invalidator } from '../../src/index.js';
import { postgresBus, postgresStore } from '../../src/postgres/index.js';
import { redisStore } from '../../src/redis/index.js';
import { CommandHandler } from './commands.js';
import { startQueryProcess } from './processes.js';
import { runScenario } from './scenario.js';
import { dropSchema, migrate } from './schema.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `tiercache_cqrs_${process.pid}`;
const namespace = `example-cqrs-${process.pid}`;

const admin = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(admin, schema, namespace);
const invalidator = new Invalidator({
  namespace,
  stores: [redisStore({ url: redisUrl }), postgresStore({ pool: admin, schema, ensureSchema: false })],
  bus: postgresBus({ pool: admin }),
});
await invalidator.ready();
const config = { namespace, redisUrl, databaseUrl, schema };
const queries = await Promise.all([startQueryProcess(config), startQueryProcess(config)]);
try {
  const result = await runScenario(
    queries,
    new CommandHandler(admin, schema, invalidator),
    admin,
    schema,
    20,
  );
  console.log(result);
  console.log(
    `${result.reads} reads in two processes, ${result.queries.balances + result.queries.events} reached the database; ` +
      `${result.staleReads} returned anything older than the last committed event`,
  );
} finally {
  await Promise.all(queries.map((q) => q.stop()));
  await invalidator.close();
  // The demo's keys in your Redis (entries, tombstones, the tag's generation) go too.
  const redis = redisStore({ url: redisUrl });
  await redis.clear(namespace);
  await redis.close();
  await dropSchema(admin, schema);
  await admin.end();
}
