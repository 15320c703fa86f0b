/**
 * Redis faults against a real, private redis-server: killed (SIGKILL), hung (SIGSTOP),
 * restarted empty. The cache must keep answering from L1, from Postgres L3 and from the
 * loader, within the guard timeout plus a margin, and must never serve from the
 * recovered Redis a key that was overwritten or deleted while it was away.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../../src/errors.js';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisClientOptions } from '../../../src/redis/client.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import type { RedisStore } from '../../../src/redis/store.js';
import {
  type OwnServer,
  startPostgresServer,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const REDIS_TIMEOUT_MS = 50; // redisStore's documented default guard timeout
const MARGIN_MS = 250;
const BOUND_MS = REDIS_TIMEOUT_MS + MARGIN_MS;
/** Poll interval of the waits whose every check is itself a cache read. */
const PROBE_INTERVAL_MS = 10;

let pgServer: OwnServer;
const toClose: Array<{ close(): Promise<void> }> = [];
const redisClients: Redis[] = [];
const servers: OwnServer[] = [];

beforeAll(async () => {
  pgServer = await startPostgresServer();
});

afterAll(async () => {
  for (const server of servers) server.signal('SIGCONT');
  await Promise.allSettled(toClose.map((c) => c.close()));
  await Promise.allSettled(redisClients.map((c) => c.quit().catch(() => c.disconnect())));
  await stopAll();
});

function rawRedis(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  redisClients.push(client);
  return client;
}

interface Rig {
  redis: OwnServer;
  cache: TieredCache<string>;
  store: RedisStore;
  namespace: string;
  schema: string;
  /** A cache over L3 alone, same namespace and table: writes keys that live only in L3. */
  l3Writer: TieredCache<string>;
}

async function rig(
  label: string,
  options: { bus?: boolean; l1?: false; strict?: boolean; redis?: OwnServer; schema?: string } = {},
): Promise<Rig> {
  const redis = options.redis ?? (await startRedisServer());
  if (options.redis === undefined) servers.push(redis);
  const namespace = uniqueNamespace(label);
  const schema = options.schema ?? `r_${label.replace(/\W/g, '_')}_${Math.random().toString(36).slice(2, 8)}`;
  const store = redisStore({ url: redis.url });
  const cache = new TieredCache<string>({
    namespace,
    ...(options.l1 === false ? { l1: false as const } : {}),
    stores: [store, postgresStore({ connectionString: pgServer.url, schema, sweepIntervalMs: 0 })],
    ...(options.bus ? { bus: redisBus({ url: redis.url }) } : {}),
    ttl: '10m',
    guard: { cooldown: 200 },
    ...(options.strict ? { strict: true } : {}),
  });
  toClose.push(cache);
  await cache.ready();
  const l3Writer = new TieredCache<string>({
    namespace,
    l1: false,
    stores: [postgresStore({ connectionString: pgServer.url, schema, sweepIntervalMs: 0 })],
    ttl: '10m',
  });
  toClose.push(l3Writer);
  return { redis, cache, store, namespace, schema, l3Writer };
}

type Category = 'l1' | 'l3' | 'nowhere';

interface Sample {
  category: Category;
  ms: number;
  ok: boolean;
  error?: unknown;
}

interface Load {
  samples: Sample[];
  loaderCalls: Record<Category, number>;
  wrongValues: number;
}

/**
 * Runs getOrSet from `workers` concurrent loops for `durationMs`, cycling through keys
 * that live in L1 (and every tier), keys that live in L3 only, and keys that live
 * nowhere. `during` runs once the load is under way (the fault).
 */
async function drive(
  cache: TieredCache<string>,
  keys: { l1: string[]; l3: string[] },
  durationMs: number,
  during: () => void | Promise<void>,
  workers = 6,
): Promise<Load> {
  const load: Load = { samples: [], loaderCalls: { l1: 0, l3: 0, nowhere: 0 }, wrongValues: 0 };
  const end = performance.now() + durationMs;
  let n = 0;
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < end; i++) {
      const category: Category = (['l1', 'l3', 'nowhere'] as const)[(i + w) % 3] as Category;
      const key =
        category === 'l1'
          ? (keys.l1[n++ % keys.l1.length] as string)
          : category === 'l3'
            ? (keys.l3[n++ % keys.l3.length] as string)
            : `nowhere:${w}:${i}:${n++}`;
      const started = performance.now();
      try {
        const value = await cache.getOrSet(key, () => {
          load.loaderCalls[category]++;
          return `v:${key}`;
        });
        if (value !== `v:${key}`) load.wrongValues++;
        load.samples.push({ category, ms: performance.now() - started, ok: true });
      } catch (error) {
        load.samples.push({ category, ms: performance.now() - started, ok: false, error });
      }
      // L1 hits and open-breaker skips settle in microtasks: yield so timers and I/O run.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const running = Array.from({ length: workers }, (_, w) => worker(w));
  await new Promise((resolve) => setTimeout(resolve, Math.min(200, durationMs / 4)));
  await during();
  await Promise.all(running);
  return load;
}

function summary(load: Load, category: Category) {
  const samples = load.samples.filter((s) => s.category === category);
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    calls: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    firstError: samples.find((s) => !s.ok)?.error,
    maxMs: ms.at(-1) ?? 0,
    p99Ms: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))] ?? 0,
    within100: ms.filter((m) => m <= 100).length,
  };
}

/**
 * What a load run through an outage must show: no failed call and no wrong value in any
 * category, the loader called only for keys cached nowhere, every call within BOUND_MS.
 */
function expectAnsweredWithinBound(label: string, r: Rig, load: Load): void {
  const l1 = summary(load, 'l1');
  const l3 = summary(load, 'l3');
  const nowhere = summary(load, 'nowhere');
  console.log(label, { l1, l3, nowhere, loaderCalls: load.loaderCalls });
  expect(l1.failed, String(l1.firstError)).toBe(0);
  expect(l3.failed, String(l3.firstError)).toBe(0);
  expect(nowhere.failed, String(nowhere.firstError)).toBe(0);
  expect(load.wrongValues).toBe(0);
  const pgErrors = r.cache.stats().stores.postgres?.errors;
  expect(load.loaderCalls, `postgres errors: ${pgErrors}`).toEqual(expect.objectContaining({ l1: 0, l3: 0 }));
  expect(load.loaderCalls.nowhere).toBe(nowhere.calls);
  expect(l1.maxMs).toBeLessThan(BOUND_MS);
  expect(l3.maxMs).toBeLessThan(BOUND_MS);
  expect(nowhere.maxMs).toBeLessThan(BOUND_MS);
}

async function seed(r: Rig, count: number): Promise<{ l1: string[]; l3: string[] }> {
  const l1 = Array.from({ length: count }, (_, i) => `hot:${i}`);
  const l3 = Array.from({ length: count * 10 }, (_, i) => `cold:${i}`);
  await r.cache.setMany(l1.map((key) => ({ key, value: `v:${key}` })));
  await r.l3Writer.setMany(l3.map((key) => ({ key, value: `v:${key}` })));
  return { l1, l3 };
}

describe('ioredis settings for an outage', () => {
  it('reconnects with exponential backoff and jitter, capped, and bounds retries per command', () => {
    const low = redisClientOptions(() => 0);
    const high = redisClientOptions(() => 0.999);
    const delays = (options: typeof low) =>
      [1, 2, 3, 4, 5, 10, 50].map((n) => options.retryStrategy?.(n) as number);
    const lows = delays(low);
    const highs = delays(high);
    for (let i = 1; i < lows.length; i++) expect(lows[i]).toBeGreaterThanOrEqual(lows[i - 1] as number);
    expect(lows[2]).toBeGreaterThanOrEqual(2 * (lows[1] as number));
    // Jitter: two random draws give different delays for the same attempt.
    lows.forEach((d, i) => {
      expect(highs[i]).toBeGreaterThan(d);
    });
    expect(Math.max(...highs)).toBeLessThanOrEqual(500);
    expect(low.maxRetriesPerRequest).toBeGreaterThanOrEqual(0);
    expect(low.maxRetriesPerRequest).not.toBeNull();
  });
});

describe('Redis SIGKILL under load', () => {
  it('answers L1 and L3 keys without failure within the guard timeout, and loads the rest', async () => {
    const r = await rig('kill', { bus: true });
    const keys = await seed(r, 50);
    // The store's client must not queue commands while disconnected.
    expect(r.store.client.options.enableOfflineQueue).toBe(false);
    expect(r.store.client.options.maxRetriesPerRequest).toBeGreaterThanOrEqual(0);

    const load = await drive(r.cache, keys, 1_500, () => r.redis.signal('SIGKILL'));
    expectAnsweredWithinBound('SIGKILL', r, load);
    expect(r.cache.stats().stores.redis?.errors).toBeGreaterThan(0);
    expect(r.cache.health().stores.redis?.status).not.toBe('up');
  });
});

describe('Redis SIGSTOP (a hang) under load', () => {
  it('answers within the guard timeout, opens the breaker, and closes it after SIGCONT', async () => {
    const r = await rig('stop', { bus: true });
    const keys = await seed(r, 50);
    const load = await drive(r.cache, keys, 2_000, () => r.redis.signal('SIGSTOP'));
    expectAnsweredWithinBound('SIGSTOP', r, load);

    const down = r.cache.health();
    expect(down.stores.redis?.breaker).not.toBe('closed');
    expect(down.stores.redis?.lastError).toMatch(/timed out|circuit/);
    // The bus heartbeat found the hung link.
    await waitFor('the bus to report the link down', () => r.cache.health().bus?.status !== 'up', 2_000);
    // No traffic: after the cool-down the breaker reports half-open, waiting for a probe.
    await waitFor(
      'the breaker to turn half-open',
      () => r.cache.health().stores.redis?.breaker === 'half-open',
      2_000,
    );

    r.redis.signal('SIGCONT');
    let i = 0;
    await waitFor(
      'the breaker to close after SIGCONT',
      async () => {
        await r.cache.get(`probe:${i++}`);
        return r.cache.health().stores.redis?.breaker === 'closed';
      },
      5_000,
      PROBE_INTERVAL_MS,
    );
    const up = r.cache.health();
    expect(up.stores.redis?.status).toBe('up');
    expect(up.stores.redis?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(up.stores.postgres?.status).toBe('up');
    await waitFor('the bus to report the link up', () => r.cache.health().bus?.status === 'up', 5_000);
  });

  it('throws StoreUnavailableError in strict mode instead of skipping the store', async () => {
    const r = await rig('strict', { strict: true });
    await r.cache.set('k', 'v:k');
    r.redis.signal('SIGSTOP');
    try {
      const started = performance.now();
      await expect(r.cache.getOrSet('other', () => 'x')).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
    } finally {
      r.redis.signal('SIGCONT');
    }
  });
});

describe('Redis restarted empty', () => {
  it('warms back from L3; the bus resubscribes and L1 was cleared', async () => {
    const r = await rig('restart', { bus: true });
    const keys = await seed(r, 20);
    for (const key of keys.l1) expect(r.cache.getLocal(key)).toBe(`v:${key}`);
    const resyncsBefore = r.cache.stats().bus.resyncs;
    r.redis.signal('SIGKILL');
    await waitFor('the bus to report the link down', () => r.cache.health().bus?.status !== 'up', 2_000);
    // L1 is blind while the link is down (each entry fresh for at most a second).
    expect(r.cache.health().l1.status).toBe('degraded');
    await r.redis.stop();
    const fresh = await startRedisServer(r.redis.port);
    servers.push(fresh);
    await waitFor('the bus to resubscribe', () => r.cache.health().bus?.status === 'up', 10_000);
    expect(r.cache.stats().bus.resyncs - resyncsBefore).toBeGreaterThanOrEqual(2);
    // L1 was dropped when the link came back: it may have missed invalidations.
    for (const key of keys.l1) expect(r.cache.getLocal(key)).toBeUndefined();

    let loads = 0;
    // The store's client reconnects on its own backoff (capped at 500 ms), apart from the bus's.
    await waitFor('the store client to reconnect', () => r.store.client.status === 'ready', 10_000);
    await waitFor(
      'the redis store to answer again',
      async () => {
        await r.cache.get('probe');
        return r.cache.health().stores.redis?.status === 'up';
      },
      5_000,
      PROBE_INTERVAL_MS,
    );
    for (const key of [...keys.l1, ...keys.l3.slice(0, 20)]) {
      expect(
        await r.cache.getOrSet(key, () => {
          loads++;
          return 'reloaded';
        }),
      ).toBe(`v:${key}`);
    }
    expect(loads).toBe(0);
    // Backfilled into the new, empty Redis.
    const raw = rawRedis(fresh.url);
    await waitFor(
      'L3 hits to be backfilled into the new Redis',
      async () => (await raw.exists(`${r.namespace}:${keys.l3[0]}`)) === 1,
      2_000,
    );
  });
});

describe('writes missed during an outage', () => {
  /** Pauses Redis and fails calls until the breaker is open, so later writes never reach it. */
  async function openBreaker(r: Rig): Promise<void> {
    r.redis.signal('SIGSTOP');
    let i = 0;
    await waitFor(
      'the breaker to open',
      async () => {
        await r.cache.get(`filler:${i++}`);
        return r.cache.health().stores.redis?.breaker === 'open';
      },
      5_000,
      PROBE_INTERVAL_MS,
    );
  }

  it('never reads the recovered Redis for a key overwritten or deleted meanwhile before repairing it', async () => {
    const r = await rig('stale', { l1: false });
    await r.cache.setMany([
      { key: 'over', value: 'old' },
      { key: 'gone', value: 'old' },
      { key: 'timed-out', value: 'old' },
    ]);
    const monitor = rawRedis(r.redis.url);
    const seen: string[] = [];
    const feed = await monitor.monitor();
    feed.on('monitor', (_time: string, args: string[]) => {
      seen.push(args.map(String).join(' '));
    });
    redisClients.push(feed);

    r.redis.signal('SIGSTOP');
    // Sent while hung: the guard times out, the command may still land later.
    await r.cache.set('timed-out', 'new');
    await openBreaker(r);
    await r.cache.set('over', 'new');
    await r.cache.delete('gone');
    r.redis.signal('SIGCONT');

    let loads = 0;
    const loader = () => {
      loads++;
      return 'loaded';
    };
    // The guard's own probe closes the breaker once Redis answers (no cool-down to sit out).
    await waitFor('the breaker to close', () => r.cache.health().stores.redis?.breaker === 'closed', 2_000);
    expect(await r.cache.getOrSet('over', loader)).toBe('new');
    expect(await r.cache.getOrSet('gone', loader)).toBe('loaded');
    expect(await r.cache.getOrSet('timed-out', loader)).toBe('new');
    expect(loads).toBe(1);
    expect(r.cache.health().stores.redis?.breaker).toBe('closed');

    // In Redis's own order of commands: each key's repair precedes every read of it. The
    // repair is a versioned tombstone (the entry's flag byte 2, `t\x02\x02` in MONITOR's
    // escaping), just below the missed write's version, written by the set-if-newer script.
    await waitFor(
      'MONITOR to report the reads',
      () => seen.some((c) => c.includes(`${r.namespace}:over`)),
      2_000,
    );
    for (const key of ['over', 'gone', 'timed-out']) {
      const full = `${r.namespace}:${key}`;
      const commands = seen.filter((c) => c.split(' ').includes(full));
      const repaired = commands.findIndex((c) => /^evalsha /i.test(c) && c.includes('t\\x02\\x02'));
      const firstRead = commands.findIndex((c) => /^(get|mget) /i.test(c));
      expect(repaired, `${key}: ${commands.join(' | ')}`).toBeGreaterThanOrEqual(0);
      if (firstRead >= 0) expect(repaired, `${key}: ${commands.join(' | ')}`).toBeLessThan(firstRead);
    }
  });

  it('clears the namespace from the recovered Redis when more than 10,000 keys were missed', async () => {
    const r = await rig('many', { l1: false });
    const keys = Array.from({ length: 10_001 }, (_, i) => `k${i}`);
    await r.cache.setMany(keys.map((key) => ({ key, value: 'old' })));
    const raw = rawRedis(r.redis.url);
    await raw.set('other-namespace:key', 'untouched');
    expect(await raw.exists(`${r.namespace}:k0`, `${r.namespace}:k10000`)).toBe(2);

    await openBreaker(r);
    await r.cache.setMany(keys.map((key) => ({ key, value: 'new' })));
    r.redis.signal('SIGCONT');
    // The repair is one SCAN + UNLINK pass over the namespace; it may need more than one
    // guard timeout (and so more than one probe) on a slow machine.
    // Past 10,000 missed keys the repair clears the namespace behind an epoch at the
    // newest missed write (a generation: nothing older can come back); the writes made
    // during the outage are then misses too, never 'old'.
    await waitFor(
      'the breaker to close',
      async () => {
        expect(await r.cache.get('k5000')).not.toBe('old');
        return r.cache.health().stores.redis?.status === 'up';
      },
      5_000,
      PROBE_INTERVAL_MS,
    );
    expect(await raw.get(`${r.namespace}:k0`)).toBeNull();
    expect(await raw.get('other-namespace:key')).toBe('untouched');
    expect(await r.cache.get('k0')).toBeUndefined();
    expect(await r.cache.getOrSet('k0', () => 'reloaded')).toBe('reloaded');
  });

  it('a read that meets a long repair of a still-hung Redis is answered within the guard timeout', async () => {
    const r = await rig('long-repair', { l1: false });
    await r.cache.set('cold', 'v');
    await openBreaker(r);
    // Past 10,000 missed keys the repair is a clear of the namespace: a long call.
    const keys = Array.from({ length: 10_001 }, (_, i) => `k${i}`);
    await r.cache.setMany(keys.map((key) => ({ key, value: 'new' })));
    try {
      // Still hung when the cool-down ends: the next read is the probe, and must repair first.
      await waitFor('half-open', () => r.cache.health().stores.redis?.breaker === 'half-open', 2_000);
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect(await r.cache.get('cold')).toBe('v');
        expect(performance.now() - started).toBeLessThan(BOUND_MS);
      }
    } finally {
      r.redis.signal('SIGCONT');
    }
    // Once Redis answers, the repair completes and Redis serves again.
    await waitFor(
      'the repair to complete',
      async () => {
        // 'new' from L3 until the repair, a miss after it (cleared behind an epoch at the
        // newest missed write): never 'old'.
        expect(await r.cache.get('k1')).not.toBe('old');
        return r.cache.health().stores.redis?.status === 'up';
      },
      10_000,
      PROBE_INTERVAL_MS,
    );
  });

  it('repairs a namespace view cleared while Redis was away', async () => {
    const r = await rig('view', { l1: false });
    const view = r.cache.namespace('users');
    await view.set('u1', 'old');
    await r.cache.set('root', 'kept');
    await openBreaker(r);
    await view.clear();
    r.redis.signal('SIGCONT');
    await waitFor('the breaker to close', () => r.cache.health().stores.redis?.breaker === 'closed', 2_000);
    expect(await view.get('u1')).toBeUndefined();
    expect(await r.cache.get('root')).toBe('kept');
  });
});

describe('close() while Redis is paused', () => {
  it('resolves within its timeout and leaves no socket open (QUIT never answered)', async () => {
    const r = await rig('close-paused', { bus: true });
    await r.cache.set('k', 'v');
    r.redis.signal('SIGSTOP');
    try {
      const started = performance.now();
      await r.cache.close({ timeout: 500 });
      // Before: still pending after 8 s (close awaited QUIT, which a paused server never answers).
      expect(performance.now() - started).toBeLessThan(3_000);
      await waitFor('the store client to drop its socket', () => r.store.client.status === 'end', 3_000);
    } finally {
      r.redis.signal('SIGCONT');
    }
  });
});
