import pg from 'pg';
import { InvalidOptionError } from '../errors.js';
import { checkFactoryOptions } from '../options/validators.js';

/** Where a Postgres store or bus gets its connections: a pool of yours, or a connection string. */
export interface PgConnectionOptions {
  /** A pool of your own: used as is and left open on `close()`. Attach `pool.on('error', ...)` to it. */
  readonly pool?: pg.Pool;
  /** A connection string: the store or bus opens its own pool and ends it on `close()`. */
  readonly connectionString?: string;
}

/**
 * Validates that exactly one of `pool` and `connectionString` is given.
 * @throws InvalidOptionError naming the option at fault.
 */
export function checkPgConnection(
  options: PgConnectionOptions,
  label: string,
  known: readonly string[],
): void {
  checkFactoryOptions(options, label, 'an object', known);
  const { pool, connectionString } = options;
  if (pool === undefined && connectionString === undefined) {
    throw new InvalidOptionError('pool', 'a pg.Pool, or a `connectionString`', pool);
  }
  if (pool !== undefined && connectionString !== undefined) {
    throw new InvalidOptionError('connectionString', 'to be absent when `pool` is given', connectionString);
  }
  if (pool !== undefined && (pool === null || typeof (pool as pg.Pool).query !== 'function')) {
    throw new InvalidOptionError('pool', 'a pg.Pool', pool);
  }
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString === '')) {
    throw new InvalidOptionError('connectionString', 'a non-empty string', connectionString);
  }
}

/** The pool to use, and whether we opened it (and so must end it). Options must have passed {@link checkPgConnection}. */
export function openPgPool(options: PgConnectionOptions): { pool: pg.Pool; owned: boolean } {
  if (options.pool !== undefined) return { pool: options.pool, owned: false };
  // allowExitOnIdle: idle connections do not keep a script alive.
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    application_name: 'tiercache',
    allowExitOnIdle: true,
  });
  // An idle client whose backend dies makes the pool emit `error`; unhandled, that would
  // crash the process. The pool already drops the client; the next query opens a new
  // connection, and a failing query reaches the cache's guard.
  pool.on('error', () => {});
  return { pool, owned: true };
}
