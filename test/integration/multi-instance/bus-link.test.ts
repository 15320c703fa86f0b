/**
 * Missed invalidations: while the bus link is down no message can reach L1, so L1 goes
 * blind (each entry fresh for at most `l1.blindMaxAge` after it was last known current;
 * 0 here: nothing) and is dropped when the link is back. Run on a private redis-server
 * that the test pauses (SIGSTOP: a hang the socket never reports).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BusListener, TieredCache } from '../../../src/index.js';
import { postgresBus, postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import {
  type OwnServer,
  startPostgresServer,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

let pgServer: OwnServer;
let redis: OwnServer;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startPostgresServer(), startRedisServer()]);
});

afterAll(async () => {
  redis?.signal('SIGCONT');
  await Promise.allSettled(toClose.map((c) => c.close()));
  await stopAll();
});

describe('bus link down', () => {
  it('with blindMaxAge 0, serves no L1 value as fresh from 1 s after a hang until the link is back', async () => {
    const namespace = uniqueNamespace('bus-down');
    const schema = `bus_${Math.random().toString(36).slice(2, 8)}`;
    const cache = new TieredCache<string>({
      namespace,
      stores: [redisStore({ url: redis.url }), postgresStore({ connectionString: pgServer.url, schema })],
      bus: redisBus({ url: redis.url }),
      l1: { max: 1_000, blindMaxAge: 0 },
      ttl: '10m',
      guard: { cooldown: 200 },
    });
    // Another instance whose writes reach L3 while its messages are lost with the link.
    const writer = new TieredCache<string>({
      namespace,
      l1: false,
      stores: [postgresStore({ connectionString: pgServer.url, schema })],
      ttl: '10m',
    });
    toClose.push(cache, writer);
    await cache.ready();

    await writer.set('k', 'v1');
    expect(await cache.getOrSet('k', () => 'loaded')).toBe('v1');
    expect(cache.getLocal('k')).toBe('v1');

    const stoppedAt = performance.now();
    redis.signal('SIGSTOP');
    try {
      await waitFor('the bus to detect the hung link', () => cache.health().bus?.status !== 'up', 2_000);
      const detectedMs = performance.now() - stoppedAt;
      console.log(`bus link down detected ${detectedMs.toFixed(0)} ms after SIGSTOP`);
      expect(detectedMs).toBeLessThan(1_000 + 100);
      expect(cache.getLocal('k')).toBeUndefined();
      expect(cache.stats().bus.resyncs).toBeGreaterThanOrEqual(1);

      // Read while the link is down: the value must not settle in L1, where the
      // overwrite below could never reach it.
      expect(await cache.getOrSet('k', () => 'loaded')).toBe('v1');
      expect(cache.getLocal('k')).toBeUndefined();
      await writer.set('k', 'v2');
      expect(await cache.getOrSet('k', () => 'loaded')).toBe('v2');
      expect(await cache.get('k')).toBe('v2');
      expect(cache.health().l1.status).toBe('degraded');
    } finally {
      redis.signal('SIGCONT');
    }

    await waitFor('the bus to come back', () => cache.health().bus?.status === 'up', 5_000);
    // Written through this cache (all its tiers): the L3-only writer, with no bus, cannot
    // reach Redis, where the backfill of 'v2' that waited out the pause has landed (Redis's
    // repair keeps it: it is the newest write Redis missed, not an older value).
    await cache.set('k', 'v3');
    expect(await cache.getOrSet('k', () => 'loaded')).toBe('v3');
    // L1 is used again once the link is back.
    expect(cache.getLocal('k')).toBe('v3');
    expect(cache.health().l1.status).toBe('up');
    expect(cache.health().bus?.status).toBe('up');
  });

  it('reports the link state and the time of the last message in health()', async () => {
    const namespace = uniqueNamespace('bus-health');
    const make = () =>
      new TieredCache<string>({
        namespace,
        stores: [redisStore({ url: redis.url })],
        bus: redisBus({ url: redis.url }),
      });
    const a = make();
    const b = make();
    toClose.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    expect(b.health().bus?.status).toBe('up');
    expect(b.health().bus?.lastMessageAt).toBeUndefined();
    const before = Date.now();
    await a.delete('x');
    await waitFor('b to receive the message', () => b.health().bus?.lastMessageAt !== undefined);
    expect(b.health().bus?.lastMessageAt).toBeGreaterThanOrEqual(before - 5);
    expect(b.health().status).toBe('up');
  });

  it('the Postgres bus reports both link edges to the cache (onLinkChange) when its backend is terminated', async () => {
    const events: string[] = [];
    const listener: BusListener = {
      onMessage: () => {},
      onResync: () => events.push('resync'),
      onLinkChange: (up) => events.push(up ? 'up' : 'down'),
    };
    const bus = postgresBus({ connectionString: pgServer.url, reconnectMinMs: 10, reconnectMaxMs: 50 });
    toClose.push(bus);
    await bus.start(uniqueNamespace('pg-bus-link'), 'me', listener);
    const admin = new pg.Client({ connectionString: pgServer.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tiercache-bus'",
      );
    } finally {
      await admin.end();
    }
    await waitFor('the bus to report the link down and up again', () => events.includes('up'), 5_000);
    expect(events.indexOf('down')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('down')).toBeLessThan(events.indexOf('up'));
    await waitFor('the bus to be up', () => bus.health().status === 'up');
  });
});
