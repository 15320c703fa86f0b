import pg from 'pg';
import { indexName, qualified } from './sql.js';

/**
 * The `version` column (issue 17): a write's version, 24 lowercase hex characters,
 * compared as bytes. Rows a release without versions wrote get `''`, older than any
 * version, so the first versioned write of their key replaces them.
 */
const VERSION_COLUMN = `version text COLLATE "C" NOT NULL DEFAULT ''`;

/**
 * SQL: whether the table `relation` (an expression of type regclass) has the `version`
 * column; false when `relation` is null (no table).
 */
function versionColumnExists(relation: string): string {
  return (
    `EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${relation} ` +
    "AND attname = 'version' AND NOT attisdropped)"
  );
}

/** What the DDL creates: a table and its indexes. */
export interface TableSpec {
  readonly schema: string;
  readonly table: string;
  readonly unlogged: boolean;
  /** With a row bound the sweeper evicts by `created_at`, which then needs an index. */
  readonly maxRows: number | undefined;
}

/**
 * Creates the schema, table and indexes of `spec` if missing, and adds the `version`
 * column to a table made without it. Runs no DDL when all of them exist, and otherwise
 * runs it under a transaction-scoped advisory lock, so that many instances starting at
 * once neither race nor fail.
 */
export function createTable(pool: pg.Pool, spec: TableSpec): Promise<void> {
  return transaction(
    pool,
    (client) => runDdl(client, spec),
    async (client) => {
      // Fast path without DDL: when everything exists (made by migrations or another
      // instance), a user without CREATE rights on the database still starts.
      const found = await client.query<{ missing: number; versioned: boolean }>(
        'SELECT (SELECT count(*)::int FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NULL) AS missing, ' +
          `${versionColumnExists('to_regclass($2)')} AS versioned`,
        [wantedRelations(spec), qualified(spec.schema, spec.table)],
      );
      return found.rows[0]?.missing === 0 && found.rows[0]?.versioned === true;
    },
  );
}

/**
 * Runs `run` on a pooled connection inside a transaction, unless `skip` (asked first, on
 * the same connection) says there is nothing to do. A failed ROLLBACK discards the
 * connection instead of returning it to the pool.
 */
export async function transaction(
  pool: pg.Pool,
  run: (client: pg.PoolClient) => Promise<void>,
  skip?: (client: pg.PoolClient) => Promise<boolean>,
): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    if (skip !== undefined && (await skip(client))) return;
    await client.query('BEGIN');
    try {
      await run(client);
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

/** The qualified names of the table and the indexes `spec` needs. */
function wantedRelations({ schema, table, maxRows }: TableSpec): string[] {
  const wanted = [qualified(schema, table), qualified(schema, indexName(table, 'expires_at_idx'))];
  if (maxRows !== undefined) wanted.push(qualified(schema, indexName(table, 'created_at_idx')));
  return wanted;
}

/** The DDL itself, inside the caller's transaction. */
async function runDdl(client: pg.PoolClient, { schema, table, unlogged, maxRows }: TableSpec): Promise<void> {
  const { escapeIdentifier } = pg;
  const t = qualified(schema, table);
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
      `expires_at bigint NOT NULL, created_at bigint NOT NULL, ${VERSION_COLUMN})`,
  );
  // A table made by a release without versions: add the column. A constant default
  // makes this a catalog change (no table rewrite). Checked first, because ALTER TABLE
  // takes an exclusive lock on the table even when IF NOT EXISTS finds the column.
  const versioned = await client.query<{ versioned: boolean }>(
    `SELECT ${versionColumnExists('$1::regclass')} AS versioned`,
    [t],
  );
  if (!versioned.rows[0]?.versioned)
    await client.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${VERSION_COLUMN}`);
  const expiresIndex = escapeIdentifier(indexName(table, 'expires_at_idx'));
  await client.query(`CREATE INDEX IF NOT EXISTS ${expiresIndex} ON ${t} (expires_at)`);
  if (maxRows !== undefined) {
    const createdIndex = escapeIdentifier(indexName(table, 'created_at_idx'));
    await client.query(`CREATE INDEX IF NOT EXISTS ${createdIndex} ON ${t} (created_at)`);
  }
}

/**
 * Runs {@link createTable} at most once: concurrent callers share one attempt, a
 * success is remembered, a failure forgotten so that the next call retries (the
 * database may come up later).
 */
export class SchemaOnce {
  readonly #create: () => Promise<void>;
  #created = false;
  #pending: Promise<void> | undefined;

  /** @param create the attempt to run (at most once successfully). */
  constructor(create: () => Promise<void>) {
    this.#create = create;
  }

  /** Whether a call has succeeded. */
  get created(): boolean {
    return this.#created;
  }

  /** Creates the table unless a call already succeeded; shares an attempt under way. */
  ensure(): Promise<void> {
    if (this.#created) return Promise.resolve();
    this.#pending ??= this.#create().then(
      () => {
        this.#created = true;
      },
      (error: unknown) => {
        this.#pending = undefined;
        throw error;
      },
    );
    return this.#pending;
  }
}
