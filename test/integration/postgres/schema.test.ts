import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../../src/errors.js';
import { type PostgresStore, postgresStore } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { postgresUrlForTests } from '../../support/services.js';

const run = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const HOUR = 3_600_000;

let url: string;
let admin: pg.Pool;
const schemas: string[] = [];

function freshSchema(label: string): string {
  const schema = `tc_${label}_${run}`;
  schemas.push(schema);
  return schema;
}

beforeAll(async () => {
  url = await postgresUrlForTests();
  admin = new pg.Pool({ connectionString: url, max: 2 });
  admin.on('error', () => {});
});

afterAll(async () => {
  for (const schema of schemas)
    await admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin?.end();
});

describe('ensureSchema', () => {
  it('8 instances creating the same fresh schema at once all succeed', async () => {
    const schema = freshSchema('race');
    // Each store has its own pool, so the DDL really runs on 8 connections at once.
    const stores = Array.from({ length: 8 }, () =>
      postgresStore({ connectionString: url, schema, maxRows: 1000, sweepIntervalMs: 0 }),
    );
    try {
      const results = await Promise.allSettled(stores.map((store) => store.ensureSchema()));
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      // And all of them work on the one table.
      await Promise.all(
        stores.map((store, i) =>
          store.setMany([
            { key: `k${i}`, value: bytes(String(i)), expiresAt: Date.now() + HOUR, version: nextVersion() },
          ]),
        ),
      );
      const count = await admin.query(
        `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schema)}.tiercache_entries`,
      );
      expect(count.rows[0]?.n).toBe(8);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('8 instances whose first operation is a write on a fresh schema all succeed', async () => {
    const schema = freshSchema('lazyrace');
    const stores = Array.from({ length: 8 }, () =>
      postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 }),
    );
    try {
      const results = await Promise.allSettled(
        stores.map((store, i) =>
          store.setMany([
            { key: `k${i}`, value: bytes(String(i)), expiresAt: Date.now() + HOUR, version: nextVersion() },
          ]),
        ),
      );
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      expect((await stores[0]!.getMany(['k0', 'k7'])).map(text)).toEqual(['0', '7']);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('runs once per store, shared by concurrent first operations, and is idempotent afterwards', async () => {
    const schema = freshSchema('once');
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => {});
    let checks = 0;
    // Count the schema checks by the statement that starts ensureSchema on any client.
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0].includes('to_regclass')) checks++;
        return query(...args);
      };
    });
    const store = postgresStore({ pool, schema, sweepIntervalMs: 0 });
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.get(`k${i}`)));
      expect(checks).toBe(1);
      await store.ensureSchema();
      await store.ensureSchema();
      expect(checks).toBe(1);
      // A second store on an existing table does the check and no DDL; ensureSchema twice is harmless.
      const second = postgresStore({ pool, schema, sweepIntervalMs: 0 });
      await second.ensureSchema();
      expect(checks).toBe(2);
      await second.close();
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('retries after a failed attempt instead of caching the failure', async () => {
    const schema = freshSchema('retry');
    // A table of the same name with the wrong shape makes the index creation fail.
    await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
    await admin.query(`CREATE TABLE ${pg.escapeIdentifier(schema)}.tiercache_entries (other int)`);
    const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
    try {
      await expect(store.get('k')).rejects.toThrow(/expires_at/);
      await admin.query(`DROP TABLE ${pg.escapeIdentifier(schema)}.tiercache_entries`);
      await store.setMany([
        { key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() },
      ]);
      expect(text(await store.get('k'))).toBe('v');
    } finally {
      await store.close();
    }
  });
});

describe('SQL injection', () => {
  let schema: string;
  let store: PostgresStore;
  const canary = () => `${pg.escapeIdentifier(schema)}.canary`;

  beforeAll(async () => {
    schema = freshSchema('inject');
    await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
    await admin.query(`CREATE TABLE ${canary()} (id int)`);
    await admin.query(`INSERT INTO ${canary()} VALUES (1), (2), (3)`);
    store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
  });

  afterAll(async () => {
    await store?.close();
  });

  async function canaryRows(): Promise<number> {
    return (await admin.query(`SELECT count(*)::int AS n FROM ${canary()}`)).rows[0]?.n;
  }

  it.each([
    ['schema', `public"; DROP TABLE canary; --`],
    ['schema', `x'); DROP TABLE canary;--`],
    ['table', `tiercache_entries; DROP TABLE canary`],
    ['table', `t" (key text); DROP TABLE canary; --`],
    ['table', 'a\\b'],
    ['table', 'a%'],
    ['table', 'ta\u0000ble'],
  ])('refuses a %s of %j before touching the database', async (option, name) => {
    let error: unknown;
    try {
      postgresStore({ connectionString: url, [option]: name });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
    expect(await canaryRows()).toBe(3);
  });

  const hostile = [
    "x'); DROP TABLE canary;--",
    `x"); DROP TABLE canary;--`,
    "'; DELETE FROM canary; SELECT '",
    "' OR '1'='1",
    'back\\slash',
    'trailing\\',
    '\\x00ff',
    '100%',
    '%',
    '_',
    'a_b',
    '$1',
    '$$; DROP TABLE canary; $$',
    '{"a","b"}',
    '{a,b}',
    'comma,brace}',
    'NULL',
    'null',
    'ünïcödé ключ 键 🔑',
    'line\nbreak\ttab',
    ' ',
  ];

  it('stores, reads and deletes hostile keys as plain data', async () => {
    const expiresAt = Date.now() + HOUR;
    await store.setMany(
      hostile.map((key) => ({ key, value: bytes(`v:${key}`), expiresAt, version: nextVersion() })),
    );
    const table = `${pg.escapeIdentifier(schema)}.tiercache_entries`;
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n).toBe(hostile.length);
    // Exactly the keys written, byte for byte (array literals built by pg escape `{`, `,` and `"`).
    const stored = (await admin.query<{ key: string }>(`SELECT key FROM ${table}`)).rows.map(
      (row) => row.key,
    );
    expect(stored.sort()).toEqual([...hostile].sort());
    expect((await store.getMany(hostile)).map(text)).toEqual(hostile.map((key) => `v:${key}`));
    for (const key of hostile) expect(text(await store.get(key))).toBe(`v:${key}`);
    // A single-row write takes the other statement.
    await store.setMany([{ key: hostile[0]!, value: bytes('again'), expiresAt, version: nextVersion() }]);
    expect(text(await store.get(hostile[0]!))).toBe('again');

    await store.deleteMany(["x'); DROP TABLE canary;--", '%']);
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n).toBe(
      hostile.length - 2,
    );
    expect(await canaryRows()).toBe(3);
  });

  it('clear() with LIKE metacharacters deletes only literal prefix matches', async () => {
    const table = `${pg.escapeIdentifier(schema)}.tiercache_entries`;
    const count = async () =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n as number;
    const before = await count();
    await store.clear('%'); // '%' itself was deleted above: nothing else starts with a literal '%'
    await store.clear("' OR '1'='1");
    expect(await count()).toBe(before - 1);
    await store.clear('_'); // only the key '_' (not 'a_b', not every one-char key like ' ')
    expect(await count()).toBe(before - 2);
    expect(text(await store.get('a_b'))).toBe('v:a_b');
    expect(text(await store.get(' '))).toBe('v: ');
    await store.clear('back\\');
    expect(await store.get('back\\slash')).toBeUndefined();
    expect(text(await store.get('trailing\\'))).toBe('v:trailing\\');
    expect(await count()).toBe(before - 3);
    expect(await canaryRows()).toBe(3);
  });
});
