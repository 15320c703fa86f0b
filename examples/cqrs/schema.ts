// The command side's database: an append-only `events` table (the source of truth) and
// the `balances` projection the query side reads, in a schema of the example's own. The
// projection carries the id of the last event folded into it, so a read can say how
// recent it is.
import pg from 'pg';
import { installInvalidationTrigger, postgresStore } from '../../src/postgres/index.js';

/**
 * Creates the schema, both tables and the cache's L3 table, and installs the
 * invalidation trigger on the projection: any write to `balances` (the command handler,
 * psql, a projection rebuild) invalidates `balance:{account_id}` in every tier and
 * every query process. Idempotent.
 */
export async function migrate(pool: pg.Pool, schema: string, namespace: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  // One simple-protocol round trip: three statements, no parameters.
  await pool.query(`
    CREATE SCHEMA IF NOT EXISTS ${s};
    CREATE TABLE IF NOT EXISTS ${s}.events (
      id bigserial PRIMARY KEY, account_id integer NOT NULL, amount integer NOT NULL);
    CREATE TABLE IF NOT EXISTS ${s}.balances (
      account_id integer PRIMARY KEY, balance integer NOT NULL, last_event_id bigint NOT NULL);`);
  // L3's table first: the trigger tombstones its rows in the writing transaction.
  const l3 = postgresStore({ pool, schema, sweepIntervalMs: 0 });
  await l3.ensureSchema();
  await l3.close();
  await installInvalidationTrigger(pool, {
    table: 'balances',
    schema,
    namespace,
    key: 'balance:{account_id}',
    cacheSchema: schema,
  });
}

/** Drops the example's schema and everything in it (the trigger goes with its table). */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}
