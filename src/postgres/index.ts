/**
 * `tiercache/postgres`: the Postgres L3 store and the Postgres LISTEN/NOTIFY bus.
 * Importing it loads `pg`; the core entry (`tiercache`) never does.
 */

export { type PostgresBusOptions, postgresBus } from './bus.js';
export { decodePayload, encodePayloads, MAX_NOTIFY_PAYLOAD_BYTES, postgresChannel } from './payload.js';
export {
  type PostgresStore,
  type PostgresStoreOptions,
  postgresStore,
  type SweepResult,
} from './store.js';
export {
  type InvalidationTriggerOptions,
  installInvalidationTrigger,
  type UninstallTriggerOptions,
  uninstallInvalidationTrigger,
} from './trigger.js';
