import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZERO_VERSION } from '../../../src/entry/version.js';
import { TierCacheError } from '../../../src/errors.js';
import { postgresStore } from '../../../src/postgres/index.js';
import type { StoreWrite } from '../../../src/stores/store.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { postgresUrlForTests } from '../../support/services.js';

const run = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const HOUR = 3_600_000;

let url: string;
let admin: pg.Pool;
const schemas: string[] = [];

function freshSchema(label: string): string {
  const schema = `tc_ver_${label}_${run}`;
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

function w(key: string, value: string, version: string, expiresAt = Date.now() + HOUR): StoreWrite {
  return { key, value: bytes(value), expiresAt, version };
}

/** Creates the table exactly as the release before versions did, with one row in it. */
async function previousReleaseTable(schema: string): Promise<string> {
  const t = `${pg.escapeIdentifier(schema)}.tiercache_entries`;
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  await admin.query(
    `CREATE TABLE ${t} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, ` +
      'expires_at bigint NOT NULL, created_at bigint NOT NULL)',
  );
  await admin.query(`CREATE INDEX tiercache_entries_expires_at_idx ON ${t} (expires_at)`);
  await admin.query(`INSERT INTO ${t} VALUES ('old', 'legacy'::bytea, $1, $2)`, [
    Date.now() + HOUR,
    Date.now(),
  ]);
  return t;
}

async function versionColumn(schema: string): Promise<Record<string, unknown> | undefined> {
  const result = await admin.query(
    `SELECT is_nullable, column_default, collation_name FROM information_schema.columns
     WHERE table_schema = $1 AND table_name = 'tiercache_entries' AND column_name = 'version'`,
    [schema],
  );
  return result.rows[0];
}

describe('postgresStore versioned writes', () => {
  it('ensureSchema adds the version column to a table made by the previous release, which keeps working', async () => {
    const schema = freshSchema('migrate');
    await previousReleaseTable(schema);
    // Several instances of the new release start at once on the old table.
    const stores = Array.from({ length: 4 }, () =>
      postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 }),
    );
    try {
      const results = await Promise.allSettled(stores.map((store) => store.ensureSchema()));
      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      expect(await versionColumn(schema)).toEqual({
        is_nullable: 'NO',
        column_default: "''::text",
        collation_name: 'C',
      });
      const [store] = stores as [ReturnType<typeof postgresStore>];
      // The old row is read as is, and is older than any version, even the zero one.
      expect(text(await store.get('old'))).toBe('legacy');
      await store.setMany([w('old', 'replaced', ZERO_VERSION)]);
      expect(text(await store.get('old'))).toBe('replaced');
      await store.setMany([w('new', 'v1', nextVersion())]);
      expect((await store.getMany(['old', 'new'])).map(text)).toEqual(['replaced', 'v1']);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('the first operation of a store migrates the old table by itself', async () => {
    const schema = freshSchema('lazy');
    await previousReleaseTable(schema);
    const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
    try {
      await store.setMany([w('old', 'new', nextVersion()), w('k', 'v', nextVersion())]);
      expect((await store.getMany(['old', 'k'])).map(text)).toEqual(['new', 'v']);
      expect(await versionColumn(schema)).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('ensureSchema: false on an old table: writes fail naming the column until ensureSchema() runs', async () => {
    const schema = freshSchema('manual');
    await previousReleaseTable(schema);
    const store = postgresStore({ connectionString: url, schema, ensureSchema: false, sweepIntervalMs: 0 });
    try {
      expect(text(await store.get('old'))).toBe('legacy');
      await expect(store.setMany([w('k', 'v', nextVersion())])).rejects.toThrow(/version/);
      expect(await versionColumn(schema)).toBeUndefined();
      await store.ensureSchema();
      await store.setMany([w('k', 'v', nextVersion())]);
      expect(text(await store.get('k'))).toBe('v');
    } finally {
      await store.close();
    }
  });

  it('an expired row is replaced by a write of any version, decided by the store clock', async () => {
    const schema = freshSchema('expired');
    let now = 1_000_000;
    const store = postgresStore({
      connectionString: url,
      schema,
      sweepIntervalMs: 0,
      clock: { now: () => now },
    });
    try {
      const older = nextVersion();
      const newer = nextVersion();
      await store.setMany([w('k', 'newer', newer, 1_000_100)]);
      await store.setMany([w('k', 'older', older, 2_000_000)]);
      expect(text(await store.get('k'))).toBe('newer');
      now = 1_000_100;
      await store.setMany([w('k', 'older', older, 2_000_000), w('other', 'o', older, 2_000_000)]);
      expect(text(await store.get('k'))).toBe('older');
    } finally {
      await store.close();
    }
  });

  it('clear refuses a malformed upTo before deleting anything', async () => {
    const schema = freshSchema('upto');
    const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
    try {
      await store.setMany([w('k', 'kept', nextVersion())]);
      // 'z' and 'g' sort above every hex digit: as text they would delete everything.
      for (const upTo of ['', 'z', 'g'.repeat(24), 'A'.repeat(24)]) {
        await expect(store.clear('', upTo)).rejects.toBeInstanceOf(TierCacheError);
      }
      expect(text(await store.get('k'))).toBe('kept');
    } finally {
      await store.close();
    }
  });

  it('refuses a malformed version instead of writing it', async () => {
    const schema = freshSchema('bad');
    const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
    try {
      for (const version of ['', 'z'.repeat(24), 'A'.repeat(24)]) {
        await expect(store.setMany([w('bad', 'x', version)])).rejects.toBeInstanceOf(TierCacheError);
        await expect(
          store.setMany([w('bad', 'x', nextVersion()), w('b2', 'x', version)]),
        ).rejects.toBeInstanceOf(TierCacheError);
      }
      expect(await store.getMany(['bad', 'b2'])).toEqual([undefined, undefined]);
    } finally {
      await store.close();
    }
  });
});
