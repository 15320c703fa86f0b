/**
 * What the bench creates on the shared servers, and its removal. Every Redis key lives
 * under `tcbench:<namespace>:` and every table in a `tcbench_…` schema, both named here
 * per use, so a run never meets another run's data and can remove exactly its own.
 *
 * Removal goes through plain clients, not the cache's `clear()`: that runs under the
 * store guard (a 50 ms timeout for Redis, a breaker), and on a busy machine the SCAN over
 * thousands of `miss:` keys outlived it or was skipped, quietly, leaving the keys for
 * their one-hour TTL. Removal is best effort: a failure is printed, never thrown, so it
 * cannot hide the error of the section it cleans up after.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

/** The prefix of every Redis key the bench writes to a shared server. */
export const KEY_PREFIX = 'tcbench:';

const suffix = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** A cache namespace for one use, unique to this run: `bench-<label>-<pid>-<random>`. */
export function benchNamespace(label: string): string {
  return `bench-${label}-${suffix()}`;
}

/** A Postgres schema for one use, unique to this run: `tcbench_<label>_<pid>_<random>`. */
export function benchSchema(label: string): string {
  return `tcbench_${label}_${suffix()}`.replace(/[^a-z0-9_]/g, '_');
}

function warn(what: string, error: unknown): void {
  console.error(`  bench: could not remove ${what}: ${(error as Error)?.message ?? String(error)}`);
}

/**
 * Deletes every key under `<prefix><namespace>:`, and the namespace's epoch keys
 * (`<namespace>#epoch:…`, written by a clear or a store's repair), by SCAN + UNLINK on a
 * client of its own.
 */
export async function removeNamespace(url: string, namespace: string, prefix = KEY_PREFIX): Promise<void> {
  const patterns = [`${prefix}${namespace}:*`, `${prefix}${namespace}#*`];
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next.toString();
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== '0');
    }
  } catch (error) {
    warn(`Redis keys ${patterns.join(', ')}`, error);
  } finally {
    client.disconnect();
  }
}

/** Drops a schema the bench created, with everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } catch (error) {
    warn(`Postgres schema ${schema}`, error);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Removes whatever this run (this pid) still has on the servers: every key under
 * `tcbench:bench-*-<pid>-` and every `tcbench_*_<pid>_*` schema. For Ctrl-C, which exits
 * without running the sections' `finally` blocks.
 */
export async function removeRunLeftovers(urls: { redis?: string; postgres?: string }): Promise<void> {
  const pid = process.pid;
  await Promise.all([
    urls.redis ? removeNamespace(urls.redis, `bench-*-${pid}-*`) : undefined,
    urls.postgres ? dropRunSchemas(urls.postgres, pid) : undefined,
  ]);
}

async function dropRunSchemas(url: string, pid: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ name: string }>(
      `SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE $1`,
      [`tcbench\\_%\\_${pid}\\_%`],
    );
    for (const { name } of rows)
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(name)} CASCADE`);
  } catch (error) {
    warn(`this run's Postgres schemas`, error);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Runs every step in turn, each even when an earlier one failed (so a cache that fails
 * to close still has its keys removed), then throws the first failure, if any.
 */
export async function inTurn(...steps: ReadonlyArray<() => unknown>): Promise<void> {
  let first: { error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      first ??= { error };
    }
  }
  if (first) throw first.error;
}
