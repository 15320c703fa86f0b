import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryCodec } from '../../../src/entry/codec.js';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import type { StoreTier } from '../../../src/stores/store.js';
import { ChaosBus } from '../../../src/testing/chaos-bus.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { MemoryBusHub } from '../../../src/testing/memory-bus.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

// Counterexamples found by the convergence property (convergence.property.test.ts),
// reduced to deterministic tests over the real servers. Each failed before its fix: the
// guard's repair and the clear's sweep deleted physically, which also dropped the version
// (or the epoch) that keeps older writes out; they now write tombstones just below the
// missed write (the epoch again, as it was) and sweep only up to the clear's version.

const schema = `tc_convreg_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const redisPrefix = `tcconvreg-${process.pid}-${Math.random().toString(36).slice(2, 6)}|`;
// Long enough that only the held replies time out, even on a busy machine.
const TIMEOUT_MS = 250;
let redisUrl: string;
let pgUrl: string;
const opened: StoreTier[] = [];
const caches: TieredCache<string>[] = [];

/** A real store that outlives the caches (closed in afterAll). */
function real(kind: 'redis' | 'postgres'): StoreTier {
  const store =
    kind === 'redis'
      ? redisStore({ url: redisUrl, prefix: redisPrefix })
      : postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 });
  opened.push(store);
  return store;
}

/** One instance: L1, chaos around real Redis and real Postgres, a chaos bus on `hub`. */
function instance(namespace: string, hub: MemoryBusHub) {
  const redis = new ChaosStore(real('redis'));
  const postgres = new ChaosStore(real('postgres'));
  const bus = new ChaosBus(hub.bus());
  const cache = new TieredCache<string>({
    namespace,
    stores: [redis, postgres],
    bus,
    ttl: '10m',
    jitter: 0,
    guard: { timeout: TIMEOUT_MS, failureThreshold: 1_000 },
  });
  caches.push(cache);
  return { cache, redis, postgres, bus };
}

/** `inner`, and a way to wait until every call made through it has settled. */
function settling(inner: StoreTier): { store: StoreTier; idle(): Promise<void> } {
  const pending = new Set<Promise<unknown>>();
  const track = <T>(call: Promise<T>): Promise<T> => {
    pending.add(call);
    call.then(
      () => pending.delete(call),
      () => pending.delete(call),
    );
    return call;
  };
  const store: StoreTier = {
    name: inner.name,
    ...(inner.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: inner.defaultTimeoutMs } : {}),
    get: (key) => track(inner.get(key)),
    getMany: (keys) => track(inner.getMany(keys)),
    setMany: (writes) => track(inner.setMany(writes)),
    deleteMany: (keys) => track(inner.deleteMany(keys)),
    clear: (prefix, upTo) => track(inner.clear(prefix, upTo)),
    close: () => inner.close(),
  };
  return {
    store,
    idle: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

/** A getOrSet of `key` whose loader waits: `called` once it runs, `finishLoad` settles it. */
function slowLoad(cache: TieredCache<string>, key: string) {
  let finishLoad!: (value: string) => void;
  let loaderCalled!: () => void;
  const called = new Promise<void>((resolve) => {
    loaderCalled = resolve;
  });
  const loading = cache.getOrSet(key, () => {
    loaderCalled();
    return new Promise<string>((resolve) => {
      finishLoad = resolve;
    });
  });
  return { loading, called, finishLoad: (value: string) => finishLoad(value) };
}

beforeAll(async () => {
  redisUrl = await redisUrlForTests();
  pgUrl = await postgresUrlForTests();
  // Makes the schema before the first timed call.
  await real('postgres').get('warm-up');
});

afterAll(async () => {
  await Promise.allSettled(caches.map((cache) => cache.close({ timeout: 0 })));
  await Promise.allSettled(opened.map((store) => store.close()));
  const redis = new Redis(redisUrl);
  try {
    const keys = await redis.keys(`${redisPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
  const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
  admin.on('error', () => {});
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

/**
 * A writes `k`, then clears while B's link is down and the clear's physical sweep is slow
 * (`lateReplies`: the epoch writes land in both stores, but their replies come back after
 * the guard's timeout). A reads again; B's link comes back and B reads `k`. Returns what B
 * read, what B's L1 holds after, and the epoch each store holds (`none` if absent).
 */
async function clearMissedByB(lateReplies: boolean) {
  const namespace = uniqueNamespace('convreg-epoch');
  const hub = new MemoryBusHub();
  const a = instance(namespace, hub);
  const b = instance(namespace, hub);
  await Promise.all([a.cache.ready(), b.cache.ready()]);
  await a.cache.set('k', 'before-clear');

  const epochReplies = lateReplies
    ? [a.redis.hold('setMany', 'after'), a.postgres.hold('setMany', 'after')]
    : [];
  const sweeps = [a.redis.hold('clear', 'before'), a.postgres.hold('clear', 'before')];
  b.bus.linkDown();
  // The link change made B fetch the epochs again; a read waits for that fetch to end.
  await b.cache.get('other');
  await a.cache.clear();
  for (const gate of epochReplies) gate.release();

  // A reads again: with late replies, its guards first repair both stores by deleting
  // the key they missed a write of - the epoch.
  expect(await a.cache.get('k')).toBeUndefined();
  const epochKey = `${namespace}#epoch:`;
  const codec = new EntryCodec();
  const epochs = (await Promise.all([a.redis.inner.get(epochKey), a.postgres.inner.get(epochKey)])).map(
    (bytes) => (bytes === undefined ? 'none' : codec.decode(bytes).version),
  );

  // B's link comes back: it drops L1 and fetches the epochs again, then reads.
  b.bus.linkUp();
  const got = await b.cache.get('k');
  const local = b.cache.getLocal('k');
  for (const gate of sweeps) gate.release();
  return { got, local, epochs };
}

/**
 * A clears while its physical sweep is slow. C starts a slow load of `k` (after the
 * clear: its version is above the epoch); A then sets `k` (a greater version), and C
 * hears of that set late (`lateMessage`: its delivery is held), so C's load is not
 * fenced off and commits once the sweep has run. Returns what each store holds for `k`
 * and what C reads afterwards.
 */
async function loadAcrossSweep(sweepAfterSet: boolean) {
  const namespace = uniqueNamespace('convreg-sweep');
  const hub = new MemoryBusHub();
  const a = instance(namespace, hub);
  const c = instance(namespace, hub);
  await Promise.all([a.cache.ready(), c.cache.ready()]);
  await a.cache.set('k', 'before-clear');
  // A key only the clear touches: once both stores lost it, the released sweep has run.
  await a.cache.set('marker', 'before-clear');
  const swept = () =>
    waitFor('the sweep to finish', async () => {
      const held = await Promise.all(
        [a.redis, a.postgres].map((store) => store.inner.get(`${namespace}:marker`)),
      );
      return held.every((bytes) => bytes === undefined);
    });

  const sweeps = [a.redis.hold('clear', 'before'), a.postgres.hold('clear', 'before')];
  await a.cache.clear();
  await Promise.all(sweeps.map((gate) => gate.entered));
  if (!sweepAfterSet) {
    for (const gate of sweeps) gate.release();
    await swept();
  }

  const { loading, called, finishLoad } = slowLoad(c.cache, 'k');
  // C's load has read both stores (nothing: the clear hides 'before-clear') and waits for its loader.
  await called;
  const setMessage = c.bus.hold('deliver');
  await a.cache.set('k', 'newest');
  await setMessage.entered;
  if (sweepAfterSet) {
    for (const gate of sweeps) gate.release();
    await swept();
  }
  finishLoad('loaded-before-the-set');
  await loading;
  const heard = c.cache.stats().bus.received;
  setMessage.release();
  await waitFor('C to hear A’s set', () => c.cache.stats().bus.received > heard);

  const codec = new EntryCodec();
  const storeKey = `${namespace}:k`;
  const held = await Promise.all(
    [a.redis.inner, a.postgres.inner].map(async (store) => {
      const bytes = await store.get(storeKey);
      const entry = bytes === undefined ? undefined : codec.decode(bytes);
      return entry === undefined || entry.deleted === true ? 'nothing' : entry.value;
    }),
  );
  return { held, read: await c.cache.get('k'), local: c.cache.getLocal('k') };
}

/**
 * B loads `k`; its commit's Redis write is delayed on the wire. A then sets `k` (a greater
 * version; `lateReply`: its Redis reply comes back after the guard's timeout, so A's guard
 * owes Redis a repair of `k`) and reads another key (the repair runs). B's delayed commit
 * lands last. Returns what Redis holds for `k` and what B reads.
 */
async function commitAcrossRepair(lateReply: boolean) {
  const namespace = uniqueNamespace('convreg-repair');
  const hub = new MemoryBusHub();
  const a = instance(namespace, hub);
  const b = instance(namespace, hub);
  await Promise.all([a.cache.ready(), b.cache.ready()]);

  const { loading, called, finishLoad } = slowLoad(b.cache, 'k');
  await called;
  const commitOnTheWire = b.redis.hold('setMany', 'before');
  finishLoad('loaded-before-the-set');
  await commitOnTheWire.entered;

  // A's set comes after B's load started: a greater version.
  await new Promise((resolve) => setTimeout(resolve, 2));
  const reply = lateReply ? a.redis.hold('setMany', 'after') : undefined;
  await a.cache.set('k', 'newest');
  reply?.release();
  // Any read through A's Redis guard first repairs what it owes: with the late reply, `k`.
  await a.cache.get('other');

  commitOnTheWire.release();
  await loading;
  // The released commit goes out on B's own Redis connection once the pending callbacks
  // have run (one turn of the loop); a read on that same connection is answered after it.
  await new Promise((resolve) => setImmediate(resolve));
  const bytes = await b.redis.inner.get(`${namespace}:k`);
  const entry = bytes === undefined ? undefined : new EntryCodec().decode(bytes);
  const redisHolds = entry === undefined || entry.deleted === true ? 'nothing' : entry.value;
  return { redisHolds, read: await b.cache.get('k') };
}

describe('convergence counterexamples, reduced', () => {
  // BUG 1 (the property with TIERCACHE_FC_SEED=2 counts it as "lost the epoch of a clear",
  // runs 18 and 143 of an early version): an epoch write whose reply times out is "repaired" by deleting the epoch. Epochs.clear
  // writes `<namespace>#epoch:` through StoreSet.write like any entry; when the guard's call
  // times out (or fails) StoreGuard.write remembers the key as missed, and the repair before
  // the next read deletes it physically (StoreGuard #repairNow -> store.deleteMany). For an
  // entry a missing key is a miss; for an epoch it un-does the clear in that store. An
  // instance that missed the clear's bus message and resyncs (Epochs.refresh) then finds no
  // epoch, and serves - and keeps in L1 - a value written before the clear that the
  // background sweep has not deleted yet (or that an older write delayed on the wire put back).
  it('control: a clear whose epoch replies come back in time hides older values from an instance that resyncs', async () => {
    const seen = await clearMissedByB(false);
    expect(seen.got).toBeUndefined();
    expect(seen.local).toBeUndefined();
    expect(seen.epochs).not.toContain('none');
  });

  it('a clear whose epoch replies time out still hides older values from an instance that resyncs', async () => {
    const seen = await clearMissedByB(true);
    expect(seen.got, 'B reads a value written before a clear that completed').toBeUndefined();
    expect(seen.local, 'and keeps it in L1').toBeUndefined();
    expect(seen.epochs, 'the stores still hold the clear').not.toContain('none');
  });
  it('control: a load that started before a set and commits after it loses to the set in every store', async () => {
    const seen = await loadAcrossSweep(false);
    expect(seen.held).toEqual(['newest', 'newest']);
    expect(seen.read).toBe('newest');
  });

  // BUG 2 (the property, TIERCACHE_FC_SEED=11 run 134: "postgres holds load:1:4 ... want
  // set:2:7"; TIERCACHE_FC_SEED=42 run 783, with two concurrent sets after a clear instead
  // of a load: "postgres holds set:0:8 ... want set:0:10"): the background sweep after a clear deletes writes NEWER than the
  // clear's epoch, and with them the version that keeps older writes out. Epochs.clear runs
  // StoreSet.sweep (store.clear(prefix): Redis SCAN + UNLINK, Postgres DELETE ... LIKE),
  // which removes every key under the prefix whatever its version. A set made after the
  // clear that lands before the sweep reaches its key is deleted; a write older than that
  // set but newer than the epoch (here a load that started after the clear and commits
  // after the sweep, its instance not yet told of the set) then lands on an empty key and
  // is kept by every store: every instance reads the load's outdated value until it expires.
  it("a set made after a clear survives the clear's slow sweep and a late load commit", async () => {
    const seen = await loadAcrossSweep(true);
    expect(seen.held, 'Redis and Postgres hold the newest write or nothing').not.toContain(
      'loaded-before-the-set',
    );
    expect(seen.read, 'C reads the newest write or nothing').not.toBe('loaded-before-the-set');
  });
  it('control: a load commit delayed on the wire lands after a newer set and is dropped by Redis', async () => {
    const seen = await commitAcrossRepair(false);
    expect(seen.redisHolds).toBe('newest');
    expect(seen.read).toBe('newest');
  });

  // BUG 3 (the property, TIERCACHE_FC_CLEAR=0 TIERCACHE_FC_SEED=61 run 2995: an instance's
  // set to Redis times out, a delete from another instance lands, the first instance's
  // next read repairs Redis by deleting the key - the tombstone with it - and the timed-out
  // set lands after: "redis holds set:0:4 ... want nothing (newest tombstone)", served by
  // every instance. Also TIERCACHE_FC_SEED=41 run 1283, no clear involved: an instance's
  // load commit to Redis times out, its next read repairs Redis by deleting the key - the
  // other instance's newer load with it - and the timed-out commit lands after: "redis
  // holds load:1:1 ... want load:2:4"). The guard's repair, like the sweep above, deletes
  // physically: a write whose reply times out leaves its key owed a repair (StoreGuard.write -> #remember), and the repair
  // before the store's next read deletes the key (#repairNow -> store.deleteMany), newer
  // write and all. An older write still on the wire (here a load's commit) then lands on the
  // empty key and is kept: Redis serves it, fresh, to every instance, and hides the newer
  // value Postgres holds. A tombstone repaired away the same way lets an older value back.
  it('a set whose reply timed out is not undone by its repair and an older write landing after it', async () => {
    const seen = await commitAcrossRepair(true);
    expect(seen.redisHolds, 'Redis holds the newest write or nothing').not.toBe('loaded-before-the-set');
    expect(seen.read, 'B reads the newest write or nothing').not.toBe('loaded-before-the-set');
  });
});

/**
 * `store`, as a store written for the contract before `clear(prefix, upTo)` existed sees
 * it: `upTo` is dropped, so every clear deletes everything under the prefix. Until this
 * reduction, the property's own wrappers (convergence-world.ts: `Tracker.wrap` and
 * `keepOpen`) did exactly this to both real stores.
 */
function ignoringUpTo(store: StoreTier): StoreTier {
  return {
    name: store.name,
    get: (key) => store.get(key),
    getMany: (keys) => store.getMany(keys),
    setMany: (writes) => store.setMany(writes),
    deleteMany: (keys) => store.deleteMany(keys),
    clear: (prefix) => store.clear(prefix),
    close: () => store.close(),
  };
}

/**
 * B clears while its physical sweep is slow. A hears of the clear, then sets `k` (its
 * Postgres write delayed on the wire) and deletes `k` (the tombstones land in both
 * stores). B's sweep then runs, and A's delayed set lands last. `dropUpTo`: both stores
 * ignore the sweep's `upTo`. Returns what each store holds for `k` and what A and B read.
 */
async function deleteAcrossSweep(dropUpTo: boolean) {
  const namespace = uniqueNamespace('convreg-upto');
  const hub = new MemoryBusHub();
  const make = () => {
    const redisCalls = settling(dropUpTo ? ignoringUpTo(real('redis')) : real('redis'));
    const postgresCalls = settling(dropUpTo ? ignoringUpTo(real('postgres')) : real('postgres'));
    const redis = new ChaosStore(redisCalls.store);
    const postgres = new ChaosStore(postgresCalls.store);
    const bus = new ChaosBus(hub.bus());
    const cache = new TieredCache<string>({
      namespace,
      stores: [redis, postgres],
      bus,
      ttl: '10m',
      jitter: 0,
      guard: { timeout: TIMEOUT_MS, failureThreshold: 1_000 },
    });
    caches.push(cache);
    // Settles once every call that reached the real stores (past the chaos holds) is done.
    const idle = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([redisCalls.idle(), postgresCalls.idle()]);
    };
    return { cache, redis, postgres, idle };
  };
  const a = make();
  const b = make();
  await Promise.all([a.cache.ready(), b.cache.ready()]);

  const sweeps = [b.redis.hold('clear', 'before'), b.postgres.hold('clear', 'before')];
  const heard = a.cache.stats().bus.received;
  await b.cache.clear();
  await Promise.all(sweeps.map((gate) => gate.entered));
  // A hears of the clear: its set and delete take versions above the epoch.
  await waitFor('A to hear the clear', () => a.cache.stats().bus.received > heard);

  const setOnTheWire = a.postgres.hold('setMany', 'before');
  const setting = a.cache.set('k', 'deleted-value');
  await setOnTheWire.entered;
  await a.cache.delete('k');

  for (const gate of sweeps) gate.release();
  // Without upTo the sweep deletes every key of the namespace: the tombstones too.
  await b.idle();
  setOnTheWire.release();
  await setting;
  await a.idle();

  const codec = new EntryCodec();
  const storeKey = `${namespace}:k`;
  const held = await Promise.all(
    [a.redis.inner, a.postgres.inner].map(async (store) => {
      const bytes = await store.get(storeKey);
      const entry = bytes === undefined ? undefined : codec.decode(bytes);
      return entry === undefined || entry.deleted === true ? 'nothing' : entry.value;
    }),
  );
  return { held, readA: await a.cache.get('k'), readB: await b.cache.get('k') };
}

describe('convergence counterexamples, reduced: a sweep that ignores upTo', () => {
  it('control: a delete made after a clear survives its slow sweep and an older set landing after it', async () => {
    const seen = await deleteAcrossSweep(false);
    expect(seen.held).toEqual(['nothing', 'nothing']);
    expect(seen.readA).toBeUndefined();
    expect(seen.readB).toBeUndefined();
  });

  // BUG 4 (the property, runs 2000 a seed, ~1 seed in 5: "postgres holds "set:1:5"@..0001<tag>
  // for c; want nothing (newest tombstone@..0002<tag>, epoch ..0001<other tag>)", served by
  // every instance; TIERCACHE_FC_SEED=760808315 run 522, with no hold at all: two concurrent
  // sets of one instance after a clear, "postgres holds set:2:5 ... want set:2:6"). Not the
  // cache: the property's wrappers between each guard and its ChaosStore (Tracker.wrap) and
  // around each real store (keepOpen) forwarded `clear(prefix)` and dropped `upTo`, which the
  // type checker allows (a function of fewer parameters is assignable). So every sweep after
  // a clear (StoreSet.sweep -> store.clear(prefix, epoch)) deleted EVERYTHING under the
  // namespace, the writes and tombstones made after the clear included, as a store written
  // for the contract before upTo does (store.ts documents this). A write older than the
  // deleted tombstone (or set) but newer than the epoch, still on the wire (a held call, or
  // simply another connection of the Postgres pool), then lands on the empty key and is kept;
  // Redis, whose one connection kept the order, holds nothing, so no tombstone above shadows
  // it (walk.ts) and every instance serves the deleted value. Real stores given upTo keep the
  // tombstone (the control above); with both wrappers passing upTo through, 20,000 runs of
  // 6 seeds found nothing. This test stays failing while the cache cannot protect itself
  // from a store that ignores upTo (a contract limit stated in store.ts).
  it.fails('a delete made after a clear survives the slow sweep of stores that ignore upTo', async () => {
    const seen = await deleteAcrossSweep(true);
    expect(seen.held, 'Redis and Postgres hold the newest write or nothing').not.toContain('deleted-value');
    expect(seen.readA, 'A reads the newest write or nothing').toBeUndefined();
    expect(seen.readB, 'B reads the newest write or nothing').toBeUndefined();
  });
});
