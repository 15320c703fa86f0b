/**
 * `tiercache/postgres`: the Postgres L3 store and the Postgres LISTEN/NOTIFY bus.
 * Importing it loads `pg`; the core entry (`tiercache`) never does.
 */
export {
  type PostgresStore,
  type PostgresStoreOptions,
  postgresStore,
  type SweepResult,
} from './tiers/postgres.js';
