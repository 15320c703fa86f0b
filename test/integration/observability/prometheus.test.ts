/**
 * The Prometheus integration against the real prom-client registry, after a scripted
 * workload over a private Redis (L2, killed to open its breaker) and Postgres (L3, a
 * schema of its own): exact counts, bounded label sets.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { registerMetrics } from '../../../src/prometheus/index.js';
import { redisStore } from '../../../src/redis/index.js';
import {
  type OwnServer,
  postgresUrlForTests,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';

let redis: OwnServer;
let pgUrl: string;
const schema = `obs_prom_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  redis = await startRedisServer();
  pgUrl = await postgresUrlForTests();
});

afterAll(async () => {
  await Promise.allSettled(toClose.map((c) => c.close()));
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
  await stopAll();
});

/** The value of one series of a scrape, or `undefined` when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every value one label takes in the series of `metric`. */
function labelValues(text: string, metric: string, label: string): string[] {
  const values = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const match = new RegExp(`${label}="([^"]*)"`).exec(line);
    if (match) values.add(match[1] as string);
  }
  return [...values].sort();
}

function stores() {
  const l2 = redisStore({ url: redis.url });
  const l3 = postgresStore({ connectionString: pgUrl, schema });
  return [l2, l3];
}

describe('registerMetrics on a real registry', () => {
  it('counts a scripted workload exactly, with bounded labels', async () => {
    const namespace = uniqueNamespace('prom');
    const registry = new Registry();
    const cache = new TieredCache<string>({
      namespace,
      stores: stores(),
      // Generous timeouts: on a loaded machine a slow reply must not count as a failure here.
      guard: { failureThreshold: 2, cooldown: '1h', timeout: '2s' },
      onError: () => {},
    });
    // Another instance writing the same tiers: what it writes reaches this one's L2/L3 only.
    const writer = new TieredCache<string>({
      namespace,
      stores: stores(),
      onError: () => {},
      guard: { timeout: '2s' },
    });
    toClose.push(cache, writer);
    registerMetrics(cache, { registry });

    await cache.getOrSet('a', () => 'A'); // miss l1, redis, postgres; load ok
    await cache.getOrSet('a', () => 'A'); // l1 hit
    await writer.set('b', 'B');
    await cache.getOrSet('b', () => 'x'); // l1 miss, redis hit
    await writer.set('c', 'C');
    const raw = new Redis(redis.url);
    await raw.unlink(`${namespace}:c`);
    await raw.quit();
    expect(await cache.get('c')).toBe('C'); // l1 miss, redis miss, postgres hit (backfills redis)
    await expect(cache.getOrSet('e', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(
      cache.getOrSet('t', () => new Promise<string>(() => {}), { timeouts: { hard: 20 } }),
    ).rejects.toThrow(/hard timeout/);
    await redis.stop();
    for (const key of ['x1', 'x2', 'x3']) await cache.get(key); // redis fails twice, then its breaker is open

    const text = await registry.metrics();
    const lookups = (tier: string, result: string) =>
      sample(text, `tiercache_lookups_total{namespace="${namespace}",tier="${tier}",result="${result}"}`);
    expect([lookups('l1', 'hit'), lookups('l1', 'miss'), lookups('l1', 'stale')]).toEqual([1, 8, 0]);
    expect([lookups('redis', 'hit'), lookups('redis', 'miss')]).toEqual([1, 4]);
    expect([lookups('postgres', 'hit'), lookups('postgres', 'miss')]).toEqual([1, 6]);
    expect(sample(text, `tiercache_store_errors_total{namespace="${namespace}",tier="redis"}`)).toBe(3);
    expect(sample(text, `tiercache_store_errors_total{namespace="${namespace}",tier="postgres"}`)).toBe(0);
    expect(sample(text, `tiercache_loads_total{namespace="${namespace}",outcome="ok"}`)).toBe(1);
    expect(sample(text, `tiercache_loads_total{namespace="${namespace}",outcome="error"}`)).toBe(2);
    const loaderCount = (outcome: string) =>
      sample(text, `tiercache_loader_duration_seconds_count{namespace="${namespace}",outcome="${outcome}"}`);
    expect([loaderCount('ok'), loaderCount('error'), loaderCount('timeout')]).toEqual([1, 1, 1]);
    expect(sample(text, `tiercache_breaker_state{namespace="${namespace}",tier="redis"}`)).toBe(2);
    expect(sample(text, `tiercache_breaker_state{namespace="${namespace}",tier="postgres"}`)).toBe(0);
    expect(sample(text, `tiercache_sets_total{namespace="${namespace}",tier="postgres"}`)).toBe(1);
    // Redis: the load of `a`, and the backfill of `c` found in Postgres.
    expect(sample(text, `tiercache_sets_total{namespace="${namespace}",tier="redis"}`)).toBe(2);
    // Two failed reads of redis; the third was turned away without a call.
    expect(
      sample(
        text,
        `tiercache_store_operation_duration_seconds_count{namespace="${namespace}",tier="redis",kind="read",outcome="error"}`,
      ),
    ).toBe(2);

    // Bounded: label values come from fixed sets only, never a key.
    expect(labelValues(text, 'tiercache_lookups_total', 'tier')).toEqual(['l1', 'postgres', 'redis']);
    expect(labelValues(text, 'tiercache_lookups_total', 'result')).toEqual(['hit', 'miss', 'stale']);
    expect(labelValues(text, 'tiercache_loader_duration_seconds_count', 'outcome')).toEqual([
      'error',
      'ok',
      'timeout',
    ]);
    expect(text).not.toMatch(/"x1"|"a"|"boom"/);

    // A second scrape adds nothing new: counters are deltas of the cache's own counts.
    const again = await registry.metrics();
    expect(sample(again, `tiercache_lookups_total{namespace="${namespace}",tier="l1",result="miss"}`)).toBe(
      8,
    );
  });

  it('several caches share a registry; keyGroups adds a bounded group label; unregister removes them', async () => {
    const registry = new Registry();
    const nsOne = uniqueNamespace('p1');
    const one = new TieredCache<string>({ namespace: nsOne });
    const two = new TieredCache<string>({ namespace: uniqueNamespace('p2') });
    toClose.push(one, two);
    const groups = { user: /^user:/, product: /^product:/ };
    const offOne = registerMetrics(one, { registry, keyGroups: groups });
    const offTwo = registerMetrics(two, { registry, keyGroups: groups });
    expect(() => registerMetrics(one, { registry })).toThrow(/keyGroups/);
    await one.getOrSet('user:1', () => 'u');
    await one.getOrSet('user:1', () => 'u');
    await two.getOrSet('order:9', () => 'o');
    const text = await registry.metrics();
    expect(
      sample(text, `tiercache_lookups_total{namespace="${nsOne}",tier="l1",result="hit",group="user"}`),
    ).toBe(1);
    // Every group's series exists from the start (at zero): the set is the names given, and `other`.
    expect(labelValues(text, 'tiercache_lookups_total', 'group')).toEqual(['other', 'product', 'user']);
    expect(
      sample(text, `tiercache_lookups_total{namespace="${nsOne}",tier="l1",result="miss",group="user"}`),
    ).toBe(1);
    expect(labelValues(text, 'tiercache_lookups_total', 'namespace')).toHaveLength(2);
    offOne();
    offTwo();
    expect(await registry.metrics()).toBe('\n');
  });
});
