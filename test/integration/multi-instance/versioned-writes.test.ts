/**
 * Issue 17 (versioned writes), the scenarios it reported, as regressions: two or three
 * TieredCache instances in one process, each with its own clients, on the real Redis
 * and Postgres. Orders are forced with ChaosStore holds and deferreds, never sleeps.
 * Scenarios 3-5 are in versioned-writes-outage.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosStore, FakeClock } from '../../../src/testing/index.js';
import { uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { arrived, deferred, liveValue, RecordingStore, Servers } from './versioned-support.js';

const servers = new Servers(
  `${uniqueNamespace('vw')}|`,
  `tc_vw_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
);

beforeAll(() => servers.start());
afterAll(() => servers.stop());

describe.each([
  ['without a bus', undefined],
  ['with the Redis bus', 'redis'],
] as const)('issue 17, scenario 1: a load vs a write on another instance (%s)', (_, busKind) => {
  // Before issue 17 a load's write was an unconditional SET / upsert. Without a bus, A's
  // held write landed after B's and every tier kept 'old' (the 50/50 failure).
  // With a bus, B's message moved A's fence while A's write was on the wire, and A
  // undid its own write with a physical delete, which deleted B's 'new' as well: Redis
  // and Postgres ended up with nothing. Either way the 'new' assertions below fail.
  it("a load that started before B's set and writes after it never overwrites 'new' (20 forced interleavings)", async () => {
    const ns = uniqueNamespace('s1');
    const aRedis = new ChaosStore(servers.newRedisStore());
    const aPostgres = new ChaosStore(servers.newPostgresStore());
    const bus = () => (busKind === undefined ? undefined : servers.newBus(busKind));
    const a = servers.instance(ns, { redis: aRedis, postgres: aPostgres, ...optional('bus', bus()) });
    const b = servers.instance(ns, { ...optional('bus', bus()) });
    await Promise.all([a.ready(), b.ready()]);
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);

    for (const key of keys) {
      const called = deferred<number>();
      const result = deferred<string>();
      // A's next write to each store waits on the wire until released.
      const redisGate = aRedis.hold('setMany');
      const postgresGate = aPostgres.hold('setMany');
      // A starts a slow load: its version is taken now, before the loader is called.
      const load = a.getOrSet(key, () => {
        called.resolve(Date.now());
        return result.promise;
      });
      const startedAt = await called.promise;
      // Versions order by milliseconds first: B's set must come in a later millisecond
      // than the load's start, which real time guarantees once the clock has moved on
      // (two instances that never talked cannot order events within one millisecond).
      await waitFor('the clock to pass the load start', () => Date.now() > startedAt, 1_000, 1);
      // The load finishes; its commit passes its fence check and its writes are held.
      result.resolve('old');
      await arrived([redisGate, postgresGate], "A's writes to reach the gates");
      // B writes 'new'; it lands in both stores first.
      const received = a.stats().bus.received;
      await b.set(key, 'new');
      if (busKind !== undefined) {
        // B's message reaches A while A's write is still on the wire.
        await waitFor("B's message to reach A", () => a.stats().bus.received > received, 5_000);
      }
      // Now A's older write lands, after B's.
      redisGate.release();
      postgresGate.release();
      expect(await load).toBe('old');
      const stored = await servers.stored(`${ns}:${key}`);
      expect(liveValue(stored.redis), `Redis, ${key}`).toBe('new');
      expect(liveValue(stored.postgres), `Postgres, ${key}`).toBe('new');
      if (busKind !== undefined) expect(await a.get(key), `A after B's message, ${key}`).toBe('new');
      expect(await b.get(key), `B, ${key}`).toBe('new');
    }
    const c = servers.instance(ns);
    expect(await c.getMany(keys)).toEqual(keys.map(() => 'new'));
  });
});

describe('issue 17, scenario 1 within one millisecond', () => {
  // Regression (found by this test): a load used to take an ordinary version when it
  // started, (ms, counter, tag). Two instances that never talked order events within one
  // millisecond by counter, then by random tag, so a load that started before another
  // instance's set in the same millisecond won over it when its instance had issued more
  // versions in that millisecond, and about half the time otherwise: its older snapshot
  // then stayed in every tier. A load's version is now the lowest of its millisecond
  // (VersionClock.snapshot: counter 0, tag 00000000): a load is a snapshot, a write is
  // authoritative. Both instances share a frozen clock here, so the millisecond is wide
  // and the order deterministic: A issued three versions in it before its load, B none.
  it("a load that started before B's set in the same millisecond never overwrites 'new'", async () => {
    const ns = uniqueNamespace('s1-ms');
    const clock = new FakeClock(Date.now());
    const aRedis = new ChaosStore(servers.newRedisStore());
    const a = servers.instance(ns, { redis: aRedis, clock });
    const b = servers.instance(ns, { clock });
    for (let i = 0; i < 3; i++) await a.set(`warm${i}`, 'x');
    const called = deferred();
    const result = deferred<string>();
    const gate = aRedis.hold('setMany');
    const load = a.getOrSet('k', () => {
      called.resolve();
      return result.promise;
    });
    await called.promise;
    result.resolve('old');
    await arrived([gate], "A's write to reach the gate");
    await b.set('k', 'new');
    gate.release();
    expect(await load).toBe('old');
    const stored = await servers.stored(`${ns}:k`);
    expect([liveValue(stored.redis), liveValue(stored.postgres)]).toEqual(['new', 'new']);
  });
});

describe('issue 17, scenario 2: concurrent writers', () => {
  // Before issue 17 each store kept whichever write landed last, and Redis and Postgres
  // could land the two writes in opposite orders: A's value in one, B's in the other.
  // Either way the stored values need not be the greatest version (the recorded writes'
  // versions did not even exist).
  it('A and B set one key concurrently, 200 rounds: both stores keep the write with the greatest version', async () => {
    const ns = uniqueNamespace('s2a');
    const aRec = new RecordingStore(servers.newRedisStore());
    const bRec = new RecordingStore(servers.newRedisStore());
    const a = servers.instance(ns, { redis: aRec });
    const b = servers.instance(ns, { redis: bRec });
    const keys = Array.from({ length: 200 }, (_, i) => `r${i}`);
    for (const key of keys) await Promise.all([a.set(key, `a-${key}`), b.set(key, `b-${key}`)]);
    await expectGreatestEverywhere(ns, keys, [aRec, bRec]);
  });

  // Before issue 17 the writes held past the guard's timeout landed last, over newer
  // writes of the same keys, in one store only: Redis and Postgres disagreed, and the
  // value of a timed-out write was served.
  it('1,000 un-awaited sets from two instances, some held past the guard timeout: a timed-out write never lands over a newer one', async () => {
    const ns = uniqueNamespace('s2b');
    const aRedis = new ChaosStore(servers.newRedisStore());
    const bPostgres = new ChaosStore(servers.newPostgresStore());
    const aRec = new RecordingStore(aRedis);
    const bRec = new RecordingStore(servers.newRedisStore());
    // The breaker stays closed (only the held writes fail), so every write reaches both stores.
    const guard = { timeout: 1_000, failureThreshold: 10_000 };
    const a = servers.instance(ns, { redis: aRec, strict: false, guard });
    const b = servers.instance(ns, {
      redis: bRec,
      postgres: new RecordingStore(bPostgres),
      strict: false,
      guard,
    });
    const keys = Array.from({ length: 50 }, (_, i) => `c${i}`);
    // The first 10 writes of A to Redis and of B to Postgres are held until the guard has
    // timed them out (and their callers have moved on), then land late.
    const gates = Array.from({ length: 10 }, () => [
      aRedis.hold('setMany'),
      bPostgres.hold('setMany'),
    ]).flat();
    const sets: Array<Promise<void>> = [];
    for (let i = 0; i < 1_000; i++) {
      const writer = i % 2 === 0 ? a : b;
      sets.push(writer.set(keys[i % keys.length] as string, `${i % 2 === 0 ? 'a' : 'b'}-${i}`));
    }
    await arrived(gates, 'the 20 held writes to reach their gates');
    await Promise.all(sets);
    await waitFor(
      'the guard to time out the 20 held writes',
      () => (a.stats().stores.redis?.errors ?? 0) >= 10 && (b.stats().stores.postgres?.errors ?? 0) >= 10,
      10_000,
    );
    for (const gate of gates) gate.release();
    await expectGreatestEverywhere(ns, keys, [aRec, bRec]);
  });
});

/**
 * After every write has reached the servers: Redis and Postgres hold, for each key, the
 * write with the greatest version the instances made (as recorded), and a fresh instance
 * serves it from Postgres once Redis has lost the namespace.
 */
async function expectGreatestEverywhere(ns: string, keys: string[], recorders: RecordingStore[]) {
  await Promise.all(recorders.map((r) => r.quiesce()));
  const greatest = new Map<string, { version: string; value: unknown }>();
  for (const { key, version, entry } of recorders.flatMap((r) => r.writes)) {
    const kept = greatest.get(key);
    if (kept === undefined || version > kept.version) greatest.set(key, { version, value: entry.value });
  }
  const full = keys.map((key) => `${ns}:${key}`);
  // Postgres writes of the held calls may still be on the pool: bounded poll until equal.
  let stored = await servers.storedMany(full);
  await waitFor(
    'Redis and Postgres to hold the same version of every key',
    async () => {
      stored = await servers.storedMany(full);
      return full.every((_, i) => stored.redis[i]?.version === stored.postgres[i]?.version);
    },
    10_000,
    20,
  );
  full.forEach((key, i) => {
    const want = greatest.get(key);
    expect(want, key).toBeDefined();
    expect(stored.redis[i]?.version, `Redis version of ${key}`).toBe(want?.version);
    expect(liveValue(stored.redis[i]), `Redis value of ${key}`).toBe(want?.value);
    expect(liveValue(stored.postgres[i]), `Postgres value of ${key}`).toBe(want?.value);
  });
  await servers.wipeRedis(`${ns}:`);
  const fresh = servers.instance(ns);
  expect(await fresh.getMany(keys)).toEqual(full.map((key) => greatest.get(key)?.value));
  expect(fresh.stats().stores.postgres?.hits).toBe(keys.length);
}

function optional<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}
