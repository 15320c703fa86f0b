/**
 * The lease within one process, between caches that are separate instances on the real
 * Redis (each its own clients): the Lua compare-and-delete, the landed marker, the hard
 * timeout of a waiter, `lease: false`, and Redis down or hung (a private redis-server).
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, LoaderTimeoutError } from '../../../src/errors.js';
import { TieredCache } from '../../../src/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { redisLeases } from '../../../src/redis/lease.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { type OwnServer, redisUrlForTests, startRedisServer, stopAll } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { leaseTestRig } from './support.js';

const url = await redisUrlForTests();
const rig = leaseTestRig(url);
const admin = rig.admin;
const namespace = rig.namespace;

afterAll(async () => {
  await rig.cleanup();
  await stopAll();
});

function cache(ns: string, extra: Record<string, unknown> = {}, at = url): TieredCache<unknown> {
  // On the shared Redis a loaded machine can take past the 50 ms default to answer, and a
  // lease call that times out is skipped (by design): these tests are about the protocol.
  const guard = at === url ? { guard: { timeout: '1s' } } : {};
  return rig.keep(
    new TieredCache<unknown>({
      namespace: ns,
      stores: [redisStore({ url: at })],
      ttl: '1m',
      ...guard,
      ...extra,
    }),
  );
}

/** A loader that counts its calls and resolves when told to. */
function gatedLoader(value: string): { calls: number; open: () => void; load: () => Promise<string> } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const loader = {
    calls: 0,
    open,
    load: async () => {
      loader.calls++;
      await gate;
      return value;
    },
  };
  return loader;
}

describe('the Redis lease scripts', () => {
  it('release and extend check the token (compare-and-delete); acquire replaces only the value it is told', async () => {
    const ns = namespace('lease-lua');
    const leases = redisLeases(admin, '');
    const key = `${ns}#lease:k`;
    expect(await leases.acquire(key, 'tokenA', 5_000)).toBeUndefined();
    const held = await leases.acquire(key, 'tokenB', 5_000);
    expect(held?.holder).toBe('tokenA');
    expect(held?.ttlMs).toBeGreaterThan(4_000);
    expect(await leases.extend(key, 'tokenB', 9_000)).toBe(false);
    expect(await leases.release(key, 'tokenB')).toBe(false);
    expect(await admin.get(key)).toBe('tokenA');
    expect(await leases.extend(key, 'tokenA', 9_000)).toBe(true);
    expect(await admin.pttl(key)).toBeGreaterThan(8_000);
    expect(await leases.release(key, 'tokenA', '=v1', 5_000)).toBe(true);
    expect(await admin.get(key)).toBe('=v1');
    expect((await leases.acquire(key, 'tokenC', 5_000, '=v0'))?.holder).toBe('=v1');
    expect(await leases.acquire(key, 'tokenC', 5_000, '=v1')).toBeUndefined();
    expect(await leases.release(key, 'tokenC')).toBe(true);
    expect(await admin.exists(key)).toBe(0);
  });
});

describe('the single-Redis write that releases the lease', () => {
  it('writeAndRelease writes as setMany and turns a lease it still holds into the landed marker', async () => {
    const ns = namespace('lease-write');
    const store = redisStore({ client: admin, prefix: `${ns}:` });
    const leaseKey = `${ns}#lease:k`;
    const full = `${ns}:${leaseKey}`;
    const expiresAt = Date.now() + 60_000;
    const [v1, v2, v3] = [nextVersion(), nextVersion(), nextVersion()];
    await store.leases.acquire(leaseKey, 'tokenA', 5_000);
    const release = { key: leaseKey, token: 'tokenA', next: `=${v2}`, nextMs: 7_000 };
    await store.leases.writeAndRelease?.(
      [{ key: 'k', value: bytes('two'), expiresAt, version: v2 }],
      release,
    );
    expect(text(await store.get('k'))).toBe('two');
    expect(await admin.get(full)).toBe(`=${v2}`);
    expect(await admin.pttl(full)).toBeGreaterThan(6_000);
    // A lease that another holder took since is left alone; an older write is kept out.
    await admin.set(full, 'tokenB', 'PX', 5_000);
    await store.leases.writeAndRelease?.(
      [{ key: 'k', value: bytes('one'), expiresAt, version: v1 }],
      release,
    );
    expect(await admin.get(full)).toBe('tokenB');
    expect(text(await store.get('k'))).toBe('two');
    // Held again by the token: released even though the write was older than what is stored.
    await admin.set(full, 'tokenA', 'PX', 5_000);
    await store.leases.writeAndRelease?.(
      [{ key: 'k', value: bytes('one'), expiresAt, version: v1 }],
      release,
    );
    expect(await admin.get(full)).toBe(`=${v2}`);
    await admin.set(full, 'tokenA', 'PX', 5_000);
    await store.leases.writeAndRelease?.([{ key: 'k', value: bytes('three'), expiresAt, version: v3 }], {
      ...release,
      next: `=${v3}`,
    });
    expect(text(await store.get('k'))).toBe('three');
    expect(await admin.get(full)).toBe(`=${v3}`);
    await admin.unlink(`${ns}:k`, full);
  });
});

describe('lease between two instances', () => {
  it('the second instance waits for the first one’s value instead of loading; the lease ends as a landed marker', async () => {
    const ns = namespace('lease-wait');
    const a = cache(ns);
    const b = cache(ns);
    const loadA = gatedLoader('from-a');
    const loadB = gatedLoader('from-b');
    const first = a.getOrSet('k', loadA.load);
    await expect.poll(() => loadA.calls).toBe(1);
    const second = b.getOrSet('k', loadB.load);
    loadA.open();
    expect(await first).toBe('from-a');
    expect(await second).toBe('from-a');
    expect(loadB.calls).toBe(0);
    // Released as `=<version of the value that landed>`, for one lease life.
    await expect.poll(() => admin.get(`${ns}#lease:k`)).toMatch(/^=[0-9a-f]{24}$/);
  });

  it('leases held at once, taken at different times, are each renewed while their loads run', async () => {
    // One timer renews every lease an instance holds: each lease key's PTTL must jump
    // back up (a renewal) twice while its loader runs, and no lease lapses meanwhile.
    const ns = namespace('lease-renew');
    const a = cache(ns, { lease: { ttl: 300 } });
    const first = gatedLoader('one');
    const second = gatedLoader('two');
    const one = a.getOrSet('k1', first.load);
    await expect.poll(() => first.calls).toBe(1);
    const two = a.getOrSet('k2', second.load);
    await expect.poll(() => second.calls).toBe(1);
    const renewals = new Map<string, { last: number; count: number }>();
    const renewedTwice = async () => {
      for (const key of ['k1', 'k2']) {
        const pttl = await admin.pttl(`${ns}#lease:${key}`);
        expect(pttl).toBeGreaterThan(0);
        const seen = renewals.get(key) ?? { last: pttl, count: 0 };
        if (pttl > seen.last) seen.count++;
        seen.last = pttl;
        renewals.set(key, seen);
      }
      return Math.min(...[...renewals.values()].map((r) => r.count));
    };
    await expect.poll(renewedTwice, { timeout: 5_000, interval: 20 }).toBeGreaterThanOrEqual(2);
    first.open();
    second.open();
    expect([await one, await two]).toEqual(['one', 'two']);
    await expect.poll(() => admin.get(`${ns}#lease:k1`)).toMatch(/^=/);
    await expect.poll(() => admin.get(`${ns}#lease:k2`)).toMatch(/^=/);
  });

  it('a value gone from Redis after it landed is loaded again by one instance (over the landed marker)', async () => {
    const ns = namespace('lease-gone');
    const a = cache(ns, { l1: false });
    expect(await a.getOrSet('k', () => 'v1')).toBe('v1');
    await expect.poll(() => admin.get(`${ns}#lease:k`)).toMatch(/^=/);
    await admin.unlink(`${ns}:k`);
    const b = cache(ns, { l1: false });
    let calls = 0;
    const values = await Promise.all([a, b, a, b].map((c) => c.getOrSet('k', async () => `v${++calls + 1}`)));
    expect(new Set(values).size).toBe(1);
    expect(calls).toBe(1);
  });

  it('a waiter is bound by its own hard timeout while another instance loads', async () => {
    const ns = namespace('lease-hard');
    const a = cache(ns);
    const b = cache(ns, { timeouts: { hard: 300 } });
    const slow = gatedLoader('slow');
    const first = a.getOrSet('k', slow.load);
    await expect.poll(() => slow.calls).toBe(1);
    const other = gatedLoader('other');
    const started = performance.now();
    await expect(b.getOrSet('k', other.load)).rejects.toBeInstanceOf(LoaderTimeoutError);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_000);
    expect(other.calls).toBe(0);
    slow.open();
    expect(await first).toBe('slow');
  });

  it('`lease: false` turns it off: each instance loads', async () => {
    const ns = namespace('lease-off');
    const a = cache(ns, { lease: false });
    const b = cache(ns, { lease: false });
    const loadA = gatedLoader('a');
    const loadB = gatedLoader('b');
    const both = Promise.all([a.getOrSet('k', loadA.load), b.getOrSet('k', loadB.load)]);
    await expect.poll(() => loadA.calls + loadB.calls).toBe(2);
    loadA.open();
    loadB.open();
    await both;
    expect(await admin.exists(`${ns}#lease:k`)).toBe(0);
  });

  it('validates `lease` at construction', () => {
    const ns = namespace('lease-options');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ lease: true }, 'lease'],
      [{ lease: { ttl: 50 }, stores: [redisStore({ url })] }, 'lease.ttl'],
      [{ lease: { tll: '1s' }, stores: [redisStore({ url })] }, 'lease.tll'],
      [{ lease: 'yes' }, 'lease'],
    ];
    for (const [options, option] of cases) {
      let thrown: unknown;
      try {
        new TieredCache({ namespace: ns, ...options });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(option)).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
    }
  });
});

describe('the calls of a load (a private redis-server, its commands counted)', () => {
  it('a miss costs one read, one SET NX for the lease and one write that also releases it', async () => {
    const server = await startRedisServer();
    const ns = namespace('lease-calls');
    const a = rig.keep(
      new TieredCache<unknown>({ namespace: ns, stores: [redisStore({ url: server.url })], ttl: '1m' }),
    );
    const probe = new Redis(server.url);
    try {
      await a.ready();
      await probe.config('RESETSTAT');
      expect(await a.getOrSet('k', () => 'v')).toBe('v');
      // The landed marker names the version the value was stored at (its first 24 bytes);
      // once it is there, whatever released the lease has run.
      const version = await probe.getrange(`${ns}:k`, 0, 23);
      await waitFor('the landed marker', async () => (await probe.get(`${ns}#lease:k`)) === `=${version}`);
      const stats = await probe.info('commandstats');
      const calls = (command: string) =>
        Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      // The lease (a plain SET NX: nobody held the key) and the versioned write with the
      // lease's release (a script); a lease by script or a separate release would be a
      // second script call. SETs counted: the lease's, and the script's two (the value,
      // the landed marker; commands a script runs count too).
      expect(calls('evalsha') + calls('eval')).toBe(1);
      expect(calls('set')).toBe(3);
    } finally {
      await probe.quit();
    }
  });
});

describe('lease with Redis down (a private redis-server)', () => {
  it('a lease asked of a hung server is taken back when it wakes, not left blocking the key', async () => {
    const server = await startRedisServer();
    const ns = namespace('lease-orphan');
    const store = redisStore({ url: server.url });
    const a = rig.keep(new TieredCache<unknown>({ namespace: ns, stores: [store], ttl: '1m' }));
    expect(await a.getOrSet('warm', () => 'w')).toBe('w');
    server.signal('SIGSTOP');
    try {
      // The walk and the lease time out; the value is loaded here, without a lease.
      expect(await a.getOrSet('k', () => 'v')).toBe('v');
    } finally {
      server.signal('SIGCONT');
    }
    // Commands on one connection run in order: once this PING is answered, the server
    // has run the late acquire and whatever followed it.
    await store.client.ping();
    const probe = new Redis(server.url);
    try {
      expect(await probe.exists(`${ns}#lease:k`)).toBe(0);
    } finally {
      await probe.quit();
    }
  });

  it.each([
    ['killed (SIGKILL)', 'SIGKILL'],
    ['hung (SIGSTOP)', 'SIGSTOP'],
  ] as const)(
    '%s: every caller is answered by one load in this process, well within a second',
    async (_, signal) => {
      const server: OwnServer = await startRedisServer();
      const a = cache(namespace('lease-down'), {}, server.url);
      expect(await a.getOrSet('warm', () => 'w')).toBe('w');
      server.signal(signal);
      try {
        let calls = 0;
        const started = performance.now();
        const values = await Promise.all(
          Array.from({ length: 100 }, () => a.getOrSet('k', async () => `v${++calls}`)),
        );
        expect(performance.now() - started).toBeLessThan(1_000);
        expect(new Set(values)).toEqual(new Set(['v1']));
        expect(calls).toBe(1);
      } finally {
        server.signal('SIGCONT');
      }
    },
  );
});
