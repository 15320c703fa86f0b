import pg from 'pg';
import { type PostgresStore, postgresStore } from '../../../src/postgres/index.js';
import { registerStoreConformanceSuite } from '../../../src/testing/index.js';
import { postgresUrlForTests } from '../../support/services.js';

// Every factory call gets a schema of its own, dropped (cascade) in cleanup.
function freshSchema(label: string): string {
  return `tc_conf_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * A row as the release before versions wrote it: the version column left to its default
 * `''` (the column the migration adds). Through `query`, after the store made the table.
 */
function legacyPutter(store: PostgresStore, query: (text: string, values: unknown[]) => Promise<unknown>) {
  return async (key: string, value: Uint8Array) => {
    await store.ensureSchema();
    await query(
      `INSERT INTO ${store.qualifiedTable} (key, value, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
      [key, Buffer.from(value), Date.now() + 600_000, Date.now()],
    );
  };
}

registerStoreConformanceSuite('postgres (connectionString, logged table)', async () => {
  const url = await postgresUrlForTests();
  const schema = freshSchema('logged');
  const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  admin.on('error', () => {});
  return {
    store,
    putLegacy: legacyPutter(store, (text, values) => admin.query(text, values)),
    cleanup: async () => {
      await admin.end();
      await dropSchema(url, schema);
    },
  };
});

registerStoreConformanceSuite('postgres (pool passed in, unlogged, maxRows, fast sweeper)', async () => {
  const url = await postgresUrlForTests();
  const schema = freshSchema('unlogged');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  // A sweeper running during the suite must not change what any test sees.
  const store = postgresStore({ pool, schema, unlogged: true, maxRows: 100_000, sweepIntervalMs: 25 });
  return {
    store,
    putLegacy: legacyPutter(store, (text, values) => pool.query(text, values)),
    cleanup: async () => {
      await dropSchema(url, schema);
      await pool.end();
    },
  };
});
