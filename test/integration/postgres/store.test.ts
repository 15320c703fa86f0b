import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, StoreDataError } from '../../../src/errors.js';
import { type PostgresStore, postgresStore } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { postgresUrlForTests } from '../../support/services.js';

// Schema names must be identifiers: no '-' as uniqueNamespace() makes.
const schema = `tc_store_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const HOUR = 3_600_000;

let url: string;
let admin: pg.Pool;
let store: PostgresStore;

beforeAll(async () => {
  url = await postgresUrlForTests();
  admin = new pg.Pool({ connectionString: url, max: 2 });
  admin.on('error', () => {});
  store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
});

afterAll(async () => {
  await store?.close();
  await admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin?.end();
});

describe('postgresStore', () => {
  it('throws StoreDataError, naming the key and the SQLSTATE, for data Postgres refuses (not an outage)', async () => {
    // A NUL byte in text: SQLSTATE 22021 (character_not_in_repertoire), a data exception.
    const error = await store.get('ns:bad\u0000key').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreDataError);
    expect(error).toMatchObject({ code: 'E_STORE_DATA', store: 'postgres', key: 'ns:bad\u0000key' });
    expect((error as Error).message).toMatch(/SQLSTATE 22021/);
    // The store is fine: the next call answers.
    expect(await store.get('ns:absent')).toBeUndefined();
  });

  it('creates its table lazily on the first operation and round-trips bytes', async () => {
    const all = new Uint8Array(256).map((_, i) => i);
    await store.setMany([
      { key: 'ns:bin', value: all, expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    const read = await store.get('ns:bin');
    expect(read).toBeDefined();
    expect([...(read as Uint8Array)]).toEqual([...all]);
    const table = await admin.query('SELECT relpersistence FROM pg_class WHERE oid = to_regclass($1)', [
      `${pg.escapeIdentifier(schema)}.tiercache_entries`,
    ]);
    // 'p' = permanent (logged); the unlogged option is tested below.
    expect(table.rows[0]?.relpersistence).toBe('p');
  });

  it('returns undefined for a missing key', async () => {
    expect(await store.get('ns:never-written')).toBeUndefined();
  });

  it('stores a view into a larger buffer as exactly its own bytes', async () => {
    const big = bytes('xxxxHELLOyyyy');
    await store.setMany([
      { key: 'ns:view', value: big.subarray(4, 9), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    expect(text(await store.get('ns:view'))).toBe('HELLO');
  });

  it('stores an empty value', async () => {
    await store.setMany([
      { key: 'ns:empty', value: new Uint8Array(0), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    const read = await store.get('ns:empty');
    expect(read).toBeDefined();
    expect(read?.byteLength).toBe(0);
  });

  it('getMany maps rows back in the order asked, with undefined for misses and repeats kept', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.setMany([
      { key: 'gm:a', value: bytes('A'), expiresAt, version: nextVersion() },
      { key: 'gm:b', value: bytes('B'), expiresAt, version: nextVersion() },
      { key: 'gm:c', value: bytes('C'), expiresAt, version: nextVersion() },
    ]);
    const read = await store.getMany(['gm:c', 'gm:missing', 'gm:a', 'gm:c', 'gm:b']);
    expect(read.map(text)).toEqual(['C', undefined, 'A', 'C', 'B']);
    expect(await store.getMany([])).toEqual([]);
  });

  it('setMany writes many rows in one call, the greatest version of a repeated key wins', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.setMany([
      { key: 'sm:1', value: bytes('one'), expiresAt, version: nextVersion() },
      { key: 'sm:2', value: bytes('two'), expiresAt, version: nextVersion() },
      { key: 'sm:1', value: bytes('uno'), expiresAt, version: nextVersion() },
      { key: 'sm:3', value: bytes('three'), expiresAt, version: nextVersion() },
      { key: 'sm:2', value: bytes('dos'), expiresAt, version: nextVersion() },
    ]);
    expect((await store.getMany(['sm:1', 'sm:2', 'sm:3'])).map(text)).toEqual(['uno', 'dos', 'three']);
  });

  it('overwrites an existing row with a new value and expiry', async () => {
    await store.setMany([
      { key: 'ow:k', value: bytes('old'), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    await store.setMany([
      { key: 'ow:k', value: bytes('new'), expiresAt: Date.now() - 1, version: nextVersion() },
    ]);
    expect(await store.get('ow:k')).toBeUndefined();
    await store.setMany([
      { key: 'ow:k', value: bytes('newer'), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    expect(text(await store.get('ow:k'))).toBe('newer');
  });

  it('never returns a row at or past its expiry, by get or getMany', async () => {
    const now = Date.now();
    await store.setMany([
      { key: 'ex:past', value: bytes('p'), expiresAt: now - 1000, version: nextVersion() },
      { key: 'ex:live', value: bytes('l'), expiresAt: now + HOUR, version: nextVersion() },
    ]);
    expect(await store.get('ex:past')).toBeUndefined();
    expect((await store.getMany(['ex:past', 'ex:live'])).map(text)).toEqual([undefined, 'l']);
  });

  it('decides expiry with its clock option, to the millisecond', async () => {
    let now = 1_000_000;
    const clocked = postgresStore({
      connectionString: url,
      schema,
      table: 'clocked',
      sweepIntervalMs: 0,
      clock: { now: () => now },
    });
    try {
      // A fractional expiry (the codec stores f64) is live strictly before it.
      await clocked.setMany([
        { key: 'k', value: bytes('v'), expiresAt: 1_000_500.5, version: nextVersion() },
      ]);
      now = 1_000_500;
      expect(text(await clocked.get('k'))).toBe('v');
      now = 1_000_501;
      expect(await clocked.get('k')).toBeUndefined();
      expect(await clocked.getMany(['k'])).toEqual([undefined]);
    } finally {
      await clocked.close();
    }
  });

  it('deleteMany removes the keys given and ignores absent ones', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.setMany([
      { key: 'dm:1', value: bytes('1'), expiresAt, version: nextVersion() },
      { key: 'dm:2', value: bytes('2'), expiresAt, version: nextVersion() },
      { key: 'dm:3', value: bytes('3'), expiresAt, version: nextVersion() },
    ]);
    await store.deleteMany(['dm:1', 'dm:3', 'dm:absent']);
    expect((await store.getMany(['dm:1', 'dm:2', 'dm:3'])).map(text)).toEqual([undefined, '2', undefined]);
    await store.deleteMany([]);
  });

  it('clear(prefix) treats %, _ and \\ in the prefix literally', async () => {
    const expiresAt = Date.now() + HOUR;
    const keys = ['c%:1', 'cX:1', 'c_:1', 'cY:1', 'c\\:1', 'c\\\\:1', 'c%', 'd%:1'];
    await store.setMany(keys.map((key) => ({ key, value: bytes(key), expiresAt, version: nextVersion() })));
    await store.clear('c%');
    expect((await store.getMany(keys)).map(text)).toEqual([
      undefined,
      'cX:1',
      'c_:1',
      'cY:1',
      'c\\:1',
      'c\\\\:1',
      undefined,
      'd%:1',
    ]);
    await store.clear('c_');
    expect(await store.get('c_:1')).toBeUndefined();
    expect(text(await store.get('cY:1'))).toBe('cY:1');
    await store.clear('c\\:');
    expect(await store.get('c\\:1')).toBeUndefined();
    expect(text(await store.get('c\\\\:1'))).toBe('c\\\\:1');
  });

  it('clear(prefix) leaves keys of other namespaces alone', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.setMany([
      { key: 'app:1', value: bytes('1'), expiresAt, version: nextVersion() },
      { key: 'app:users:1', value: bytes('u'), expiresAt, version: nextVersion() },
      { key: 'app2:1', value: bytes('2'), expiresAt, version: nextVersion() },
    ]);
    await store.clear('app:users:');
    expect((await store.getMany(['app:1', 'app:users:1', 'app2:1'])).map(text)).toEqual([
      '1',
      undefined,
      '2',
    ]);
    await store.clear('app:');
    expect((await store.getMany(['app:1', 'app2:1'])).map(text)).toEqual([undefined, '2']);
  });

  it('two stores with different tables share one pool (prepared statement names differ)', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => {});
    const a = postgresStore({ pool, schema, table: 'shared_a', sweepIntervalMs: 0 });
    const b = postgresStore({ pool, schema, table: 'shared_b', sweepIntervalMs: 0 });
    try {
      const expiresAt = Date.now() + HOUR;
      await a.setMany([{ key: 'k', value: bytes('from a'), expiresAt, version: nextVersion() }]);
      await b.setMany([{ key: 'k', value: bytes('from b'), expiresAt, version: nextVersion() }]);
      // max: 1, so both stores ran their named statements on the same connection.
      expect(text(await a.get('k'))).toBe('from a');
      expect(text(await b.get('k'))).toBe('from b');
      expect((await a.getMany(['k'])).map(text)).toEqual(['from a']);
    } finally {
      await a.close();
      await b.close();
      // A pool passed in stays open after close().
      expect((await pool.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      await pool.end();
    }
  });

  it('close() ends a pool it created', async () => {
    const owned = postgresStore({ connectionString: url, schema, table: 'owned', sweepIntervalMs: 0 });
    await owned.ensureSchema();
    await owned.close();
    await expect(owned.get('k')).rejects.toThrow();
    await owned.close();
  });

  it('unlogged: true creates an UNLOGGED table', async () => {
    const unlogged = postgresStore({
      connectionString: url,
      schema,
      table: 'unlogged',
      unlogged: true,
      sweepIntervalMs: 0,
    });
    try {
      await unlogged.ensureSchema();
      const table = await admin.query('SELECT relpersistence FROM pg_class WHERE oid = to_regclass($1)', [
        `${pg.escapeIdentifier(schema)}.unlogged`,
      ]);
      expect(table.rows[0]?.relpersistence).toBe('u');
    } finally {
      await unlogged.close();
    }
  });

  it('ensureSchema: false touches no DDL and fails clearly when the table is missing', async () => {
    const bare = postgresStore({
      connectionString: url,
      schema,
      table: 'not_created',
      ensureSchema: false,
      sweepIntervalMs: 0,
    });
    try {
      await expect(bare.get('k')).rejects.toThrow(/not_created/);
      const exists = await admin.query('SELECT to_regclass($1) AS t', [
        `${pg.escapeIdentifier(schema)}.not_created`,
      ]);
      expect(exists.rows[0]?.t).toBeNull();
      // An explicit call still creates it (for a migration step or a start-up hook).
      await bare.ensureSchema();
      await bare.setMany([
        { key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() },
      ]);
      expect(text(await bare.get('k'))).toBe('v');
    } finally {
      await bare.close();
    }
  });

  it('reports its name and default timeout', () => {
    expect(store.name).toBe('postgres');
    expect(store.defaultTimeoutMs).toBe(200);
    const custom = postgresStore({
      connectionString: url,
      timeoutMs: 50,
      sweepIntervalMs: 0,
      ensureSchema: false,
    });
    expect(custom.defaultTimeoutMs).toBe(50);
    return custom.close();
  });

  it.each([
    ['schema', { schema: 'a-b' }],
    ['schema', { schema: '' }],
    ['schema', { schema: 'x'.repeat(64) }],
    ['schema', { schema: 'pg_catalog' }],
    ['schema', { schema: 'public"; DROP TABLE t; --' }],
    ['table', { table: '1abc' }],
    ['table', { table: 'a.b' }],
    ['table', { table: "x'); DROP TABLE y--" }],
    ['sweepIntervalMs', { sweepIntervalMs: -1 }],
    ['sweepBatch', { sweepBatch: 0 }],
    ['maxRows', { maxRows: 1.5 }],
    ['timeoutMs', { timeoutMs: Number.NaN }],
    ['unlogged', { unlogged: 'yes' }],
    ['clock', { clock: Date.now }],
  ])('rejects an invalid %s with InvalidOptionError naming it', (option, extra) => {
    let error: unknown;
    try {
      postgresStore({ connectionString: 'postgres://nowhere/x', ...(extra as object) });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
    expect((error as Error).message).toContain(`\`${option}\``);
  });

  it('rejects missing or doubled connection options', () => {
    expect(() => postgresStore({})).toThrow(InvalidOptionError);
    const pool = new pg.Pool({ connectionString: url });
    expect(() => postgresStore({ pool, connectionString: url })).toThrow(/connectionString/);
    return pool.end();
  });

  it('accepts the longest identifiers and keeps index names within 63 bytes', async () => {
    const table = `t${'x'.repeat(62)}`;
    const long = postgresStore({ connectionString: url, schema, table, maxRows: 10, sweepIntervalMs: 0 });
    try {
      await long.setMany([
        { key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() },
      ]);
      expect(text(await long.get('k'))).toBe('v');
      const indexes = await admin.query<{ indexname: string }>(
        'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
        [schema, table],
      );
      // Primary key + expires_at + created_at, each with its own (untruncated) name.
      expect(indexes.rows.length).toBe(3);
      // A second store finds everything and runs no DDL (the fast path sees no missing index).
      const again = postgresStore({ connectionString: url, schema, table, maxRows: 10, sweepIntervalMs: 0 });
      await again.ensureSchema();
      await again.close();
    } finally {
      await long.close();
    }
  });
});
