import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { EntryCodec } from '../../../src/entry/codec.js';
import type { Entry } from '../../../src/entry/entry.js';
import { InvalidOptionError } from '../../../src/index.js';
import {
  installInvalidationTrigger,
  postgresChannel,
  uninstallInvalidationTrigger,
} from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { twoInstances, useServers, watchTable } from './instances.js';

// Database-driven invalidation on the real servers: this file's own schema and Redis prefix.
const servers = useServers('trigger');
const codec = new EntryCodec();

/** A connection LISTENing on the namespace's channel, collecting payloads. */
async function listen(namespace: string): Promise<{ payloads: string[]; close(): Promise<void> }> {
  const { pgUrl } = servers;
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  const payloads: string[] = [];
  client.on('notification', (n) => {
    if (n.payload !== undefined) payloads.push(n.payload);
  });
  await client.query(`LISTEN ${pg.escapeIdentifier(postgresChannel(namespace))}`);
  return { payloads, close: () => client.end() };
}

async function triggerObjects(table: string): Promise<{ triggers: number; functions: number }> {
  const { admin, S, schema } = servers;
  const { rows } = await admin.query<{ triggers: number; functions: number }>(
    `SELECT (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname LIKE 'tiercache_inv_%') AS triggers,
            (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = $2 AND p.proname LIKE 'tiercache_inv_%') AS functions`,
    [`${S}.${pg.escapeIdentifier(table)}`, schema],
  );
  return rows[0] as { triggers: number; functions: number };
}

describe('installInvalidationTrigger', () => {
  it('is idempotent and injection-safe: quotes, ; and % in the table, column and template', async () => {
    const { admin, S, schema } = servers;
    const table = `we"ird; DROP TABLE x;--%s`;
    const column = `na"me;%`;
    const T = `${S}.${pg.escapeIdentifier(table)}`;
    await admin.query(`CREATE TABLE ${T} (id int PRIMARY KEY, ${pg.escapeIdentifier(column)} text)`);
    const namespace = uniqueNamespace('inj');
    const options = {
      table,
      schema,
      namespace,
      key: `it's;{id}%'); DROP TABLE y;--{${column}}\\$tiercache$`,
      cacheTable: false as const,
    };
    // Twice at once (two instances starting together), then once more.
    await Promise.all([
      installInvalidationTrigger(admin, options),
      installInvalidationTrigger(admin, options),
    ]);
    await installInvalidationTrigger(admin, options);
    expect(await triggerObjects(table)).toEqual({ triggers: 3, functions: 1 });
    const listener = await listen(namespace);
    try {
      await admin.query(`INSERT INTO ${T} VALUES (1, 'a''b')`);
      await admin.query(`UPDATE ${T} SET ${pg.escapeIdentifier(column)} = 'c' WHERE id = 1`);
      await admin.query(`DELETE FROM ${T} WHERE id = 1`);
      await waitFor('three notifications', () => listener.payloads.length === 3);
      const key = (value: string) => `it's;1%'); DROP TABLE y;--${value}\\$tiercache$`;
      expect(listener.payloads.map((p) => JSON.parse(p))).toEqual([
        { origin: 'tiercache-trigger', op: 'delete', external: true, keys: [key("a'b")] },
        { origin: 'tiercache-trigger', op: 'delete', external: true, keys: [key("a'b"), key('c')].sort() },
        { origin: 'tiercache-trigger', op: 'delete', external: true, keys: [key('c')] },
      ]);
      await uninstallInvalidationTrigger(admin, { table, schema, namespace });
      await uninstallInvalidationTrigger(admin, { table, schema, namespace });
      expect(await triggerObjects(table)).toEqual({ triggers: 0, functions: 0 });
      await admin.query(`INSERT INTO ${T} VALUES (2, 'x')`);
      // A marker sent after the insert: once it arrives, anything the insert sent would have too.
      await admin.query('SELECT pg_notify($1, $2)', [postgresChannel(namespace), 'marker']);
      await waitFor('the marker', () => listener.payloads.includes('marker'));
      expect(listener.payloads).toHaveLength(4);
    } finally {
      await listener.close();
    }
    // The tables the names tried to drop were never there; the watched one still is.
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${T}`)).rows[0].n).toBe(1);
  });

  it('refuses bad options before touching the database', async () => {
    const { admin, S, schema } = servers;
    await admin.query(`CREATE TABLE ${S}.opts (id int, name text)`);
    const base = { table: 'opts', schema, namespace: 'ns', cacheTable: false as const };
    await expect(installInvalidationTrigger(admin, { ...base, key: 'user:{nope}' })).rejects.toThrow(
      InvalidOptionError,
    );
    await expect(installInvalidationTrigger(admin, { ...base, key: 'no placeholder' })).rejects.toThrow(
      /at least one/,
    );
    await expect(installInvalidationTrigger(admin, { ...base, key: 'a{b' })).rejects.toThrow(/braces/);
    await expect(installInvalidationTrigger(admin, { ...base, key: [] })).rejects.toThrow(InvalidOptionError);
    await expect(
      installInvalidationTrigger(admin, { ...base, table: 'missing', key: '{id}' }),
    ).rejects.toThrow(/existing table/);
    await expect(
      installInvalidationTrigger(admin, { ...base, key: '{id}', namespace: "x'; --" }),
    ).rejects.toThrow(/namespace/);
    await expect(
      installInvalidationTrigger(admin, { ...base, key: '{id}', sql: 'x' } as never),
    ).rejects.toThrow(/Unknown option `sql`/);
    expect(await triggerObjects('opts')).toEqual({ triggers: 0, functions: 0 });
  });
});

describe('a write by a plain pg client invalidates every tier and instance', () => {
  it('UPDATE -> the next getOrSet in two instances reloads; L2 and L3 serve nothing old', async () => {
    const { admin, pgUrl, redisUrl, S, schema, prefix, closing } = servers;
    const namespace = uniqueNamespace('plain');
    await admin.query(`CREATE TABLE ${S}.users (id int PRIMARY KEY, name text NOT NULL)`);
    await admin.query(`INSERT INTO ${S}.users VALUES (1, 'Ada'), (2, 'Grace')`);
    const tiers = { namespace, redisUrl, prefix, pgUrl, schema };
    const l3 = await watchTable(admin, tiers, 'users', 'user:{id}', closing);
    let loads = 0;
    const load = async (id: number) => {
      loads++;
      const { rows } = await admin.query(`SELECT name FROM ${S}.users WHERE id = $1`, [id]);
      return rows[0]?.name as string;
    };
    const [a, b] = await twoInstances<string>(tiers, closing);
    expect(await a.getOrSet('user:1', () => load(1))).toBe('Ada');
    expect(await b.getOrSet('user:1', () => load(1))).toBe('Ada');
    expect(loads).toBe(1);
    // A's load published a set that B may not have heard yet: counted apart from the trigger's.
    const received = () => [a.stats().bus.received, b.stats().bus.received] as const;
    await waitFor("B to hear A's load", () => received()[1] >= 1);
    const before = received();

    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`UPDATE ${S}.users SET name = 'Ada Lovelace' WHERE id = 1`);
    await client.end();

    // At COMMIT the trigger has already put a tombstone in L3.
    const row = await admin.query(`SELECT value FROM ${S}.tiercache_entries WHERE key = $1`, [
      `${namespace}:user:1`,
    ]);
    expect(codec.decode(row.rows[0].value).deleted).toBe(true);
    await waitFor('both instances to hear the trigger', () => {
      const [na, nb] = received();
      return na > before[0] && nb > before[1];
    });
    expect(a.getLocal('user:1')).toBeUndefined();
    expect(b.getLocal('user:1')).toBeUndefined();
    // Each instance tombstones the key in every store; wait until Redis holds one.
    const l2 = redisStore({ url: redisUrl, prefix });
    closing.push(l2);
    const inRedis = async (): Promise<Entry | undefined> => {
      const bytes = await l2.get(`${namespace}:user:1`);
      return bytes === undefined ? undefined : codec.decode(bytes);
    };
    await waitFor('the tombstone in Redis', async () => (await inRedis())?.deleted === true);
    loads = 0;
    expect(await a.getOrSet('user:1', () => load(1))).toBe('Ada Lovelace');
    expect(await b.getOrSet('user:1', () => load(1))).toBe('Ada Lovelace');
    expect(loads).toBeGreaterThanOrEqual(1);
    expect(loads).toBeLessThanOrEqual(2);
    // Neither store holds the old value.
    const l2Entry = await inRedis();
    expect(l2Entry?.deleted === true || l2Entry?.value === 'Ada Lovelace').toBe(true);
    const l3Bytes = await l3.get(`${namespace}:user:1`);
    const l3Entry = l3Bytes === undefined ? undefined : codec.decode(l3Bytes);
    expect(l3Entry?.deleted === true || l3Entry?.value === 'Ada Lovelace').toBe(true);
  });
});
