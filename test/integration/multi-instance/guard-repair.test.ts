/**
 * The guard's repair of keys missed during an outage, under races a real server does
 * not produce on cue: a chaos wrapper around a real Redis store fails writes and slows
 * deletes on command (bentocache's chaos helpers are the model). Every byte still goes
 * to a real redis-server of the test's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryCodec, TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import type { StoreTier } from '../../../src/stores/store.js';
import {
  type OwnServer,
  startPostgresServer,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

let redis: OwnServer;
let pgServer: OwnServer;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  [redis, pgServer] = await Promise.all([startRedisServer(), startPostgresServer()]);
});

afterAll(async () => {
  await Promise.allSettled(toClose.map((c) => c.close()));
  await stopAll();
});

interface Chaos {
  store: StoreTier;
  failWrites: boolean;
  /** Holds every setMany until `releaseWrites()`: a backfill on the wire. */
  holdWrites: boolean;
  releaseWrites: () => void;
  writesHeld: number;
  /** Holds repairs (tombstone writes) until `releaseDeletes()`: a repair held on the wire. */
  holdDeletes: boolean;
  releaseDeletes: () => void;
  deletesHeld: number;
}

const codec = new EntryCodec();

function chaosStore(real: StoreTier): Chaos {
  let release: () => void = () => {};
  let held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let releaseW: () => void = () => {};
  const heldW = new Promise<void>((resolve) => {
    releaseW = resolve;
  });
  const chaos: Chaos = {
    failWrites: false,
    holdWrites: false,
    writesHeld: 0,
    releaseWrites: () => releaseW(),
    holdDeletes: false,
    deletesHeld: 0,
    releaseDeletes: () => {
      release();
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    store: {
      name: 'redis',
      defaultTimeoutMs: 1_000,
      get: (key) => real.get(key),
      getMany: (keys) => real.getMany(keys),
      setMany: async (writes) => {
        // A guard's repair writes versioned tombstones (no value): it is the "delete" this
        // wrapper holds, and writes refused on command are the cache's own, not it.
        if (writes.every((write) => codec.decode(write.value).deleted === true)) {
          if (chaos.holdDeletes) {
            chaos.deletesHeld++;
            await held;
          }
          await real.setMany(writes);
          return;
        }
        if (chaos.failWrites) throw new Error('chaos: write refused');
        if (chaos.holdWrites) {
          chaos.writesHeld++;
          await heldW;
        }
        await real.setMany(writes);
      },
      deleteMany: async (keys) => {
        if (chaos.holdDeletes) {
          chaos.deletesHeld++;
          await held;
        }
        await real.deleteMany(keys);
      },
      clear: (prefix) => real.clear(prefix),
      close: () => real.close(),
    },
  };
  return chaos;
}

describe('guard repair races', () => {
  it('a read never joins a repair that does not cover a key missed after it started', async () => {
    const chaos = chaosStore(redisStore({ url: redis.url }));
    // L1 off and one store: every read goes to Redis, so a stale byte there is a stale answer.
    const cache = new TieredCache<string>({
      namespace: uniqueNamespace('guard-race'),
      l1: false,
      stores: [chaos.store],
      ttl: '10m',
    });
    toClose.push(cache);
    await cache.setMany([
      { key: 'a', value: 'old' },
      { key: 'b', value: 'old' },
    ]);

    // Redis refuses a write of `a`: `a` is owed a repair.
    chaos.failWrites = true;
    await cache.set('a', 'new');
    // A read starts the repair of `a`; it is held on the wire.
    chaos.holdDeletes = true;
    const first = cache.get('x');
    await waitFor('the repair to reach the store', () => chaos.deletesHeld === 1, 2_000);
    // A read of `a` while its repair is on the wire waits for it.
    const readA = cache.get('a');
    // Meanwhile a write of `b` is refused too: `b` is owed a repair the running one does not cover.
    await cache.set('b', 'new');
    const read = cache.get('b');
    chaos.holdDeletes = false;
    chaos.releaseDeletes();
    await first;
    // `b` was overwritten through this cache and never reached Redis: Redis's `old` must
    // not be served. With the write refused everywhere, the honest answer is a miss.
    expect(await read).toBeUndefined();
    expect(await readA).toBeUndefined();
    expect(await cache.get('a')).toBeUndefined();
    chaos.failWrites = false;
    await cache.set('b', 'newer');
    expect(await cache.get('b')).toBe('newer');
  });

  it('a bus resync during a backfill does not delete the entry from the store it was read from', async () => {
    // The bus runs on a Redis of its own, killed to make the link drop mid-backfill.
    const busRedis = await startRedisServer();
    const namespace = uniqueNamespace('resync-backfill');
    const schema = `g_${Math.random().toString(36).slice(2, 8)}`;
    const chaos = chaosStore(redisStore({ url: redis.url }));
    const cache = new TieredCache<string>({
      namespace,
      stores: [chaos.store, postgresStore({ connectionString: pgServer.url, schema })],
      bus: redisBus({ url: busRedis.url }),
      ttl: '10m',
    });
    const l3 = new TieredCache<string>({
      namespace,
      l1: false,
      stores: [postgresStore({ connectionString: pgServer.url, schema })],
      ttl: '10m',
    });
    toClose.push(cache, l3);
    await cache.ready();
    await l3.set('k', 'durable');

    chaos.holdWrites = true;
    // An L3 hit: its backfill into Redis is held on the wire.
    expect(await cache.get('k')).toBe('durable');
    await waitFor('the backfill to reach Redis', () => chaos.writesHeld === 1, 2_000);
    busRedis.signal('SIGKILL');
    await waitFor('the bus to drop', () => cache.stats().bus.resyncs > 0, 5_000);
    chaos.holdWrites = false;
    chaos.releaseWrites();
    await cache.close();
    // The resync may undo the backfill into Redis (a miss there is fine), never the row in L3.
    expect(await l3.get('k')).toBe('durable');
  });
});
