// The CQRS example (examples/cqrs), run as shipped: a command side in this process (an
// Invalidator, no cache), two query processes (forked with tsx) reading through L1 +
// Redis + Postgres, a trigger on the projection. A private redis-server, and a schema of
// this file's own in the test Postgres.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../../examples/cqrs/commands.js';
import { type QueryProcess, startQueryProcess } from '../../../examples/cqrs/processes.js';
import { runScenario } from '../../../examples/cqrs/scenario.js';
import { dropSchema, migrate } from '../../../examples/cqrs/schema.js';
import { Invalidator } from '../../../src/index.js';
import { postgresBus, postgresStore } from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, startRedisServer, uniqueNamespace } from '../../support/services.js';

const schema = `tc_cqrs_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const namespace = uniqueNamespace('cqrs');
const ROUNDS = 20;
let admin: pg.Pool;
let invalidator: Invalidator;
let queries: [QueryProcess, QueryProcess];
/** Undone after the tests, last first: whatever beforeAll got to start. */
const undo: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  const databaseUrl = await postgresUrlForTests();
  admin = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  undo.push(
    () => admin.end(),
    () => dropSchema(admin, schema),
  );
  await migrate(admin, schema, namespace);
  const redis = await startRedisServer();
  undo.push(() => redis.stop());
  invalidator = new Invalidator({
    namespace,
    stores: [redisStore({ url: redis.url }), postgresStore({ pool: admin, schema, ensureSchema: false })],
    bus: postgresBus({ pool: admin }),
  });
  undo.push(() => invalidator.close());
  await invalidator.ready();
  const config = { namespace, redisUrl: redis.url, databaseUrl, schema };
  queries = await Promise.all([startQueryProcess(config), startQueryProcess(config)]);
  undo.push(() => Promise.allSettled(queries.map((q) => q.stop())));
});

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => {});
});

describe('examples/cqrs: two query processes, invalidation by an Invalidator and by a trigger', () => {
  it('no read returns a projection or history older than the last committed event, and the cache saves queries', async () => {
    const result = await runScenario(
      queries,
      new CommandHandler(admin, schema, invalidator),
      admin,
      schema,
      ROUNDS,
    );
    expect(result.staleReads).toBe(0);
    // Account 1: a warm round and ROUNDS rounds, balance and history in both processes;
    // account 2: its balance in both, before and after the plain-SQL write.
    const rounds = ROUNDS + 1;
    expect(result.reads).toBe(rounds * 4 + 4);
    // Each invalidated key is loaded once or twice (once per process at most) per round:
    // the second process often finds the first one's reload in Redis.
    expect(result.queries.balances).toBeGreaterThanOrEqual(rounds + 2);
    expect(result.queries.balances).toBeLessThanOrEqual(2 * (rounds + 2));
    expect(result.queries.events).toBeGreaterThanOrEqual(rounds);
    expect(result.queries.events).toBeLessThanOrEqual(2 * rounds);
    expect(result.queries.balances + result.queries.events).toBeLessThan(result.reads);
  });
});
