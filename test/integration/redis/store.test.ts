import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeGlob, redisClientOptions, redisStore } from '../../../src/redis/index.js';
import type { StoreWrite } from '../../../src/stores/store.js';
import { registerStoreConformanceSuite } from '../../../src/testing/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes } from '../../support/bytes.js';
import { redisUrlForTests, startRedisServer, stopAll, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { expectOptionErrors, rawClients } from './helpers.js';

const url = await redisUrlForTests();
const opened = rawClients(url);
const client = opened.client;

/** Deletes every key under `prefix` with a raw client, so the shared Redis is left as found. */
async function dropPrefix(raw: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await raw.unlink(...keys);
  } while (cursor !== '0');
}

afterAll(async () => {
  await opened.quitAll();
  await stopAll();
});

/** A value as the release before versions wrote it: no frame, set with a raw SET. */
function legacyPutter(raw: Redis, prefix: string) {
  return async (key: string, value: Uint8Array) => {
    await raw.set(prefix + key, Buffer.from(value), 'PX', 600_000);
  };
}

registerStoreConformanceSuite('redis (client given, with a prefix)', () => {
  const prefix = `${uniqueNamespace('redis-conf')}:`;
  const raw = client();
  return {
    store: redisStore({ client: raw, prefix }),
    cleanup: () => dropPrefix(raw, prefix),
    putLegacy: legacyPutter(raw, prefix),
  };
});

registerStoreConformanceSuite('redis (own client from url, no prefix)', () => {
  // The suite writes under random `conf-…:` namespaces and clears them when it ends.
  const store = redisStore({ url });
  return { store, putLegacy: legacyPutter(store.client, '') };
});

const hour = () => Date.now() + 3_600_000;

describe('redisStore', () => {
  let raw: Redis;
  let ns: string;

  beforeAll(() => {
    raw = client();
  });

  it('stores the bytes as the raw Redis value, with PXAT at the entry expiry', async () => {
    ns = `${uniqueNamespace('redis-raw')}:`;
    const store = redisStore({ client: raw, prefix: ns });
    const expiresAt = Date.now() + 60_000;
    const value = Uint8Array.from([0, 1, 2, 255, 254, 10, 13]);
    const version = nextVersion();
    await store.setMany([{ key: 'app:k', value, expiresAt, version }]);
    // Framed: the 24 version characters, then exactly the bytes written.
    expect(await raw.getBuffer(`${ns}app:k`)).toEqual(
      Buffer.concat([Buffer.from(version), Buffer.from(value)]),
    );
    expect(await raw.pexpiretime(`${ns}app:k`)).toBe(expiresAt);
    const read = await store.get('app:k');
    expect(Buffer.isBuffer(read)).toBe(true);
    expect(read).toEqual(Buffer.from(value));
    // Pipelined writes carry their own expiry each.
    await store.setMany([
      { key: 'app:a', value, expiresAt: expiresAt + 1, version: nextVersion() },
      { key: 'app:b', value, expiresAt: expiresAt + 2, version: nextVersion() },
    ]);
    expect(await raw.pexpiretime(`${ns}app:a`)).toBe(expiresAt + 1);
    expect(await raw.pexpiretime(`${ns}app:b`)).toBe(expiresAt + 2);
    await dropPrefix(raw, ns);
  });

  it('a past expiresAt deletes the existing key, alone or in a pipeline', async () => {
    ns = `${uniqueNamespace('redis-past')}:`;
    const store = redisStore({ client: raw, prefix: ns });
    await store.setMany([
      { key: 'x', value: bytes('old'), expiresAt: hour(), version: nextVersion() },
      { key: 'y', value: bytes('old'), expiresAt: hour(), version: nextVersion() },
    ]);
    await store.setMany([
      { key: 'x', value: bytes('new'), expiresAt: Date.now() - 5, version: nextVersion() },
    ]);
    await store.setMany([
      { key: 'y', value: bytes('new'), expiresAt: Date.now() - 5, version: nextVersion() },
      { key: 'z', value: bytes('z'), expiresAt: hour(), version: nextVersion() },
    ]);
    expect(await raw.exists(`${ns}x`, `${ns}y`)).toBe(0);
    expect(await raw.exists(`${ns}z`)).toBe(1);
    await dropPrefix(raw, ns);
  });

  it('clear never touches keys outside the store prefix, even ones an unescaped glob would match', async () => {
    const base = uniqueNamespace('redis-foreign');
    // The store prefix itself holds glob characters: unescaped, `st*re` would match `stXre`.
    const prefix = `${base}:st*re[1]?\\:`;
    const store = redisStore({ client: raw, prefix });
    await store.setMany(
      ['app:1', 'app:2', 'other:1'].map((key) => ({
        key,
        value: bytes(key),
        expiresAt: hour(),
        version: nextVersion(),
      })),
    );
    const foreign = [
      `${base}:stXre[1]?\\:app:1`,
      `${base}:st*re1X:app:1`,
      `${base}:st*re[1]?:app:1`,
      `${base}:st*re[1]?\\`,
      `${base}:app:1`,
      'app:1-not-ours',
    ].map((k) => `${k}-${Math.random().toString(36).slice(2, 6)}`);
    for (const key of foreign) await raw.set(key, 'foreign', 'PX', 60_000);
    await store.clear('app:');
    expect(await store.getMany(['app:1', 'app:2', 'other:1'])).toEqual([
      undefined,
      undefined,
      expect.anything(),
    ]);
    await store.clear('');
    expect(await store.get('other:1')).toBeUndefined();
    for (const key of foreign) expect(await raw.get(key), `foreign key ${key}`).toBe('foreign');
    await raw.unlink(...foreign);
  });

  it('batches large key lists: getMany, deleteMany and a clear over many SCAN rounds', async () => {
    ns = `${uniqueNamespace('redis-bulk')}:`;
    const store = redisStore({ client: raw, prefix: ns });
    const writes: StoreWrite[] = Array.from({ length: 2_500 }, (_, i) => ({
      key: `bulk:${i}`,
      value: bytes(String(i)),
      expiresAt: hour(),
      version: nextVersion(),
    }));
    await store.setMany(writes);
    const keys = writes.map((w) => w.key);
    const got = await store.getMany(keys);
    expect(got.map((v) => (v === undefined ? undefined : Buffer.from(v).toString()))).toEqual(
      keys.map((_, i) => String(i)),
    );
    await store.deleteMany(keys.slice(0, 1_200));
    expect((await store.getMany(keys)).filter((v) => v !== undefined)).toHaveLength(1_300);
    await store.clear('bulk:');
    expect(await raw.exists(...keys.map((k) => `${ns}${k}`))).toBe(0);
  });

  it('uses SCAN and UNLINK, never KEYS or FLUSHDB/FLUSHALL (private server)', async () => {
    const server = await startRedisServer();
    const own = client(server.url);
    const store = redisStore({ client: own });
    await store.setMany(
      Array.from({ length: 50 }, (_, i) => ({
        key: `c:${i}`,
        value: bytes('v'),
        expiresAt: hour(),
        version: nextVersion(),
      })),
    );
    await store.deleteMany(['c:0']);
    await store.clear('c:');
    const stats = await own.info('commandstats');
    expect(stats).toMatch(/cmdstat_scan:/);
    expect(stats).toMatch(/cmdstat_unlink:/);
    expect(stats).not.toMatch(/cmdstat_(keys|flushdb|flushall|del):/);
    expect(await own.dbsize()).toBe(0);
    await server.stop();
  });

  it('close() quits a client it opened and leaves a given client open', async () => {
    const own = redisStore({ url });
    await own.get('anything');
    expect(own.client.status).toBe('ready');
    await own.close();
    expect(own.client.status).toBe('end');

    const given = client();
    const borrowed = redisStore({ client: given });
    await borrowed.get('anything');
    await borrowed.close();
    expect(given.status).toBe('ready');
    expect(await given.ping()).toBe('PONG');
  });

  it('an owned client names its connection and fails fast while Redis is down, then recovers', async () => {
    const server = await startRedisServer();
    const store = redisStore({ url: server.url });
    try {
      await store.setMany([{ key: 'k', value: bytes('v'), expiresAt: hour(), version: nextVersion() }]);
      const names = await store.client.client('LIST');
      expect(String(names)).toMatch(/name=tiercache-store/);

      server.signal('SIGKILL');
      // Wait until the client has noticed, then a command must reject promptly: no
      // unbounded offline queue, no waiting for the next reconnect.
      await waitFor(
        'the client to notice the dead server',
        async () => store.client.status !== 'ready',
        5_000,
      );
      const started = Date.now();
      await expect(store.get('k')).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(500);

      const again = await startRedisServer(server.port);
      // Backoff is capped at ~2 s, so the client is back within a few seconds.
      // Each poll is a write: every 20 ms, not at the default rate.
      await waitFor(
        'the store to reconnect',
        async () => {
          try {
            await store.setMany([
              { key: 'k2', value: bytes('v2'), expiresAt: hour(), version: nextVersion() },
            ]);
            return true;
          } catch {
            return false;
          }
        },
        8_000,
        20,
      );
      expect(Buffer.from((await store.get('k2')) as Uint8Array).toString()).toBe('v2');
      await store.close();
      await again.stop();
    } finally {
      await store.close();
    }
  });

  it('validates its options with InvalidOptionError naming the option', () => {
    const withKeyPrefix = new Redis(url, { keyPrefix: 'app:', lazyConnect: true });
    const cases: Array<[unknown, string]> = [
      [{}, 'client'],
      [{ url, client: raw }, 'client'],
      [{ url: 'http://x' }, 'url'],
      [{ url: 42 }, 'url'],
      [{ client: {} }, 'client'],
      [{ client: raw, prefix: 7 }, 'prefix'],
      [{ client: raw, timeoutMs: 0 }, 'timeoutMs'],
      [{ client: raw, timeoutMs: Number.NaN }, 'timeoutMs'],
      [null, 'redisStore options'],
      [{ client: withKeyPrefix }, 'client'],
    ];
    expectOptionErrors(redisStore, cases);
    expect(redisStore({ client: raw }).defaultTimeoutMs).toBe(50);
    expect(redisStore({ client: raw, timeoutMs: 20 }).defaultTimeoutMs).toBe(20);
    withKeyPrefix.disconnect();
  });

  it('reconnects with exponential backoff, jittered within [half, full], capped at 500 ms', () => {
    const low = redisClientOptions(() => 0).retryStrategy as (times: number) => number;
    const high = redisClientOptions(() => 0.999_999).retryStrategy as (times: number) => number;
    expect([1, 2, 3].map(low)).toEqual([50, 100, 200]);
    expect([1, 2, 3].map(high)).toEqual([100, 200, 400]);
    for (const times of [4, 6, 10, 50, 1_000]) {
      expect(high(times)).toBe(500);
      expect(low(times)).toBe(250);
    }
    expect(redisClientOptions().maxRetriesPerRequest).toBe(1);
  });

  it('escapeGlob escapes every Redis glob metacharacter', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
    expect(escapeGlob('plain:key')).toBe('plain:key');
  });
});
