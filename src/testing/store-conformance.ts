import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreTier } from '../stores/store.js';
import { pollUntil } from './poll.js';
import { registerClearUpToTests } from './store-conformance-clear.js';
import { registerVersionTests } from './store-conformance-versions.js';
import {
  bytes,
  expectBytes,
  expectLiteralPrefixes,
  present,
  type StoreSuiteContext,
  write,
} from './store-suite.js';
import { nextVersion } from './versions.js';

/** What a conformance factory returns: the store under test and how to tidy up after it. */
export interface StoreUnderTest {
  readonly store: StoreTier;
  /** Runs after the store is closed: drop a schema, stop a server, close a client you passed in. */
  readonly cleanup?: () => Promise<void>;
  /**
   * Puts `value` at the full `key` (as passed to the store) the way a release of the store
   * from before versions wrote it, with no version, living at least a minute: for the
   * test that `clear(prefix, upTo)` deletes such values as the oldest. Omit it if the
   * store never held unversioned values; that test is then skipped.
   */
  readonly putLegacy?: (key: string, value: Uint8Array) => Promise<void>;
}

/** Makes a fresh store for the conformance suite. */
export type StoreFactory = () => Promise<StoreUnderTest> | StoreUnderTest;

/**
 * Registers the store conformance suite with vitest (an optional peer: install it to
 * use this entry). Every {@link StoreTier} passes it: Redis, Postgres and any store of
 * your own. The factory is called once for the suite (and once more for the `close()`
 * test); every test writes under its own random key namespace, so a store shared with
 * other suites, or a run in parallel, is fine.
 *
 * Covers: get/set/getMany/setMany/deleteMany/clear, absolute expiry, getMany order and
 * holes, prefixes that do not leak (including glob and LIKE metacharacters), binary
 * values (all 256 byte values, views into larger buffers, up to 1 MiB), empty key lists,
 * concurrent writes of one key, and the version rule of `StoreWrite.version`: per key
 * only the greatest version is kept (older or equal writes dropped, alone, in batches, a
 * key repeated in a batch, concurrent writers), an expired key takes any version, and a
 * short-lived tombstone at a newer version blocks an older write after it; and
 * `clear(prefix, upTo)`: only keys of a version up to `upTo` (or of none, written before
 * versions: give `putLegacy` to test those) are deleted, newer ones written before or
 * during the clear are kept.
 *
 * @example
 * ```ts
 * import { registerStoreConformanceSuite } from 'tiercache/testing';
 * registerStoreConformanceSuite('my store', async () => {
 *   const store = myStore({ url: process.env.MY_URL });
 *   return { store, cleanup: async () => dropEverything() };
 * });
 * ```
 */
export function registerStoreConformanceSuite(name: string, factory: StoreFactory): void {
  describe(`StoreTier conformance: ${name}`, () => {
    let subject: StoreUnderTest | undefined;
    // Each test's own random key namespace (`conf-<random>:`), cleared when the suite ends.
    const namespaces: string[] = [];
    const context: StoreSuiteContext = {
      store: () => {
        if (subject === undefined)
          throw new Error(`The conformance factory for "${name}" did not produce a store`);
        return subject.store;
      },
      namespace: () => {
        const ns = `conf-${Math.random().toString(36).slice(2, 10)}:`;
        namespaces.push(ns);
        return ns;
      },
      legacy: () => subject?.putLegacy,
    };

    beforeAll(async () => {
      subject = await factory();
    });

    afterAll(async () => {
      if (subject === undefined) return;
      // Leave the store as found: drop what the tests wrote (it would expire anyway).
      for (const ns of namespaces.splice(0)) await subject.store.clear(ns).catch(() => {});
      await subject.store.close();
      await subject.cleanup?.();
    });

    registerReadWriteTests(context);
    registerManyKeyTests(context);
    registerClearTests(context);
    registerExpiryTests(context);
    registerValueTests(context);
    registerConcurrencyTests(context);
    registerVersionTests(context);
    registerClearUpToTests(context);

    it('close() resolves and may be called twice', async () => {
      const fresh = await factory();
      try {
        await fresh.store.close();
        await fresh.store.close();
      } finally {
        await fresh.cleanup?.();
      }
    });
  });
}

/** get, set, getMany, deleteMany, and empty lists. */
function registerReadWriteTests({ store, namespace }: StoreSuiteContext): void {
  it('has a non-empty name and, if set, a positive default timeout', () => {
    expect(typeof store().name).toBe('string');
    expect(store().name.length).toBeGreaterThan(0);
    if (store().defaultTimeoutMs !== undefined) expect(store().defaultTimeoutMs).toBeGreaterThan(0);
  });

  it('get of an absent key resolves undefined', async () => {
    const ns = namespace();
    expect(await store().get(`${ns}missing`)).toBeUndefined();
  });

  it('set then get returns the same bytes, and a second set replaces them', async () => {
    const ns = namespace();
    await store().setMany([write(`${ns}k`, bytes('first'))]);
    expectBytes(await store().get(`${ns}k`), bytes('first'), `${ns}k`);
    await store().setMany([write(`${ns}k`, bytes('second, longer than the first'))]);
    expectBytes(await store().get(`${ns}k`), bytes('second, longer than the first'), `${ns}k`);
  });

  it('setMany writes every entry in one call', async () => {
    const ns = namespace();
    const writes = Array.from({ length: 25 }, (_, i) => write(`${ns}k${i}`, bytes(`v${i}`)));
    await store().setMany(writes);
    for (const w of writes) expectBytes(await store().get(w.key), w.value, w.key);
  });
}

/** getMany and deleteMany over several keys, and empty key lists. */
function registerManyKeyTests({ store, namespace }: StoreSuiteContext): void {
  it('getMany returns values in key order, undefined where absent, repeats included', async () => {
    const ns = namespace();
    await store().setMany([write(`${ns}a`, bytes('A')), write(`${ns}c`, bytes('C'))]);
    const got = await store().getMany([`${ns}c`, `${ns}b`, `${ns}a`, `${ns}zz`, `${ns}c`]);
    expect(got).toHaveLength(5);
    expectBytes(got[0], bytes('C'), `${ns}c`);
    expect(got[1]).toBeUndefined();
    expectBytes(got[2], bytes('A'), `${ns}a`);
    expect(got[3]).toBeUndefined();
    expectBytes(got[4], bytes('C'), `${ns}c (repeated)`);
  });

  it('deleteMany removes the listed keys, ignores absent ones and leaves the rest', async () => {
    const ns = namespace();
    await store().setMany([
      write(`${ns}a`, bytes('A')),
      write(`${ns}b`, bytes('B')),
      write(`${ns}c`, bytes('C')),
    ]);
    await store().deleteMany([`${ns}a`, `${ns}c`, `${ns}never-written`]);
    expect(await store().getMany([`${ns}a`, `${ns}b`, `${ns}c`])).toEqual([
      undefined,
      expect.anything(),
      undefined,
    ]);
    expectBytes(await store().get(`${ns}b`), bytes('B'), `${ns}b`);
  });

  it('calls with empty key and write lists resolve and change nothing', async () => {
    const ns = namespace();
    await store().setMany([write(`${ns}keep`, bytes('kept'))]);
    expect(await store().getMany([])).toEqual([]);
    await store().setMany([]);
    await store().deleteMany([]);
    expectBytes(await store().get(`${ns}keep`), bytes('kept'), `${ns}keep`);
  });
}

/** clear(prefix): exactly the prefix, metacharacters taken literally. */
function registerClearTests({ store, namespace }: StoreSuiteContext): void {
  it('clear(prefix) deletes exactly the keys starting with it', async () => {
    const ns = namespace();
    const keys = ['a:x', 'a:y', 'a:deep:z', 'ab:x', 'b:x', 'a', 'xa:x'].map((k) => `${ns}${k}`);
    await store().setMany(keys.map((k) => write(k, bytes(k))));
    await store().clear(`${ns}a:`);
    const got = await store().getMany(keys);
    expect(present(keys, got)).toEqual([`${ns}ab:x`, `${ns}b:x`, `${ns}a`, `${ns}xa:x`]);
  });

  it('clear treats glob and LIKE metacharacters in the prefix literally', async () => {
    await expectLiteralPrefixes(
      store(),
      namespace(),
      (key) => write(key, bytes(key)),
      (prefix) => store().clear(prefix),
    );
  });

  it('clear of a whole namespace leaves other namespaces alone', async () => {
    const mine = namespace();
    const other = namespace();
    const keys = [`${mine}1`, `${mine}2`, `${other}1`];
    await store().setMany(keys.map((k) => write(k, bytes(k))));
    await store().clear(mine);
    expect(present(keys, await store().getMany(keys))).toEqual([`${other}1`]);
  });

  it('clear of a prefix nothing matches resolves', async () => {
    await expect(store().clear(`${namespace()}nothing-here:`)).resolves.toBeUndefined();
  });
}

/** Absolute expiry: never readable past it, always before it. */
function registerExpiryTests({ store, namespace }: StoreSuiteContext): void {
  it('a write whose expiresAt is already past leaves nothing readable, not the older value', async () => {
    const ns = namespace();
    await store().setMany([write(`${ns}one`, bytes('old')), write(`${ns}batch`, bytes('old'))]);
    await store().setMany([
      { key: `${ns}one`, value: bytes('new'), expiresAt: Date.now() - 1_000, version: nextVersion() },
    ]);
    await store().setMany([
      { key: `${ns}batch`, value: bytes('new'), expiresAt: Date.now() - 1, version: nextVersion() },
      write(`${ns}live`, bytes('live')),
    ]);
    expect(await store().get(`${ns}one`)).toBeUndefined();
    expect(await store().get(`${ns}batch`)).toBeUndefined();
    const got = await store().getMany([`${ns}one`, `${ns}batch`, `${ns}live`]);
    expect(got[0]).toBeUndefined();
    expect(got[1]).toBeUndefined();
    expectBytes(got[2], bytes('live'), `${ns}live`);
  });

  it('an entry is gone from get and getMany once its expiresAt passes', async () => {
    const ns = namespace();
    const expiresAt = Date.now() + 30;
    await store().setMany([
      { key: `${ns}short`, value: bytes('short'), expiresAt, version: nextVersion() },
      write(`${ns}long`, bytes('long')),
    ]);
    await pollUntil(`${ns}short to expire (expiresAt ${expiresAt})`, 3_000, async () => {
      if (Date.now() < expiresAt) return false;
      const [short, long] = await store().getMany([`${ns}short`, `${ns}long`]);
      if (long === undefined) throw new Error(`${ns}long vanished while waiting for ${ns}short to expire`);
      return short === undefined && (await store().get(`${ns}short`)) === undefined;
    });
    // Never before its time: a read well inside the life sees the value.
    const later = Date.now() + 60_000;
    await store().setMany([
      { key: `${ns}later`, value: bytes('later'), expiresAt: later, version: nextVersion() },
    ]);
    expectBytes(await store().get(`${ns}later`), bytes('later'), `${ns}later`);
  });
}

/** Bytes and keys of every kind. */
function registerValueTests({ store, namespace }: StoreSuiteContext): void {
  it('binary values: every byte value, empty, a view into a larger buffer, 1 MiB', async () => {
    const ns = namespace();
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const reversed = Uint8Array.from({ length: 512 }, (_, i) => 255 - (i % 256));
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >>> 8)) & 0xff;
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i);
    const view = backing.subarray(10, 20);
    const values: Record<string, Uint8Array> = {
      all: allBytes,
      reversed,
      empty: new Uint8Array(0),
      view,
      nul: new Uint8Array([0, 0, 0]),
      big,
    };
    await store().setMany(Object.entries(values).map(([k, v]) => write(`${ns}${k}`, v)));
    for (const [k, v] of Object.entries(values)) expectBytes(await store().get(`${ns}${k}`), v, `${ns}${k}`);
    const many = await store().getMany(Object.keys(values).map((k) => `${ns}${k}`));
    Object.values(values).forEach((v, i) => {
      expectBytes(many[i], v, `getMany[${i}]`);
    });
  });

  it('keeps what was written: changing the written buffer afterwards changes nothing read', async () => {
    // The cache may hand a store a view into a buffer it reuses for later encodes.
    const ns = namespace();
    const shared = Uint8Array.from({ length: 32 }, (_, i) => i);
    await store().setMany([write(`${ns}k`, shared.subarray(4, 12))]);
    shared.fill(0xee);
    expectBytes(
      await store().get(`${ns}k`),
      Uint8Array.from({ length: 8 }, (_, i) => i + 4),
      `${ns}k`,
    );
  });

  it('keys with spaces, unicode, colons and quotes round-trip', async () => {
    const ns = namespace();
    const keys = ['with space', 'ünïcødé ✓', 'a:b:c', `quote'"\``, 'emoji 🙂', 'semi;colon'].map(
      (k) => `${ns}${k}`,
    );
    await store().setMany(keys.map((k) => write(k, bytes(k))));
    const got = await store().getMany(keys);
    keys.forEach((k, i) => {
      expectBytes(got[i], bytes(k), k);
    });
    await store().deleteMany(keys);
    expect(present(keys, await store().getMany(keys))).toEqual([]);
  });
}

/** Concurrent writes: one key, and many keys. */
function registerConcurrencyTests({ store, namespace }: StoreSuiteContext): void {
  it('50 concurrent writes of one key end in exactly one of the written values', async () => {
    const ns = namespace();
    const key = `${ns}contended`;
    const values = Array.from({ length: 50 }, (_, i) => bytes(`writer-${i}-${'x'.repeat(i)}`));
    await Promise.all(values.map((value) => store().setMany([write(key, value)])));
    const got = await store().get(key);
    expect(got, `${key} after concurrent writes`).toBeInstanceOf(Uint8Array);
    const text = Buffer.from(got as Uint8Array).toString();
    expect(values.map((v) => Buffer.from(v).toString())).toContain(text);
  });

  it('concurrent writes of different keys all land', async () => {
    const ns = namespace();
    const keys = Array.from({ length: 50 }, (_, i) => `${ns}k${i}`);
    await Promise.all(
      keys.map((k, i) => store().setMany([write(k, bytes(`v${i}`)), write(`${k}:b`, bytes('b'))])),
    );
    const got = await store().getMany(keys);
    keys.forEach((k, i) => {
      expectBytes(got[i], bytes(`v${i}`), k);
    });
  });
}
