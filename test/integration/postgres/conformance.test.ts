import pg from 'pg';
import { postgresStore } from '../../../src/postgres/index.js';
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

registerStoreConformanceSuite('postgres (connectionString, logged table)', async () => {
  const url = await postgresUrlForTests();
  const schema = freshSchema('logged');
  const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
  return { store, cleanup: () => dropSchema(url, schema) };
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
    cleanup: async () => {
      await dropSchema(url, schema);
      await pool.end();
    },
  };
});
