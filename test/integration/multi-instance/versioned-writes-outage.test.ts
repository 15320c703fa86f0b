/**
 * Issue 17 (versioned writes), scenarios 3-5 as regressions: a write that lands after
 * Redis resumes (on a private redis-server), clear() on a big Redis, and a notification
 * from outside tiercache. Real servers; orders forced with signals, holds and bus
 * counters, never sleeps. Scenarios 1-2 are in versioned-writes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresChannel } from '../../../src/postgres/payload.js';
import { redisStore } from '../../../src/redis/index.js';
import { ChaosStore } from '../../../src/testing/index.js';
import { type OwnServer, startRedisServer, uniqueNamespace } from '../../support/services.js';
import { storesUp, waitFor } from '../../support/wait.js';
import { arrived, liveValue, Servers } from './versioned-support.js';

const servers = new Servers(
  `${uniqueNamespace('vwo')}|`,
  `tc_vwo_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
);

beforeAll(() => servers.start());
afterAll(() => servers.stop());

describe('issue 17, scenario 3: a write that lands after Redis resumes', () => {
  // How B is kept from serving v1 for good:
  // - had v2 reached Redis before the late v1 SET ran, the store's version rule would
  //   have refused v1 (a greater version is held): the late write never lands;
  // - here v2 cannot reach Redis (A's breaker is open), so the late v1 SET does land,
  //   and stays there until A's guard repairs Redis: before A reads Redis again its
  //   guard deletes every key it missed a write of, then publishes a `delete` of them at
  //   a new version, which drops B's L1 copy (older) and leaves Redis without v1; B's
  //   next read falls through to Postgres (v2) and backfills it.
  // - meanwhile, B never reads the late v1: A's messages of v1 and v2 said they missed
  //   Redis, so B refuses any Redis entry of the key older than v2 (floors) and reads
  //   Postgres. (Before floors, B could read v1 from Redis in that window and keep it.)
  // Before issue 17 the repair deleted v1 from Redis but published nothing: B kept v1 in
  // its L1 until its TTL, and the wait for the repair's message below times out.
  it("B never serves the late v1 once A's repair has published; Redis keeps no v1", async () => {
    const own: OwnServer = await startRedisServer();
    try {
      const ns = uniqueNamespace('s3');
      const a = servers.instance(ns, {
        redis: redisStore({ url: own.url, prefix: servers.prefix, timeoutMs: 200 }),
        bus: servers.newBus('postgres'),
        strict: false,
        // No cache-wide timeout: Redis 200 ms, Postgres its own 5 s. One failure opens the breaker.
        guard: { failureThreshold: 1, cooldown: 300 },
      });
      const b = servers.instance(ns, {
        redis: servers.newRedisStore(own.url),
        bus: servers.newBus('postgres'),
        strict: false,
      });
      await Promise.all([a.ready(), b.ready()]);
      // v0's message is sent in the background: heard before counting v1's and v2's.
      await a.set('k', 'v0');
      await waitFor('B to hear v0', () => b.stats().bus.received >= 1, 5_000);
      expect(await b.get('k')).toBe('v0');
      const heard = b.stats().bus.received;

      own.signal('SIGSTOP');
      // v1's Redis write is sent and waits in the socket; the guard times it out, the breaker opens.
      await a.set('k', 'v1');
      expect(a.health().stores.redis?.breaker).toBe('open');
      // v2 fails fast in Redis (circuit open) and lands in Postgres only.
      await a.set('k', 'v2');
      await waitFor('B to hear v1 and v2', () => b.stats().bus.received >= heard + 2, 5_000);
      own.signal('SIGCONT');

      // Redis runs the late v1 write (it holds v0, older, so v1 lands) unless A's repair,
      // which starts as soon as A's probe finds Redis back, already put a tombstone just
      // below v2 there. In the window between the two, B's L1 (dropped by v1's and v2's
      // messages) reads Redis, refuses anything older than v2 there, and reads Postgres.
      expect(await b.get('k')).toBe('v2');

      // A's repair (Redis up again: its breaker closed and the missed writes shadowed)
      // publishes what it shadowed, and B drops a copy older than v2 (it holds v2).
      const beforeRepair = b.stats().bus.received;
      await storesUp([a], 'redis', 10_000, 50);
      await waitFor("A's repair message to reach B", () => b.stats().bus.received > beforeRepair, 5_000);
      expect(b.getLocal('k')).toBe('v2');
      let reloads = 0;
      const seen = new Set<string>();
      for (let i = 0; i < 50; i++) {
        seen.add(
          await b.getOrSet('k', () => {
            reloads++;
            return 'reloaded';
          }),
        );
      }
      expect(seen.has('v1')).toBe(false);
      expect([...seen].every((v) => v === 'v2' || v === 'reloaded')).toBe(true);
      expect(reloads).toBeLessThanOrEqual(1);
      await waitFor(
        'Redis to converge (no v1 left)',
        async () => liveValue((await servers.stored(`${ns}:k`, own.url)).redis) !== 'v1',
        5_000,
        10,
      );
      expect(['v2', 'reloaded', undefined]).toContain(
        liveValue((await servers.stored(`${ns}:k`, own.url)).redis),
      );
      expect(await a.get('k')).toBe('v2');
      await Promise.all([a.close(), b.close()]);
    } finally {
      await own.stop();
    }
  });
});

describe('issue 17, scenario 4: clear() on a big Redis', () => {
  // Before issue 17, clear() awaited the SCAN + UNLINK of every store: held here, it
  // never resolved (the bounded race below reports 'pending'); and until the scan
  // reached a key, B read the old value back from Redis into its L1.
  it('clear() resolves before the physical deletion; B serves none of the 2,000 old values meanwhile; a value set after it is served', async () => {
    const noise = `${uniqueNamespace('noise')}:`;
    const noiseKeys = Array.from({ length: 20_000 }, (_, i) => `${noise}${i}`);
    const ns = uniqueNamespace('s4');
    try {
      const pipeline = servers.redis.pipeline();
      for (const key of noiseKeys) pipeline.set(key, 'unrelated', 'EX', 600);
      await pipeline.exec();

      const aRedis = new ChaosStore(servers.newRedisStore());
      const a = servers.instance(ns, { redis: aRedis, bus: servers.newBus('redis') });
      const b = servers.instance(ns, { bus: servers.newBus('redis') });
      await Promise.all([a.ready(), b.ready()]);
      const keys = Array.from({ length: 2_000 }, (_, i) => `n${i}`);
      const heardSet = b.stats().bus.received;
      await a.setMany(keys.map((key, i) => ({ key, value: `old-${i}` })));
      // A read that overlaps the write's message does not fill L1 (its fence moved): wait for it.
      await waitFor("A's setMany message to reach B", () => b.stats().bus.received > heardSet, 5_000);
      expect(await b.getMany(keys)).toEqual(keys.map((_, i) => `old-${i}`));
      expect(b.getLocal('n1999')).toBe('old-1999');

      // A's physical deletion of Redis is held before it reaches the server.
      const sweep = aRedis.hold('clear');
      const heard = b.stats().bus.received;
      const outcome = await Promise.race([
        a.clear().then(() => 'resolved' as const),
        new Promise<'pending'>((resolve) => setTimeout(resolve, 10_000, 'pending')),
      ]);
      expect(outcome).toBe('resolved');
      await arrived([sweep], 'the physical deletion to reach the gate');
      // Nothing was deleted from Redis yet: the old values are all still there.
      expect(await servers.redis.exists(...keys.map((key) => `${servers.prefix}${ns}:${key}`))).toBe(2_000);
      await waitFor("the clear's message to reach B", () => b.stats().bus.received > heard, 5_000);
      const sample = keys.filter((_, i) => i % 10 === 0);
      for (const key of sample) {
        expect(b.getLocal(key), `B's L1, ${key}`).toBeUndefined();
        expect(await b.get(key), `B, ${key}`).toBeUndefined();
      }

      sweep.release();
      await waitFor(
        'the physical deletion to finish',
        async () => (await servers.redis.exists(...keys.map((key) => `${servers.prefix}${ns}:${key}`))) === 0,
        30_000,
        50,
      );
      let left = 0;
      for (let i = 0; i < noiseKeys.length; i += 5_000)
        left += await servers.redis.exists(...noiseKeys.slice(i, i + 5_000));
      expect(left).toBe(20_000);

      await a.set('after', 'fresh');
      await a.set('n0', 'new-0');
      expect(await b.get('after')).toBe('fresh');
      expect(await b.get('n0')).toBe('new-0');
      expect(await servers.instance(ns).getMany(['after', 'n0', 'n1'])).toEqual([
        'fresh',
        'new-0',
        undefined,
      ]);
    } finally {
      for (let i = 0; i < noiseKeys.length; i += 5_000)
        await servers.redis.unlink(...noiseKeys.slice(i, i + 5_000));
    }
  });
});

describe('issue 17, scenario 5: a notification from outside tiercache', () => {
  /** Two instances on the Postgres bus, both holding `k = 'old'` in L1 and every store. */
  async function twoInstances(label: string) {
    const ns = uniqueNamespace(label);
    const a = servers.instance(ns, { bus: servers.newBus('postgres') });
    const b = servers.instance(ns, { bus: servers.newBus('postgres') });
    await Promise.all([a.ready(), b.ready()]);
    const heard = b.stats().bus.received;
    await a.set('k', 'old');
    // A read that overlaps the write's message does not fill L1 (its fence moved): wait for it.
    await waitFor("A's set to reach B", () => b.stats().bus.received > heard, 5_000);
    expect(await b.get('k')).toBe('old');
    expect([a.getLocal('k'), b.getLocal('k')]).toEqual(['old', 'old']);
    return { ns, a, b };
  }

  /** A trigger's NOTIFY, from a plain pg connection (no cache). */
  async function notify(ns: string, message: object): Promise<void> {
    await servers.admin.query('SELECT pg_notify($1, $2)', [postgresChannel(ns), JSON.stringify(message)]);
  }

  // Before issue 17 `external` was ignored: the message dropped L1 only, the next
  // getOrSet found 'old' in Redis (no loader call) and copied it back into L1.
  it("with external: true, a delete reaches every tier: both L1s drop k, the stores keep no 'old', the next getOrSet reloads", async () => {
    const { ns, a, b } = await twoInstances('s5-ext');
    const heard = [a.stats().bus.received, b.stats().bus.received];
    await notify(ns, { origin: 'db-trigger', op: 'delete', external: true, keys: ['k'] });
    await waitFor(
      'both instances to hear the trigger',
      () => a.stats().bus.received > (heard[0] as number) && b.stats().bus.received > (heard[1] as number),
      5_000,
    );
    expect([a.getLocal('k'), b.getLocal('k')]).toEqual([undefined, undefined]);
    // Each instance deletes the key from the stores in the background (a tombstone).
    await waitFor(
      'the stores to hold a tombstone for k',
      async () => {
        const stored = await servers.stored(`${ns}:k`);
        return stored.redis?.deleted === true && stored.postgres?.deleted === true;
      },
      5_000,
      10,
    );
    let loads = 0;
    const loader = () => {
      loads++;
      return 'reloaded';
    };
    expect(await a.getOrSet('k', loader)).toBe('reloaded');
    expect(loads).toBe(1);
    // B gets A's reload (from Redis) or reloads itself: never 'old'.
    expect(await b.getOrSet('k', loader)).toBe('reloaded');
    const stored = await servers.stored(`${ns}:k`);
    expect([liveValue(stored.redis), liveValue(stored.postgres)]).toEqual(['reloaded', 'reloaded']);
  });

  // Regression (found by this test): an external message drops L1 and bumps the fences
  // at once, but the stores' tombstones are written in the background. A read in between
  // (the tombstone write slower than the read: a pooled store such as Postgres gives no
  // order between a write on one connection and a later read on another; here both
  // writes are held) found 'old' in Redis and copied it into L1 with a fence taken after
  // the bump, and 'old' was then served from L1 until its TTL. Stack#external now drops
  // L1 copies older than the tombstones again once they land, as deleteKeys does.
  it('with external: true, a read before the tombstones land does not keep the old value in L1', async () => {
    const ns = uniqueNamespace('s5-race');
    const aRedis = new ChaosStore(servers.newRedisStore());
    const aPostgres = new ChaosStore(servers.newPostgresStore());
    const a = servers.instance(ns, { redis: aRedis, postgres: aPostgres, bus: servers.newBus('postgres') });
    await a.ready();
    await a.set('k', 'old');
    const gates = [aRedis.hold('setMany'), aPostgres.hold('setMany')];
    const heard = a.stats().bus.received;
    await notify(ns, { origin: 'db-trigger', op: 'delete', external: true, keys: ['k'] });
    await waitFor('A to hear the trigger', () => a.stats().bus.received > heard, 5_000);
    await arrived(gates, 'the tombstone writes to reach the gates');
    // The read in the window.
    await a.get('k');
    for (const gate of gates) gate.release();
    await waitFor(
      'the tombstones to land',
      async () => {
        const stored = await servers.stored(`${ns}:k`);
        return stored.redis?.deleted === true && stored.postgres?.deleted === true;
      },
      5_000,
      10,
    );
    let loads = 0;
    const value = await a.getOrSet('k', () => {
      loads++;
      return 'reloaded';
    });
    expect(value).toBe('reloaded');
    expect(loads).toBe(1);
  });

  // The control: a message without `external` behaves as before issue 17 (it is what
  // older tiercache releases send, without versions): L1 only. It holds on the old code
  // too, by design; it pins that the compatibility path did not change.
  it("without external (the compatibility path for messages from older tiercache releases), a delete drops only L1: the stores still serve 'old'", async () => {
    const { ns, a, b } = await twoInstances('s5-compat');
    const heard = [a.stats().bus.received, b.stats().bus.received];
    await notify(ns, { origin: 'older-release', op: 'delete', keys: ['k'] });
    await waitFor(
      'both instances to hear the message',
      () => a.stats().bus.received > (heard[0] as number) && b.stats().bus.received > (heard[1] as number),
      5_000,
    );
    expect([a.getLocal('k'), b.getLocal('k')]).toEqual([undefined, undefined]);
    let loads = 0;
    const loader = () => {
      loads++;
      return 'reloaded';
    };
    expect(await a.getOrSet('k', loader)).toBe('old');
    expect(await b.getOrSet('k', loader)).toBe('old');
    expect(loads).toBe(0);
    const stored = await servers.stored(`${ns}:k`);
    expect([liveValue(stored.redis), liveValue(stored.postgres)]).toEqual(['old', 'old']);
  });
});
