import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes } from '../../support/bytes.js';
import { postgresUrlForTests, uniqueNamespace } from '../../support/services.js';

// `clear` escapes LIKE's wildcards with a backslash. Written as the literal '\', that
// is one backslash only while standard_conforming_strings is on (Postgres's default);
// a server or role that turns it off read it as an unterminated escape and every clear
// failed (then its repair skipped L3 for good). The store must work either way.

const schema = uniqueNamespace('scs')
  .replace(/[^a-z0-9_]/gi, '_')
  .toLowerCase();
let url: string;

beforeAll(async () => {
  url = await postgresUrlForTests();
});

afterAll(async () => {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

describe('postgresStore under standard_conforming_strings', () => {
  it.each(['on', 'off'])('clears a prefix with LIKE wildcards in it when it is %s', async (setting) => {
    const pool = new pg.Pool({ connectionString: url, options: `-c standard_conforming_strings=${setting}` });
    const store = postgresStore({ pool, schema, table: `entries_${setting}`, sweepIntervalMs: 0 });
    try {
      const live = Date.now() + 60_000;
      const write = (key: string) => ({ key, value: bytes(key), expiresAt: live, version: nextVersion() });
      await store.setMany([write('a_%\\:1'), write('a_%\\:2'), write('ab%x:1')]);
      await store.clear('a_%\\:');
      const text = (value: Uint8Array | undefined) =>
        value === undefined ? undefined : Buffer.from(value).toString();
      expect((await store.getMany(['a_%\\:1', 'a_%\\:2', 'ab%x:1'])).map(text)).toEqual([
        undefined,
        undefined,
        'ab%x:1',
      ]);
      const upTo = nextVersion();
      await store.setMany([write('a_%\\:3')]);
      await store.clear('a_%\\:', upTo);
      expect(text(await store.get('a_%\\:3'))).toBe('a_%\\:3');
    } finally {
      await store.close();
      await pool.end();
    }
  });
});
