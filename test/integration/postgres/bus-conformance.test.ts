import pg from 'pg';
import { postgresBus } from '../../../src/postgres/index.js';
import { registerBusConformanceSuite } from '../../../src/testing/index.js';
import { postgresUrlForTests } from '../../support/services.js';

const url = await postgresUrlForTests();

// The suite picks namespaces of its own (`bconf-…`), so channels never meet another run's;
// LISTEN/NOTIFY leaves nothing in the database.
registerBusConformanceSuite('postgres (own pool from connectionString)', () => ({
  bus: postgresBus({ connectionString: url }),
}));

registerBusConformanceSuite('postgres (pool passed in)', () => {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  return { bus: postgresBus({ pool }), cleanup: () => pool.end() };
});
