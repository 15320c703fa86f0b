/**
 * The distributed lease across real processes, each its own TieredCache (L1 + Redis
 * store + Redis bus) on one Redis and namespace: one load per key in the whole fleet.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeaseInstance, spawnLeaseInstance } from '../../fixtures/lease-instance/spawn.js';
import { redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { unlinkPrefix } from './support.js';

const url = await redisUrlForTests();
const LEASE_TTL_MS = 1_000;
const namespace = uniqueNamespace('lease-mp');
let instances: LeaseInstance[] = [];

beforeAll(async () => {
  instances = await Promise.all(
    ['A', 'B', 'C', 'D'].map((name) => spawnLeaseInstance(url, namespace, name, LEASE_TTL_MS)),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.exit()));
  const admin = new Redis(url);
  await unlinkPrefix(admin, namespace).finally(() => admin.quit());
});

describe('lease across 4 processes', () => {
  it('4 processes × 250 concurrent misses of one key make exactly 1 loader call in total (5 trials)', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const key = `stampede:${trial}`;
      // A fast loader (20 ms): the late process walks before the value lands and asks
      // the lease after it was released, which the landed marker answers.
      const results = await Promise.all(instances.map((i) => i.stampede(key, 250, 20)));
      const calls = results.reduce((sum, r) => sum + r.loaderCalls, 0);
      expect(calls, `trial ${trial}: loader calls in all 4 processes`).toBe(1);
      const values = new Set(results.flatMap((r) => r.values));
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(values.size).toBe(1);
      expect(results.reduce((sum, r) => sum + r.values.length, 0)).toBe(1_000);
    }
  }, 60_000);

  it('the winner SIGKILLed mid-load: another process loads once the lease lapses, every caller gets the value', async () => {
    const [winner, ...others] = instances as [LeaseInstance, ...LeaseInstance[]];
    const key = 'killed';
    const started = winner.loading(key);
    // The winner's loader would take a minute: it holds the lease, renewing it.
    const lost = winner.stampede(key, 10, 60_000).catch(() => 'exited');
    await started;
    const waiting = Promise.all(others.map((i) => i.stampede(key, 250, 20)));
    await winner.kill();
    const killedAt = performance.now();
    expect(await lost).toBe('exited');
    const results = await waiting;
    const waited = performance.now() - killedAt;
    expect(results.reduce((sum, r) => sum + r.loaderCalls, 0)).toBe(1);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const values = new Set(results.flatMap((r) => r.values));
    expect(values).toEqual(new Set([expect.stringMatching(/^killed-loaded-by-[BCD]$/)]));
    expect(results.reduce((sum, r) => sum + r.values.length, 0)).toBe(750);
    // They waited for the dead winner's lease to lapse (renewed to a full life every
    // third of it, so at least two thirds were left), and not much longer.
    expect(waited).toBeGreaterThan(LEASE_TTL_MS / 2);
    expect(waited).toBeLessThan(LEASE_TTL_MS * 3);
    instances = others;
  }, 60_000);
});
