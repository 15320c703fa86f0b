import type pg from 'pg';
import { isVersion } from '../entry/version.js';
import { InvalidOptionError, StoreDataError, TierCacheError } from '../errors.js';
import { booleanOption, clockOption, integerOption } from '../options/validators.js';
import { asBuffer } from '../stores/bytes.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';
import { pgEndpoint } from './endpoint.js';
import { checkPgConnection, openPgPool } from './pool.js';
import { createTable, SchemaOnce } from './schema.js';
import { expiryMs, identifier, likePrefix, qualified, type StoreStatements, storeStatements } from './sql.js';
import { Sweeper, type SweepResult } from './sweeper.js';

export type { SweepResult } from './sweeper.js';

/**
 * Options of {@link postgresStore}. Give either `pool` or `connectionString`.
 *
 * A pool passed in stays the caller's: attach `pool.on('error', ...)` to it yourself,
 * because pg emits `error` on the pool when an idle client's connection drops (a restart,
 * `pg_terminate_backend`), and an `error` event with no listener crashes the process.
 */
export interface PostgresStoreOptions {
  /** A pg pool to use. The store never ends it; `close()` leaves it open. */
  readonly pool?: pg.Pool;
  /** A connection string; the store then creates, owns and (on `close()`) ends its pool. */
  readonly connectionString?: string;
  /** The schema holding the table. Default `'public'`. Letters, digits and `_`, at most 63 characters. */
  readonly schema?: string;
  /** The table name. Default `'tiercache_entries'`. Letters, digits and `_`, at most 63 characters. */
  readonly table?: string;
  /**
   * Create the table as `UNLOGGED`. Default `false`. Writes skip the write-ahead log, so
   * they are faster, but Postgres empties the table after a crash (not after a clean
   * restart) and does not replicate it to standbys. Fine for a cache that can refill;
   * wrong if L3 is meant to survive a database crash or a failover. Only applies when
   * the store creates the table.
   */
  readonly unlogged?: boolean;
  /**
   * Create the schema, table and indexes if missing, once, before the first operation.
   * Default `true`. Set `false` when the table is made by migrations (the columns and
   * indexes are listed on {@link postgresStore}; or run `store.ensureSchema()` from the
   * migration step) or the database user may not run DDL. When everything exists already,
   * `ensureSchema` runs no DDL at all, so a user without CREATE rights can keep the default.
   */
  readonly ensureSchema?: boolean;
  /**
   * Roughly how often the background sweeper deletes expired rows (and, with `maxRows`,
   * the oldest rows), in ms. Each run waits this long +-20% so that many instances spread
   * out. Default 60 000; `0` disables the timer (call `sweep()` yourself).
   */
  readonly sweepIntervalMs?: number;
  /** Most rows one sweep statement deletes, so no statement holds locks for long. Default 1000. */
  readonly sweepBatch?: number;
  /**
   * Keep at most about this many rows: each sweep deletes the oldest rows (by the time
   * they were last written) beyond it, FIFO, as Solid Cache does. Unbounded by default.
   * The bound is enforced at sweep time, so the table may exceed it between sweeps.
   */
  readonly maxRows?: number;
  /** The guard timeout for this store's operations, in ms. Default 200. */
  readonly timeoutMs?: number;
  /**
   * The clock that decides, at read and sweep time, whether a row has expired, in ms since
   * the epoch. Default `Date.now`. It should be the same clock the cache makes expiry times
   * with (the cache's `clock`, `Date.now()` in production).
   */
  readonly clock?: { now(): number };
}

/** The L3 store: a {@link StoreTier} over one Postgres table, with a sweeper. */
export interface PostgresStore extends StoreTier {
  readonly name: 'postgres';
  /** The schema-qualified, quoted table name, for queries of your own (`"public"."tiercache_entries"`). */
  readonly qualifiedTable: string;
  /**
   * Creates the schema, table and indexes if they are missing. Idempotent and safe when
   * many instances start at once (the DDL runs under a transaction-scoped advisory
   * lock). Runs at most once per store; a failed attempt is retried by the next call.
   * Operations call it themselves unless `ensureSchema: false`.
   */
  ensureSchema(): Promise<void>;
  /**
   * Deletes expired rows, then (with `maxRows`) the oldest rows beyond the bound, each in
   * statements of at most `sweepBatch` rows. The background timer calls it; tests and
   * cron jobs may call it directly.
   */
  sweep(): Promise<SweepResult>;
}

interface Resolved {
  readonly schema: string;
  readonly table: string;
  readonly unlogged: boolean;
  readonly ensureSchema: boolean;
  readonly sweepIntervalMs: number;
  readonly sweepBatch: number;
  readonly maxRows: number | undefined;
  readonly timeoutMs: number;
  readonly clock: { now(): number };
}

function resolve(options: PostgresStoreOptions): Resolved {
  checkPgConnection(options, 'postgresStore', POSTGRES_STORE_OPTIONS);
  const schema = identifier('schema', options.schema ?? 'public');
  // Postgres reserves the pg_ prefix for system schemas and refuses to create one.
  if (/^pg_/i.test(schema)) {
    throw new InvalidOptionError('schema', 'a name not starting with `pg_` (reserved by Postgres)', schema);
  }
  // `?? undefined`: a null number or clock has always meant the default here.
  return Object.freeze({
    schema,
    table: identifier('table', options.table ?? 'tiercache_entries'),
    clock: clockOption(options.clock ?? undefined, 'clock', { now: Date.now }),
    unlogged: booleanOption(options.unlogged, 'unlogged', false),
    ensureSchema: booleanOption(options.ensureSchema, 'ensureSchema', true),
    sweepIntervalMs: integerOption(options.sweepIntervalMs ?? undefined, 'sweepIntervalMs', 0, 60_000),
    sweepBatch: integerOption(options.sweepBatch ?? undefined, 'sweepBatch', 1, 1000),
    maxRows: integerOption(options.maxRows, 'maxRows', 1, undefined),
    timeoutMs: integerOption(options.timeoutMs ?? undefined, 'timeoutMs', 1, 200),
  });
}

/** Every option of {@link postgresStore}, for the unknown-option check. */
const POSTGRES_STORE_OPTIONS = [
  'pool',
  'connectionString',
  'schema',
  'table',
  'unlogged',
  'ensureSchema',
  'sweepIntervalMs',
  'sweepBatch',
  'maxRows',
  'timeoutMs',
  'clock',
];

/**
 * The L3 store over one Postgres table:
 *
 *     key        text COLLATE "C" PRIMARY KEY
 *     value      bytea  NOT NULL          -- the encoded entry envelope
 *     expires_at bigint NOT NULL          -- ms since the epoch, as the cache made it
 *     created_at bigint NOT NULL          -- ms since the epoch of the last write
 *     version    text COLLATE "C" NOT NULL DEFAULT ''  -- the write's version
 *
 * with an index on `expires_at` (the sweeper) and, with `maxRows`, on `created_at`.
 *
 * - Times are bigint milliseconds, not `timestamptz`: the entry's expiry is ms since the
 *   epoch from the cache's clock, and keeping it as is means no float conversion
 *   (`to_timestamp` takes seconds as a double) and no rounding to microseconds.
 * - Expiry is compared against the store's `clock` (the Node process's `Date.now()` by
 *   default), passed as a parameter, not the database's `now()`: it is the clock the
 *   cache made the expiry with, so the store and the cache agree on what is expired even
 *   when the database host's clock drifts. The cache checks the envelope again anyway.
 * - `COLLATE "C"` compares bytes: a prefix `LIKE` (in `clear`) can use the primary key
 *   index, and key comparisons skip locale rules. `clear(prefix, upTo)` deletes only the
 *   rows whose version is `<= upTo` (`''`, a row from before versions, included).
 * - Writes keep, per key, only the greatest version: the upsert updates a row only for a
 *   greater version or when the row has expired (see `sql.ts`). `ensureSchema` adds the
 *   `version` column to a table made by a release without it (rows already there get
 *   `''`, older than every version).
 * - Every value is a bound parameter; schema and table names are validated and quoted.
 * - Hot-path statements are prepared once per connection.
 * - Reads never return an expired row, and never scan: the sweeper deletes expired rows
 *   in batches in the background (timer unref'd: it keeps no process alive).
 *
 * @throws InvalidOptionError naming the option when an option is invalid.
 * @example
 * ```ts
 * import { TieredCache } from 'tiercache';
 * import { redisStore } from 'tiercache/redis';
 * import { postgresStore } from 'tiercache/postgres';
 *
 * const cache = new TieredCache({
 *   namespace: 'app',
 *   stores: [redisStore({ url }), postgresStore({ connectionString: process.env.DATABASE_URL })],
 * });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStoreTier(options);
}

/**
 * One write per key, the one with the greatest version (the first of equal ones), in
 * key order. ON CONFLICT DO UPDATE cannot touch one row twice in a statement, so a
 * repeated key must be resolved here, and by the store's own rule rather than by
 * position: the writes of one batch land as if they had come one by one, in any order.
 * Key order makes concurrent batches lock their rows in the same order (no deadlock
 * between two batches sharing keys).
 */
function newestPerKey(writes: readonly StoreWrite[]): StoreWrite[] {
  const newest = new Map<string, StoreWrite>();
  for (const write of writes) {
    const kept = newest.get(write.key);
    if (kept === undefined || write.version > kept.version) newest.set(write.key, write);
  }
  const out = [...newest.values()];
  return out.length < 2 ? out : out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Refuses a malformed version: compared as text, one that is not 24 lowercase hex
 * characters could sort above every real version and pin a row until it expires.
 */
function checkVersions(writes: readonly StoreWrite[]): void {
  for (const write of writes) {
    if (!isVersion(write.version)) {
      throw new TierCacheError(
        `postgresStore.setMany: the write of ${JSON.stringify(write.key)} has version ` +
          `${JSON.stringify(write.version)}, not 24 lowercase hex characters`,
      );
    }
  }
}

/** The {@link PostgresStore} behind {@link postgresStore}. */
class PostgresStoreTier implements PostgresStore {
  readonly name = 'postgres';
  readonly system = 'postgresql';
  readonly defaultTimeoutMs: number;
  readonly qualifiedTable: string;
  readonly endpoint: string;

  readonly #options: Resolved;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #sql: StoreStatements;
  readonly #schema: SchemaOnce;
  readonly #sweeper: Sweeper;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.#options = resolve(options);
    this.defaultTimeoutMs = this.#options.timeoutMs;
    const { pool, owned } = openPgPool(options);
    this.#pool = pool;
    this.#ownsPool = owned;
    this.endpoint = pgEndpoint(pool);
    const { schema, table, unlogged, maxRows } = this.#options;
    this.qualifiedTable = qualified(schema, table);
    this.#sql = storeStatements(this.qualifiedTable);
    this.#schema = new SchemaOnce(() => createTable(pool, { schema, table, unlogged, maxRows }));
    this.#sweeper = new Sweeper({
      ...this.#options,
      pool,
      sql: this.#sql,
      ready: () => (this.#schemaMissing() ? this.ensureSchema() : undefined),
    });
  }

  /**
   * The pool the store queries through. Not part of {@link PostgresStore}: it is here for
   * diagnostics (tests check that it leaks no client), as it was before the fields were private.
   */
  get pool(): pg.Pool {
    return this.#pool;
  }

  ensureSchema(): Promise<void> {
    // With `ensureSchema: false` operations never call this, but an explicit call still creates.
    return this.#schema.ensure();
  }

  get(key: string): Promise<Uint8Array | undefined> {
    if (this.#schemaMissing()) return this.ensureSchema().then(() => this.#get(key));
    return this.#get(key);
  }

  // One promise hop on top of the query's (an async wrapper and a catch made two).
  #get(key: string): Promise<Uint8Array | undefined> {
    return this.#pool
      .query<{ value: Buffer }>({ ...this.#sql.get, values: [key, this.#options.clock.now()] })
      .then(
        (result) => result.rows[0]?.value,
        (error: unknown) => refusedData(error, key),
      );
  }

  onReady(listener: () => void): () => void {
    // A new connection of the pool: the server takes connections again.
    this.#pool.on('connect', listener);
    return () => this.#pool.off('connect', listener);
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return [];
    if (this.#schemaMissing()) await this.ensureSchema();
    const result = await this.#pool.query<{ key: string; value: Buffer }>({
      ...this.#sql.getMany,
      values: [keys, this.#options.clock.now()],
    });
    const found = new Map<string, Buffer>();
    for (const row of result.rows) found.set(row.key, row.value);
    return keys.map((key) => found.get(key));
  }

  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    checkVersions(writes);
    if (this.#schemaMissing()) await this.ensureSchema();
    const now = this.#options.clock.now();
    if (writes.length === 1) {
      const write = writes[0] as StoreWrite;
      // One row: plain parameters, so pg sends the bytes in binary instead of a hex array literal.
      await this.#pool
        .query({
          ...this.#sql.setOne,
          values: [write.key, asBuffer(write.value), expiryMs(write.expiresAt), now, write.version],
        })
        .catch((error: unknown) => refusedData(error, write.key));
      return;
    }
    const keys: string[] = [];
    const values: Buffer[] = [];
    const expiries: number[] = [];
    const versions: string[] = [];
    for (const write of newestPerKey(writes)) {
      keys.push(write.key);
      values.push(asBuffer(write.value));
      expiries.push(expiryMs(write.expiresAt));
      versions.push(write.version);
    }
    await this.#pool.query({ ...this.#sql.setMany, values: [keys, values, expiries, now, versions] });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (this.#schemaMissing()) await this.ensureSchema();
    await this.#pool.query({ ...this.#sql.deleteMany, values: [keys] });
  }

  async clear(prefix: string, upTo?: string): Promise<void> {
    // Compared as text: a malformed version could sort above every real one.
    if (upTo !== undefined && !isVersion(upTo)) {
      throw new TierCacheError(
        `postgresStore.clear: upTo ${JSON.stringify(upTo)} is not 24 lowercase hex characters`,
      );
    }
    if (this.#schemaMissing()) await this.ensureSchema();
    if (upTo === undefined) await this.#pool.query(this.#sql.clear, [likePrefix(prefix)]);
    else await this.#pool.query(this.#sql.clearUpTo, [likePrefix(prefix), upTo]);
  }

  sweep(): Promise<SweepResult> {
    return this.#sweeper.sweep();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeper.close();
    if (this.#ownsPool) await this.#pool.end();
  }

  /**
   * Whether an operation must first make sure the table exists: never with
   * `ensureSchema: false`, else until the first ensureSchema() has succeeded.
   */
  #schemaMissing(): boolean {
    return this.#options.ensureSchema && !this.#schema.created;
  }
}

/**
 * Rethrows a query's error, as a {@link StoreDataError} when Postgres refused the data
 * rather than failed (SQLSTATE class 22, data exception: a value too long or out of
 * range, invalid bytes; class 23, integrity constraint violation): the server is up.
 */
function refusedData(error: unknown, key: string | undefined): never {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'))) {
    throw new StoreDataError('postgres', key, `${(error as Error).message} (SQLSTATE ${code})`, {
      cause: error,
    });
  }
  throw error;
}
