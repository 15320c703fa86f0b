import { createHash } from 'node:crypto';
import pg from 'pg';
import { InvalidOptionError } from '../errors.js';
import { checkKnownKeys, isObject } from '../options/validators.js';
import { MAX_NOTIFY_PAYLOAD_BYTES, postgresChannel } from './payload.js';
import { transaction } from './schema.js';
import { keyExpression, parseKeyShape } from './trigger-key.js';

/** Options of {@link installInvalidationTrigger}. */
export interface InvalidationTriggerOptions {
  /** The table whose writes invalidate the cache. Any name: it is quoted, never spliced. */
  readonly table: string;
  /** Its schema. Default `'public'`. */
  readonly schema?: string;
  /** The cache's namespace (its `namespace` option). */
  readonly namespace: string;
  /**
   * The cache key of a row, relative to the namespace: a template whose `{column}`
   * placeholders take the row's values (`'user:{id}'`, `'org:{org_id}:member:{user_id}'`),
   * or a list of columns, whose values are joined with `:` (`['id']` is `'{id}'`). Every
   * column must exist in the table; a row whose key column is NULL invalidates nothing.
   */
  readonly key: string | readonly string[];
  /**
   * The L3 table of the cache (its `postgresStore`'s `table`), whose rows of the changed
   * keys the trigger replaces with tombstones in the writing transaction. Default
   * `'tiercache_entries'`; `false` for none (no Postgres L3).
   */
  readonly cacheTable?: string | false;
  /** The L3 table's schema (its `postgresStore`'s `schema`). Default `'public'`. */
  readonly cacheSchema?: string;
}

/** Options of {@link uninstallInvalidationTrigger}: which table and namespace. */
export type UninstallTriggerOptions = Pick<InvalidationTriggerOptions, 'table' | 'schema' | 'namespace'>;

const INSTALL_OPTIONS = ['table', 'schema', 'namespace', 'key', 'cacheTable', 'cacheSchema'];
const NAMESPACE = /^[A-Za-z0-9_.\-/]{1,128}$/;
// The tombstones' life in L3, as the cache's shortest (the instances write their own too).
const TOMBSTONE_MS = 60_000;
// Room left in a payload for its fixed part (origin, op, brackets).
const CHUNK_BYTES = MAX_NOTIFY_PAYLOAD_BYTES - 200;
const ORIGIN = 'tiercache-trigger';

/**
 * Makes writes to `table` by anyone (psql, a migration, a service that never heard of
 * tiercache) invalidate the cache: after each INSERT, UPDATE or DELETE statement, the
 * keys of the rows it touched (old and new) are
 * - replaced in the cache's L3 table by versioned tombstones, in the writing
 *   transaction (so L3 serves nothing older once it commits), and
 * - sent on the namespace's Postgres bus channel (`pg_notify`, delivered at COMMIT, never
 *   for a rolled-back transaction), marked external, in as many notifications as the
 *   8000-byte payload limit needs. Every cache instance on a `postgresBus` drops them
 *   from L1 and writes tombstones into every store (Redis L2 included) at a version of
 *   its own, taken after the commit, so a load that read the old row loses everywhere.
 *
 * Statement-level triggers with transition tables (one per event, as Postgres requires):
 * a bulk UPDATE of 10,000 rows runs the function once. The function is `SECURITY
 * DEFINER` (the installer's rights on the L3 table), with a fixed `search_path`.
 *
 * Idempotent, and safe when many instances install at once (under a transaction-scoped
 * advisory lock); installing again replaces the key shape. Names are quoted and the
 * template's text escaped as literals: nothing given is spliced into SQL.
 *
 * Why the Postgres bus and not a relay onto Redis: NOTIFY is transactional (sent at
 * COMMIT, in commit order) and every instance listens itself, so no extra process can
 * be down and lose invalidations; with a Redis bus, give the caches a `postgresBus`
 * as their bus where the database is written outside the cache.
 *
 * @throws InvalidOptionError naming the option (unknown option, bad name, a template
 *   without placeholders or with unknown columns, a missing table).
 * @example
 * ```ts
 * await installInvalidationTrigger(pool, { table: 'users', namespace: 'app', key: 'user:{id}' });
 * ```
 */
export async function installInvalidationTrigger(
  pool: pg.Pool,
  options: InvalidationTriggerOptions,
): Promise<void> {
  const spec = resolveInstall(options);
  await underLock(pool, async (client) => {
    const relation = await findTable(client, spec.schema, spec.table);
    const columns = await client.query<{ name: string }>(
      'SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped',
      [relation],
    );
    const known = new Set(columns.rows.map((row) => row.name));
    for (const column of spec.shape.columns) {
      if (!known.has(column)) throw new InvalidOptionError('key', `columns of ${relation}`, column);
    }
    const names = triggerNames(spec);
    await client.query(functionDdl(spec, names.fn));
    for (const [event, trigger, referencing] of triggerEvents(names)) {
      await client.query(`DROP TRIGGER IF EXISTS ${pg.escapeIdentifier(trigger)} ON ${relation}`);
      await client.query(
        `CREATE TRIGGER ${pg.escapeIdentifier(trigger)} AFTER ${event} ON ${relation} ` +
          `REFERENCING ${referencing} FOR EACH STATEMENT EXECUTE FUNCTION ${names.fn}()`,
      );
    }
  });
}

/**
 * Removes what {@link installInvalidationTrigger} made for `table` and `namespace`.
 * Idempotent: nothing installed (or no table) is not an error.
 */
export async function uninstallInvalidationTrigger(
  pool: pg.Pool,
  options: UninstallTriggerOptions,
): Promise<void> {
  if (!isObject(options)) throw new InvalidOptionError('options', 'an object { table, namespace }', options);
  checkKnownKeys(options, ['table', 'schema', 'namespace']);
  const spec = {
    table: name('table', options.table),
    schema: name('schema', options.schema ?? 'public'),
    namespace: namespace(options.namespace),
  };
  await underLock(pool, async (client) => {
    const names = triggerNames(spec);
    const relation = qualified(spec.schema, spec.table);
    const exists = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [relation]);
    if (exists.rows[0]?.r != null) {
      for (const [, trigger] of triggerEvents(names)) {
        await client.query(`DROP TRIGGER IF EXISTS ${pg.escapeIdentifier(trigger)} ON ${relation}`);
      }
    }
    await client.query(`DROP FUNCTION IF EXISTS ${names.fn}()`);
  });
}

interface InstallSpec {
  readonly table: string;
  readonly schema: string;
  readonly namespace: string;
  readonly shape: ReturnType<typeof parseKeyShape>;
  readonly cache: string | undefined;
}

function resolveInstall(options: InvalidationTriggerOptions): InstallSpec {
  if (!isObject(options)) {
    throw new InvalidOptionError('options', 'an object { table, namespace, key }', options);
  }
  checkKnownKeys(options, INSTALL_OPTIONS);
  const cacheTable = options.cacheTable ?? 'tiercache_entries';
  return {
    table: name('table', options.table),
    schema: name('schema', options.schema ?? 'public'),
    namespace: namespace(options.namespace),
    shape: parseKeyShape(options.key),
    cache:
      cacheTable === false
        ? undefined
        : qualified(name('cacheSchema', options.cacheSchema ?? 'public'), name('cacheTable', cacheTable)),
  };
}

/** A Postgres name: any non-empty text of at most 63 bytes without NUL (it is quoted wherever used). */
function name(option: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    Buffer.byteLength(value) > 63 ||
    value.includes('\u0000')
  ) {
    throw new InvalidOptionError(option, 'a name of 1-63 bytes without NUL', value);
  }
  return value;
}

function namespace(value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE.test(value)) {
    throw new InvalidOptionError('namespace', 'a string of 1-128 characters from [A-Za-z0-9_.-/]', value);
  }
  return value;
}

function qualified(schema: string, table: string): string {
  return `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
}

/** The quoted, qualified name of the table, or InvalidOptionError naming `table` when it does not exist. */
async function findTable(client: pg.PoolClient, schema: string, table: string): Promise<string> {
  const relation = qualified(schema, table);
  const found = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [relation]);
  if (found.rows[0]?.r == null) throw new InvalidOptionError('table', 'an existing table', relation);
  return relation;
}

/** The function's (qualified) and the triggers' names: derived from the table and namespace, so each pair has its own. */
function triggerNames(spec: { schema: string; table: string; namespace: string }): {
  fn: string;
  base: string;
} {
  const hash = createHash('sha1')
    .update(`${spec.schema}\u0000${spec.table}\u0000${spec.namespace}`)
    .digest('hex')
    .slice(0, 16);
  const base = `tiercache_inv_${hash}`;
  return { fn: qualified(spec.schema, base), base };
}

function triggerEvents(names: { base: string }): Array<[string, string, string]> {
  return [
    ['INSERT', `${names.base}_i`, 'NEW TABLE AS tiercache_new'],
    ['UPDATE', `${names.base}_u`, 'OLD TABLE AS tiercache_old NEW TABLE AS tiercache_new'],
    ['DELETE', `${names.base}_d`, 'OLD TABLE AS tiercache_old'],
  ];
}

/** Runs `run` in a transaction holding the lock every install and uninstall takes. */
function underLock(pool: pg.Pool, run: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  return transaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('tiercache:trigger', 0))");
    await run(client);
  });
}

/** The trigger function: keys of the statement's rows, tombstones in L3, chunked NOTIFY. */
function functionDdl(spec: InstallSpec, fn: string): string {
  const lit = pg.escapeLiteral;
  const row = (alias: string) => keyExpression(spec.shape, alias);
  const head = `{"origin":${JSON.stringify(ORIGIN)},"op":"delete","external":true,"keys":[`;
  const clear = `{"origin":${JSON.stringify(ORIGIN)},"op":"clear","external":true,"keys":[""]}`;
  const channel = lit(postgresChannel(spec.namespace));
  const l3 =
    spec.cache === undefined
      ? ''
      : `
  IF to_regclass(${lit(spec.cache)}) IS NOT NULL THEN
    v := lpad(to_hex(ms), 12, '0') || 'ffffffffffff';
    SELECT decode(string_agg(substr(h, 15 - 2 * i, 2), '' ORDER BY i), 'hex') INTO t_now
      FROM (SELECT encode(float8send(ms::float8), 'hex') AS h) s, generate_series(0, 7) i;
    SELECT decode(string_agg(substr(h, 15 - 2 * i, 2), '' ORDER BY i), 'hex') INTO t_exp
      FROM (SELECT encode(float8send((ms + ${TOMBSTONE_MS})::float8), 'hex') AS h) s, generate_series(0, 7) i;
    -- The entry codec's tombstone: magic, format 2, flag "deleted", three times, the version.
    EXECUTE ${lit(`UPDATE ${spec.cache} SET value = $1, version = $2, expires_at = $3, created_at = $4 WHERE key = ANY($5) AND version COLLATE "C" < $2`)}
      USING decode('740202', 'hex') || t_now || t_now || t_exp || decode(v, 'hex'), v, ms + ${TOMBSTONE_MS}, ms,
        (SELECT array_agg(${lit(`${spec.namespace}:`)} || x) FROM unnest(keys) AS x);
  END IF;`;
  const body = `
DECLARE
  keys text[];
  ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
  v text;
  t_now bytea;
  t_exp bytea;
  chunk text := '';
  n int := 0;
  k text;
  item text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT x) INTO keys FROM (SELECT ${row('r')} AS x FROM tiercache_new r) s WHERE x IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT x) INTO keys FROM (SELECT ${row('r')} AS x FROM tiercache_old r) s WHERE x IS NOT NULL;
  ELSE
    SELECT array_agg(DISTINCT x) INTO keys FROM (SELECT ${row('r')} AS x FROM tiercache_old r
      UNION ALL SELECT ${row('r')} FROM tiercache_new r) s WHERE x IS NOT NULL;
  END IF;
  IF keys IS NULL THEN RETURN NULL; END IF;${l3}
  FOREACH k IN ARRAY keys LOOP
    item := to_json(k)::text;
    IF octet_length(item) > ${CHUNK_BYTES} THEN
      -- A key too long for any notification: clear the namespace rather than miss it.
      PERFORM pg_notify(${channel}, ${lit(clear)});
      CONTINUE;
    END IF;
    IF n > 0 AND octet_length(chunk) + octet_length(item) + 1 > ${CHUNK_BYTES} THEN
      PERFORM pg_notify(${channel}, ${lit(head)} || chunk || ']}');
      chunk := '';
      n := 0;
    END IF;
    chunk := CASE WHEN n = 0 THEN item ELSE chunk || ',' || item END;
    n := n + 1;
  END LOOP;
  IF n > 0 THEN PERFORM pg_notify(${channel}, ${lit(head)} || chunk || ']}'); END IF;
  RETURN NULL;
END
`;
  // The body is dollar-quoted: its tag must not occur in it (a namespace or a template's
  // text could hold one), or the body would end early.
  let tag = '$tiercache$';
  for (let i = 0; body.includes(tag); i++) tag = `$tiercache${i}$`;
  return (
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER ` +
    `SET search_path = pg_catalog, pg_temp AS ${tag}${body}${tag}`
  );
}
