/**
 * Blind mode on a real outage: a private redis-server (store and bus) is paused with
 * SIGSTOP, so the bus link dies without a socket error. L1 keeps answering, reloads a
 * hot key at most once per `l1.blindMaxAge` (1 s by default), never serves a value older
 * than that bound, and is dropped when the link is back.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import { type OwnServer, startRedisServer, stopAll, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

let redis: OwnServer;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  redis?.signal('SIGCONT');
  await Promise.allSettled(toClose.map((c) => c.close()));
  await stopAll();
});

const BOUND_MS = 1_000;
// What "after the bound" allows on top of it: the coarse clock (1 ms) and a busy event loop.
const SLACK_MS = 50;

describe('blind mode on a paused Redis', () => {
  it('answers every read of a hot key, loads it at most once per bound, and never serves a value older than the bound', async () => {
    const cache = new TieredCache<string>({
      namespace: uniqueNamespace('blind'),
      stores: [redisStore({ url: redis.url })],
      bus: redisBus({ url: redis.url }),
      ttl: '10m',
    });
    toClose.push(cache);
    await cache.ready();
    let source = 'v1';
    let loads = 0;
    const loader = () => {
      loads++;
      return source;
    };
    expect(await cache.getOrSet('hot', loader)).toBe('v1');

    redis.signal('SIGSTOP');
    const reads: Array<{ at: number; value: string }> = [];
    let changedAt = 0;
    let loadsWhileBlind = 0;
    try {
      await waitFor('the bus to detect the hung link', () => cache.health().bus?.status !== 'up', 3_000);
      expect(cache.health().l1.status).toBe('degraded');
      const loadsBefore = loads;
      // Reads as fast as they come for 2 s (yielding to I/O between them); the source
      // changes after the first half second.
      const started = performance.now();
      while (performance.now() - started < 2_000) {
        const at = performance.now();
        if (changedAt === 0 && at - started >= 500) {
          source = 'v2';
          changedAt = at;
        }
        reads.push({ at, value: await cache.getOrSet('hot', loader) });
        await new Promise((resolve) => setImmediate(resolve));
      }
      loadsWhileBlind = loads - loadsBefore;
      const spanMs = performance.now() - started;
      // One load per key per bound: at most one per started second, plus the first.
      expect(loadsWhileBlind).toBeLessThanOrEqual(Math.ceil(spanMs / BOUND_MS) + 1);
      expect(loadsWhileBlind).toBeGreaterThanOrEqual(1);
    } finally {
      redis.signal('SIGCONT');
    }
    // Every read was answered, with a value the source had; none older than the bound.
    expect(reads.every((r) => r.value === 'v1' || r.value === 'v2')).toBe(true);
    const late = reads.filter((r) => r.at >= changedAt + BOUND_MS + SLACK_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((r) => r.value !== 'v2')).toEqual([]);

    // The link is back: L1 is dropped, then used again.
    await waitFor('the bus to come back', () => cache.health().bus?.status === 'up', 5_000);
    expect(cache.health().l1.status).toBe('up');
    await cache.set('hot', 'v3');
    expect(cache.getLocal('hot')).toBe('v3');
  });
});
