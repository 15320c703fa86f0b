import { createHash } from 'node:crypto';
import pg from 'pg';
import { InvalidOptionError } from '../errors.js';

// Conservative on purpose: no quoting games, no case folding surprises, no `$`.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
// Expiry is stored as bigint ms; an entry that never expires (not made by the core,
// whose TTLs are bounded) is stored with the largest exact integer.
const NEVER = Number.MAX_SAFE_INTEGER;

/** A statement pg prepares once per connection under `name`. */
export interface NamedStatement {
  readonly name: string;
  readonly text: string;
}

/** Every statement a store runs on its table. */
export interface StoreStatements {
  readonly get: NamedStatement;
  readonly getMany: NamedStatement;
  readonly setOne: NamedStatement;
  readonly setMany: NamedStatement;
  readonly deleteMany: NamedStatement;
  readonly clear: string;
  readonly clearUpTo: string;
  readonly sweepExpired: string;
  readonly count: string;
  readonly evictOldest: string;
}

/**
 * A schema or table name checked against {@link IDENTIFIER}.
 * @throws InvalidOptionError naming `option` otherwise.
 */
export function identifier(option: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new InvalidOptionError(
      option,
      'an identifier of letters, digits and `_`, not starting with a digit, at most 63 characters',
      value,
    );
  }
  return value;
}

/** `"schema"."name"`: both parts quoted, for use in statement text. */
export function qualified(schema: string, name: string): string {
  return `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
}

/** An index name derived from the table's, kept within Postgres's 63-byte limit without silent truncation. */
export function indexName(table: string, suffix: string): string {
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
function statement(text: string): NamedStatement {
  return { name: `tiercache_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text };
}

/** Escapes `\`, `%` and `_` so `prefix` matches itself literally in `LIKE ... ESCAPE E'\\'`. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * An entry's expiry as stored: whole ms, `Number.MAX_SAFE_INTEGER` for an infinite one.
 * Rounded up: with integer `now`, `now < ceil(x)` holds exactly when `now < x`.
 */
export function expiryMs(expiresAt: number): number {
  return Number.isFinite(expiresAt) ? Math.min(Math.ceil(expiresAt), NEVER) : NEVER;
}

/**
 * The statements of a store over the table `t` (schema-qualified and quoted).
 *
 * Writes are conditional upserts: a row is replaced only by a write of a greater
 * version, or, whatever the version, once it has expired (`expires_at <= now`, the
 * store's clock, `$4`, also the write's `created_at`), as Redis forgets an expired key.
 * The check and the update are one statement, so concurrent writers cannot interleave:
 * ON CONFLICT locks the row before the WHERE is evaluated. Versions are compared with
 * `COLLATE "C"` (byte order, which for fixed-width lowercase hex is numeric order)
 * whatever collation a hand-made column has.
 */
export function storeStatements(t: string): StoreStatements {
  const upsert =
    'ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, ' +
    'created_at = EXCLUDED.created_at, version = EXCLUDED.version ' +
    `WHERE ${t}.version COLLATE "C" < EXCLUDED.version COLLATE "C" OR ${t}.expires_at <= $4::bigint`;
  return {
    get: statement(`SELECT value FROM ${t} WHERE key = $1 AND expires_at > $2`),
    getMany: statement(`SELECT key, value FROM ${t} WHERE key = ANY($1::text[]) AND expires_at > $2`),
    setOne: statement(
      `INSERT INTO ${t} (key, value, expires_at, created_at, version) VALUES ($1, $2, $3, $4, $5) ${upsert}`,
    ),
    setMany: statement(
      `INSERT INTO ${t} (key, value, expires_at, created_at, version) ` +
        'SELECT k, v, e, $4::bigint, r FROM unnest($1::text[], $2::bytea[], $3::bigint[], $5::text[]) ' +
        `AS w(k, v, e, r) ${upsert}`,
    ),
    deleteMany: statement(`DELETE FROM ${t} WHERE key = ANY($1::text[])`),
    // E'\\' is one backslash whatever standard_conforming_strings says ('\' is not, when off).
    clear: `DELETE FROM ${t} WHERE key LIKE $1 ESCAPE E'\\\\'`,
    // A row of a greater version was written after the clear: kept. A row from before
    // versions holds '', below every version: deleted. Each row is checked as it is
    // deleted (a row rewritten meanwhile is re-checked at its new version).
    clearUpTo: `DELETE FROM ${t} WHERE key LIKE $1 ESCAPE E'\\\\' AND version COLLATE "C" <= $2`,
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
}
