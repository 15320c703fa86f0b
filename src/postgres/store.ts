import { createHash } from 'node:crypto';
import pg from 'pg';
import { InvalidOptionError } from '../errors.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';
import { checkPgConnection, openPgPool } from './pool.js';

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

/** What one {@link PostgresStore.sweep} deleted. */
export interface SweepResult {
  /** Rows deleted because they had expired. */
  readonly expired: number;
  /** Rows deleted because the table held more than `maxRows`. */
  readonly evicted: number;
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

// Conservative on purpose: no quoting games, no case folding surprises, no `$`.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
// Longest run of sweep statements in one sweep, so one call cannot loop for minutes.
const MAX_SWEEP_ROUNDS = 100;
// Expiry is stored as bigint ms; an entry that never expires (not made by the core,
// whose TTLs are bounded) is stored with the largest exact integer.
const NEVER = Number.MAX_SAFE_INTEGER;

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
  checkPgConnection(options, 'postgresStore');
  const schema = identifier('schema', options.schema ?? 'public');
  // Postgres reserves the pg_ prefix for system schemas and refuses to create one.
  if (/^pg_/i.test(schema)) {
    throw new InvalidOptionError('schema', 'a name not starting with `pg_` (reserved by Postgres)', schema);
  }
  const table = identifier('table', options.table ?? 'tiercache_entries');
  const clock = options.clock ?? { now: Date.now };
  if (clock === null || typeof clock !== 'object' || typeof clock.now !== 'function') {
    throw new InvalidOptionError('clock', 'an object with a now() function', clock);
  }
  return Object.freeze({
    schema,
    table,
    unlogged: flag('unlogged', options.unlogged, false),
    ensureSchema: flag('ensureSchema', options.ensureSchema, true),
    sweepIntervalMs: integer('sweepIntervalMs', options.sweepIntervalMs ?? 60_000, 0),
    sweepBatch: integer('sweepBatch', options.sweepBatch ?? 1000, 1),
    maxRows: options.maxRows === undefined ? undefined : integer('maxRows', options.maxRows, 1),
    timeoutMs: integer('timeoutMs', options.timeoutMs ?? 200, 1),
    clock,
  });
}

function identifier(option: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new InvalidOptionError(
      option,
      'an identifier of letters, digits and `_`, not starting with a digit, at most 63 characters',
      value,
    );
  }
  return value;
}

function flag(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, 'a boolean', value);
  return value;
}

function integer(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, `an integer >= ${min}`, value);
  }
  return value;
}

/** An index name derived from the table's, kept within Postgres's 63-byte limit without silent truncation. */
function indexName(table: string, suffix: string): string {
  const name = `${table}_${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - hash.length - 2)}_${hash}_${suffix}`;
}

/**
 * A named (prepared) statement. pg prepares a name once per connection and refuses the
 * same name with another text, and two stores on one pool differ only in their table:
 * so the name is a hash of the full text.
 */
function statement(text: string): { name: string; text: string } {
  return { name: `tiercache_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text };
}

/** Escapes `\`, `%` and `_` so `prefix` matches itself literally in `LIKE ... ESCAPE '\'`. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

// Rounded up: with integer `now`, `now < ceil(x)` holds exactly when `now < x`.
function expiryMs(expiresAt: number): number {
  return Number.isFinite(expiresAt) ? Math.min(Math.ceil(expiresAt), NEVER) : NEVER;
}

/**
 * The L3 store over one Postgres table:
 *
 *     key        text COLLATE "C" PRIMARY KEY
 *     value      bytea  NOT NULL          -- the encoded entry envelope
 *     expires_at bigint NOT NULL          -- ms since the epoch, as the cache made it
 *     created_at bigint NOT NULL          -- ms since the epoch of the last write
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
 *   index, and key comparisons skip locale rules.
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
  return new PgStore(options);
}

class PgStore implements PostgresStore {
  readonly name = 'postgres';
  readonly defaultTimeoutMs: number;
  readonly qualifiedTable: string;

  private readonly options: Resolved;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  // Operations skip the schema step once this is true: from the start with
  // `ensureSchema: false`, else after the first successful ensureSchema().
  private schemaReady: boolean;
  private schemaCreated = false;
  private schemaPromise: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<SweepResult> | undefined;
  private closed = false;

  private readonly sql: {
    readonly get: { name: string; text: string };
    readonly getMany: { name: string; text: string };
    readonly setOne: { name: string; text: string };
    readonly setMany: { name: string; text: string };
    readonly deleteMany: { name: string; text: string };
    readonly clear: string;
    readonly sweepExpired: string;
    readonly count: string;
    readonly evictOldest: string;
  };

  constructor(options: PostgresStoreOptions) {
    this.options = resolve(options);
    this.defaultTimeoutMs = this.options.timeoutMs;
    const { pool, owned } = openPgPool(options);
    this.pool = pool;
    this.ownsPool = owned;
    this.schemaReady = !this.options.ensureSchema;

    const { escapeIdentifier } = pg;
    const t = `${escapeIdentifier(this.options.schema)}.${escapeIdentifier(this.options.table)}`;
    this.qualifiedTable = t;
    this.sql = {
      get: statement(`SELECT value FROM ${t} WHERE key = $1 AND expires_at > $2`),
      getMany: statement(`SELECT key, value FROM ${t} WHERE key = ANY($1::text[]) AND expires_at > $2`),
      setOne: statement(
        `INSERT INTO ${t} (key, value, expires_at, created_at) VALUES ($1, $2, $3, $4) ` +
          'ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, ' +
          'created_at = EXCLUDED.created_at',
      ),
      setMany: statement(
        `INSERT INTO ${t} (key, value, expires_at, created_at) ` +
          'SELECT k, v, e, $4::bigint FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS w(k, v, e) ' +
          'ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, ' +
          'created_at = EXCLUDED.created_at',
      ),
      deleteMany: statement(`DELETE FROM ${t} WHERE key = ANY($1::text[])`),
      clear: `DELETE FROM ${t} WHERE key LIKE $1 ESCAPE '\\'`,
      // SKIP LOCKED: several instances sweeping at once take different rows instead of
      // queueing on the same ones; a row being rewritten right now is left for next time.
      sweepExpired:
        `DELETE FROM ${t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t} WHERE expires_at <= $1 ` +
        'LIMIT $2 FOR UPDATE SKIP LOCKED))',
      count: `SELECT count(*)::bigint AS n FROM ${t}`,
      evictOldest:
        `DELETE FROM ${t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t} ORDER BY created_at ` +
        'LIMIT $1 FOR UPDATE SKIP LOCKED))',
    };

    if (this.options.sweepIntervalMs > 0) this.scheduleSweep();
  }

  ensureSchema(): Promise<void> {
    // With `ensureSchema: false` operations never call this, but an explicit call still creates.
    if (this.schemaCreated) return Promise.resolve();
    this.schemaPromise ??= this.createSchema().then(
      () => {
        this.schemaCreated = true;
        this.schemaReady = true;
      },
      (error: unknown) => {
        // Forget the failure so a later call retries (the database may come up later).
        this.schemaPromise = undefined;
        throw error;
      },
    );
    return this.schemaPromise;
  }

  private async createSchema(): Promise<void> {
    const { schema, table, unlogged, maxRows } = this.options;
    const { escapeIdentifier } = pg;
    const expiresIndex = indexName(table, 'expires_at_idx');
    const createdIndex = indexName(table, 'created_at_idx');
    const wanted = [`${escapeIdentifier(schema)}.${escapeIdentifier(table)}`];
    wanted.push(`${escapeIdentifier(schema)}.${escapeIdentifier(expiresIndex)}`);
    if (maxRows !== undefined) wanted.push(`${escapeIdentifier(schema)}.${escapeIdentifier(createdIndex)}`);

    const client = await this.pool.connect();
    let broken = false;
    try {
      // Fast path without DDL: when everything exists (made by migrations or another
      // instance), a user without CREATE rights on the database still starts.
      const found = await client.query<{ missing: number }>(
        'SELECT count(*)::int AS missing FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NULL',
        [wanted],
      );
      if (found.rows[0]?.missing === 0) return;

      const t = this.qualifiedTable;
      await client.query('BEGIN');
      try {
        // `IF NOT EXISTS` alone races: two sessions both see no table and one fails on
        // a unique violation in pg_type. One lock for all tiercache DDL serialises them
        // (also two stores creating different tables in one new schema); it is released
        // at COMMIT, so later starters find everything and do nothing.
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('tiercache:ensureSchema', 0))");
        const schemaExists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
        if (schemaExists.rowCount === 0)
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(schema)}`);
        await client.query(
          `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${t} (` +
            'key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, ' +
            'expires_at bigint NOT NULL, created_at bigint NOT NULL)',
        );
        await client.query(
          `CREATE INDEX IF NOT EXISTS ${escapeIdentifier(expiresIndex)} ON ${t} (expires_at)`,
        );
        if (maxRows !== undefined) {
          await client.query(
            `CREATE INDEX IF NOT EXISTS ${escapeIdentifier(createdIndex)} ON ${t} (created_at)`,
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!this.schemaReady) await this.ensureSchema();
    const result = await this.pool.query<{ value: Buffer }>({
      ...this.sql.get,
      values: [key, this.options.clock.now()],
    });
    return result.rows[0]?.value;
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return [];
    if (!this.schemaReady) await this.ensureSchema();
    const result = await this.pool.query<{ key: string; value: Buffer }>({
      ...this.sql.getMany,
      values: [keys, this.options.clock.now()],
    });
    const found = new Map<string, Buffer>();
    for (const row of result.rows) found.set(row.key, row.value);
    return keys.map((key) => found.get(key));
  }

  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    if (!this.schemaReady) await this.ensureSchema();
    const now = this.options.clock.now();
    if (writes.length === 1) {
      const write = writes[0] as StoreWrite;
      // One row: plain parameters, so pg sends the bytes in binary instead of a hex array literal.
      await this.pool.query({
        ...this.sql.setOne,
        values: [write.key, toBuffer(write.value), expiryMs(write.expiresAt), now],
      });
      return;
    }
    // ON CONFLICT DO UPDATE cannot touch one row twice in a statement: keep the last
    // write of each key, as if the writes had run in order.
    const last = new Map<string, StoreWrite>();
    for (const write of writes) {
      last.delete(write.key);
      last.set(write.key, write);
    }
    const keys: string[] = [];
    const values: Buffer[] = [];
    const expiries: number[] = [];
    for (const write of last.values()) {
      keys.push(write.key);
      values.push(toBuffer(write.value));
      expiries.push(expiryMs(write.expiresAt));
    }
    await this.pool.query({ ...this.sql.setMany, values: [keys, values, expiries, now] });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!this.schemaReady) await this.ensureSchema();
    await this.pool.query({ ...this.sql.deleteMany, values: [keys] });
  }

  async clear(prefix: string): Promise<void> {
    if (!this.schemaReady) await this.ensureSchema();
    await this.pool.query(this.sql.clear, [likePrefix(prefix)]);
  }

  sweep(): Promise<SweepResult> {
    // One sweep at a time per store: the timer and a direct call share the run.
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async runSweep(): Promise<SweepResult> {
    if (!this.schemaReady) await this.ensureSchema();
    const { sweepBatch, maxRows, clock } = this.options;
    let expired = 0;
    for (let round = 0; round < MAX_SWEEP_ROUNDS && !this.closed; round++) {
      const result = await this.pool.query(this.sql.sweepExpired, [clock.now(), sweepBatch]);
      expired += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < sweepBatch) break;
    }
    let evicted = 0;
    if (maxRows !== undefined && !this.closed) {
      // count(*) reads the whole table (an index-only scan at best): fine once per sweep
      // interval, never per request.
      const counted = await this.pool.query<{ n: string }>(this.sql.count);
      let excess = Number(counted.rows[0]?.n ?? 0) - maxRows;
      for (let round = 0; excess > 0 && round < MAX_SWEEP_ROUNDS && !this.closed; round++) {
        const result = await this.pool.query(this.sql.evictOldest, [Math.min(excess, sweepBatch)]);
        const deleted = result.rowCount ?? 0;
        evicted += deleted;
        excess -= deleted;
        // Every candidate was locked by another sweeper: it is doing the work.
        if (deleted === 0) break;
      }
    }
    return { expired, evicted };
  }

  private scheduleSweep(): void {
    const { sweepIntervalMs } = this.options;
    // +-20% so instances started together do not sweep in lockstep.
    const delay = Math.round(sweepIntervalMs * (0.8 + 0.4 * Math.random()));
    this.sweepTimer = setTimeout(() => {
      this.sweep()
        // A failed sweep (database down) is retried next interval; reads stay correct
        // meanwhile because they filter expired rows themselves.
        .catch(() => {})
        .finally(() => {
          if (!this.closed) this.scheduleSweep();
        });
    }, delay);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    // Let a running sweep finish its statement before the pool goes away.
    await this.sweeping?.catch(() => {});
    if (this.ownsPool) await this.pool.end();
  }
}
