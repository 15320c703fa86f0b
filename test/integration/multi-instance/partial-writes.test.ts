/**
 * A write that reaches Postgres but not Redis (the writer cut off from Redis by a TCP
 * proxy it talks through, while the other instance reaches Redis directly: a partition,
 * or a cluster's healthy shards skipped under a breaker opened by a failed one). Redis
 * still holds the older value until the writer can repair it. The other instance hears
 * the write on the bus, drops its L1 copy, and must not read the older value back from
 * Redis meanwhile: the message says the write missed a store, and the reader refuses
 * older store entries of those keys (floors). Before floors, B read v1 from Redis here
 * and kept it in its L1 until the writer's repair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { startProxy, type TcpProxy } from '../../support/proxy.js';
import { uniqueNamespace } from '../../support/services.js';
import { storesUp, waitFor } from '../../support/wait.js';
import { liveValue, Servers } from './versioned-support.js';

const servers = new Servers(
  `${uniqueNamespace('pw')}|`,
  `tc_pw_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
);
let proxy: TcpProxy;
/** In front of B's bus in the last test: B's link to the bus, cut on its own. */
let busProxy: TcpProxy;

beforeAll(async () => {
  await servers.start();
  const redis = new URL(servers.redisUrl);
  [proxy, busProxy] = await Promise.all([
    startProxy(Number(redis.port || 6379), redis.hostname),
    startProxy(Number(redis.port || 6379), redis.hostname),
  ]);
});
afterAll(async () => {
  await servers.stop();
  await Promise.all([proxy?.close(), busProxy?.close()]);
});

/** The Redis URL through `through`. */
function via(through: TcpProxy): string {
  const url = new URL(servers.redisUrl);
  url.port = String(through.port);
  return url.toString();
}

const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);

/** The writer A of `ns`: Redis through the proxy, the Redis bus directly. */
function writer(ns: string) {
  return servers.instance(ns, {
    redis: redisStore({ url: via(proxy), prefix: servers.prefix, timeoutMs: 300 }),
    bus: servers.newBus('redis'),
    strict: false,
    // One failure opens A's breaker; its probe brings it back once Redis answers.
    guard: { failureThreshold: 1, cooldown: 60_000 },
  });
}

/** A (Redis through the proxy) and B (Redis directly), both on the Redis bus, B holding v1 of every key. */
async function twoInstances() {
  const ns = uniqueNamespace('pw');
  const a = writer(ns);
  const b = servers.instance(ns, { bus: servers.newBus('redis'), strict: false });
  await Promise.all([a.ready(), b.ready()]);
  await a.setMany(keys.map((key) => ({ key, value: 'v1' })));
  // Its message goes in the background: heard before the tests count theirs.
  await heard(b, 0, 1);
  expect(await b.getMany(keys)).toEqual(keys.map(() => 'v1'));
  return { ns, a, b };
}

/** Waits until B has heard `count` more messages than `before`. */
function heard(b: { stats(): { bus: { received: number } } }, before: number, count: number) {
  return waitFor('B to hear the writes', () => b.stats().bus.received >= before + count, 5_000, 1);
}

describe('a write that missed a store', () => {
  it('set: B never reads the older value Redis still holds; after the repair every instance agrees', async () => {
    const { ns, a, b } = await twoInstances();
    const before = b.stats().bus.received;
    proxy.cut();
    try {
      await a.setMany(keys.map((key) => ({ key, value: 'v2' })));
      expect(a.health().stores.redis?.breaker).toBe('open');
      await heard(b, before, 1);
      // Redis still holds v1 (A's write never reached it): B refuses it, reads v2 from Postgres.
      const inRedis = await servers.storedMany(keys.map((key) => `${ns}:${key}`));
      expect(inRedis.redis.map(liveValue)).toEqual(keys.map(() => 'v1'));
      expect(await b.getMany(keys)).toEqual(keys.map(() => 'v2'));
      for (const key of keys) expect(await b.get(key)).toBe('v2');
    } finally {
      proxy.restore();
    }
    // B's reads copied v2 up into Redis (versioned: nothing older lands over it).
    const healed = await servers.storedMany(keys.map((key) => `${ns}:${key}`));
    expect(healed.redis.map(liveValue)).toEqual(keys.map(() => 'v2'));
    // A's repair of Redis.
    await storesUp([a], 'redis', 10_000);
    const fresh = servers.instance(ns, { bus: servers.newBus('redis'), strict: false });
    await fresh.ready();
    for (const cache of [a, b, fresh]) expect(await cache.getMany(keys)).toEqual(keys.map(() => 'v2'));
  });

  it('delete: B never reads the deleted value back from Redis', async () => {
    const { a, b } = await twoInstances();
    const before = b.stats().bus.received;
    proxy.cut();
    try {
      await a.deleteMany(keys);
      await heard(b, before, 1);
      expect(await b.getMany(keys)).toEqual(keys.map(() => undefined));
      let loads = 0;
      const got = await b.getOrSet('k0', async () => {
        loads++;
        return 'reloaded';
      });
      expect([got, loads]).toEqual(['reloaded', 1]);
    } finally {
      proxy.restore();
    }
  });

  it('a write every store took sends no floor: B reads Redis as before', async () => {
    const { a, b } = await twoInstances();
    const before = b.stats().bus.received;
    await a.setMany(keys.map((key) => ({ key, value: 'v2' })));
    await heard(b, before, 1);
    const hits = b.stats().stores.redis?.hits ?? 0;
    expect(await b.getMany(keys)).toEqual(keys.map(() => 'v2'));
    expect((b.stats().stores.redis?.hits ?? 0) - hits).toBe(keys.length);
  });

  // Both cut off: A from Redis (its write reaches Postgres only), B from the bus (it
  // hears nothing, floors included). B's L1 keeps nothing fresh while blind
  // (`blindMaxAge: 0`), so it reads the stores: Redis still holds v1. While its link is
  // down, B checks a Redis hit against Postgres and serves the newer. Before, it served
  // v1 from Redis until A's repair.
  it('an instance whose bus link is down checks an upper store hit against the stores below', async () => {
    const ns = uniqueNamespace('pwb');
    const a = writer(ns);
    const b = new TieredCache<string>({
      namespace: ns,
      l1: { max: 1_000, blindMaxAge: 0 },
      stores: [servers.newRedisStore(), servers.newPostgresStore()],
      bus: redisBus({ url: via(busProxy), heartbeatMs: 100 }),
      ttl: '10m',
      jitter: 0,
      guard: { timeout: 5_000 },
    });
    try {
      await Promise.all([a.ready(), b.ready()]);
      await a.setMany(keys.map((key) => ({ key, value: 'v1' })));
      await heard(b, 0, 1);
      expect(await b.getMany(keys)).toEqual(keys.map(() => 'v1'));
      busProxy.cut();
      proxy.cut();
      await waitFor("B's bus link to go down", () => b.health().bus?.status === 'down', 5_000, 5);
      await a.setMany(keys.map((key) => ({ key, value: 'v2' })));
      expect(a.health().stores.redis?.breaker).toBe('open');
      const inRedis = await servers.storedMany(keys.map((key) => `${ns}:${key}`));
      expect(inRedis.redis.map(liveValue)).toEqual(keys.map(() => 'v1'));
      expect(await b.getMany(keys)).toEqual(keys.map(() => 'v2'));
      for (const key of keys) expect(await b.get(key)).toBe('v2');
      // B copies the newer write up (in the background): Redis holds v2.
      await waitFor(
        'B to copy v2 up into Redis',
        async () =>
          (await servers.storedMany(keys.map((key) => `${ns}:${key}`))).redis.every(
            (entry) => liveValue(entry) === 'v2',
          ),
        5_000,
        10,
      );
    } finally {
      proxy.restore();
      busProxy.restore();
      await b.close();
    }
  });
});
