import { expect, it } from 'vitest';
import type { StoreWrite } from '../stores/store.js';
import { pollUntil } from './poll.js';
import { bytes, expectBytes, type StoreSuiteContext, text, versioned } from './store-suite.js';
import { nextVersion } from './versions.js';

/** `n` increasing versions, oldest first. */
function versions(n: number): string[] {
  return Array.from({ length: n }, () => nextVersion());
}

/** `items` in a random order (Fisher-Yates), so that no store passes by landing writes in call order. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The version rule of `StoreWrite.version`: per key only the write with the greatest
 * version is kept, whatever order writes land in; an expired key takes any write.
 */
export function registerVersionTests(ctx: StoreSuiteContext): void {
  registerOrderTests(ctx);
  registerBatchTests(ctx);
  registerExpiryAndTombstoneTests(ctx);
  registerConcurrentVersionTests(ctx);
}

/** One write at a time: newer replaces, older and equal are dropped. */
function registerOrderTests({ store, namespace }: StoreSuiteContext): void {
  it('versions: a newer write replaces, an older or equal one is dropped', async () => {
    const ns = namespace();
    const [v1, v2, v3] = versions(3) as [string, string, string];
    await store().setMany([versioned(`${ns}k`, 'two', v2)]);
    await store().setMany([versioned(`${ns}k`, 'one (older)', v1)]);
    expect(text(await store().get(`${ns}k`)), 'after an older write').toBe('two');
    await store().setMany([versioned(`${ns}k`, 'two again (equal)', v2)]);
    expect(text(await store().get(`${ns}k`)), 'after an equal write').toBe('two');
    await store().setMany([versioned(`${ns}k`, 'three', v3)]);
    expect(text(await store().get(`${ns}k`)), 'after a newer write').toBe('three');
    expect((await store().getMany([`${ns}k`])).map(text)).toEqual(['three']);
  });

  it('versions: values come back exactly, whatever bytes they start with', async () => {
    const ns = namespace();
    // Bytes a store might mistake for its own bookkeeping: hex digits, a version, `t`, nothing.
    const values: Uint8Array[] = [
      bytes(nextVersion()),
      bytes(`${nextVersion()}${nextVersion()}`),
      bytes('0123456789abcdef'),
      bytes('t'),
      Uint8Array.from([0x74, 2, 0, 0xff]),
      new Uint8Array(0),
      Uint8Array.from({ length: 256 }, (_, i) => i),
    ];
    const keys = values.map((_, i) => `${ns}v${i}`);
    await store().setMany(
      values.map((value, i) => ({ ...versioned(keys[i] as string, '', nextVersion()), value })),
    );
    const many = await store().getMany(keys);
    for (const [i, value] of values.entries()) {
      expectBytes(await store().get(keys[i] as string), value, `get ${keys[i]}`);
      expectBytes(many[i], value, `getMany ${keys[i]}`);
    }
  });
}

/** Several keys in one call: each key decided on its own; a repeated key keeps its greatest version. */
function registerBatchTests({ store, namespace }: StoreSuiteContext): void {
  it('versions: in one batch, each key is decided on its own (newer lands, older and equal dropped)', async () => {
    const ns = namespace();
    const v = versions(6);
    await store().setMany([
      versioned(`${ns}a`, 'a held', v[1] as string),
      versioned(`${ns}b`, 'b held', v[3] as string),
      versioned(`${ns}c`, 'c held', v[2] as string),
    ]);
    await store().setMany([
      versioned(`${ns}a`, 'a newer', v[4] as string),
      versioned(`${ns}b`, 'b older', v[0] as string),
      versioned(`${ns}c`, 'c equal', v[2] as string),
      versioned(`${ns}d`, 'd new key', v[0] as string),
      versioned(`${ns}e`, 'e new key', v[5] as string),
    ]);
    const got = await store().getMany([`${ns}a`, `${ns}b`, `${ns}c`, `${ns}d`, `${ns}e`]);
    expect(got.map(text)).toEqual(['a newer', 'b held', 'c held', 'd new key', 'e new key']);
  });

  it('versions: a key repeated in one batch keeps its greatest version, wherever it stands', async () => {
    const ns = namespace();
    const [v1, v2, v3] = versions(3) as [string, string, string];
    const orders: Array<[string, string][]> = [
      [
        ['newest', v3],
        ['old', v1],
        ['middle', v2],
      ],
      [
        ['old', v1],
        ['newest', v3],
        ['middle', v2],
      ],
      [
        ['old', v1],
        ['middle', v2],
        ['newest', v3],
      ],
      [
        ['newest', v3],
        ['newest again', v3],
      ],
    ];
    const writes: StoreWrite[] = orders.flatMap((order, i) =>
      order.map(([value, version]) => versioned(`${ns}rep${i}`, value, version)),
    );
    // Other keys around them, so that a batch path (not a single write) is taken.
    writes.push(versioned(`${ns}other`, 'other', nextVersion()));
    await store().setMany(writes);
    const got = await store().getMany(orders.map((_, i) => `${ns}rep${i}`));
    expect(got.map(text)).toEqual(['newest', 'newest', 'newest', 'newest']);
  });
}

/** Expiry and deletes: an expired key takes any version; a tombstone blocks older writes. */
function registerExpiryAndTombstoneTests({ store, namespace }: StoreSuiteContext): void {
  it('versions: an expired key is replaced by a write of any version, alone or in a batch', async () => {
    const ns = namespace();
    const [older, newer] = versions(2) as [string, string];
    const expiresAt = Date.now() + 40;
    await store().setMany([
      versioned(`${ns}one`, 'newer', newer, expiresAt),
      versioned(`${ns}batch`, 'newer', newer, expiresAt),
    ]);
    await pollUntil(`${ns}one and ${ns}batch to expire`, 3_000, async () => {
      if (Date.now() < expiresAt) return false;
      return (await store().getMany([`${ns}one`, `${ns}batch`])).every((value) => value === undefined);
    });
    await store().setMany([versioned(`${ns}one`, 'older, after expiry', older)]);
    await store().setMany([
      versioned(`${ns}batch`, 'older, after expiry', older),
      versioned(`${ns}bystander`, 'b', nextVersion()),
    ]);
    expect((await store().getMany([`${ns}one`, `${ns}batch`])).map(text)).toEqual([
      'older, after expiry',
      'older, after expiry',
    ]);
  });

  it('versions: a tombstone (any bytes) at a newer version blocks an older write after it', async () => {
    const ns = namespace();
    const [v1, v2, v3] = versions(3) as [string, string, string];
    const tombstone = Uint8Array.from([0x74, 2, 0xde, 0xad]);
    await store().setMany([versioned(`${ns}k`, 'live', v1), versioned(`${ns}m`, 'live', v1)]);
    // A short-lived tombstone, as a delete writes it; the late write was made before the delete.
    await store().setMany([{ key: `${ns}k`, value: tombstone, expiresAt: Date.now() + 60_000, version: v3 }]);
    await store().setMany([
      { key: `${ns}m`, value: tombstone, expiresAt: Date.now() + 60_000, version: v3 },
      versioned(`${ns}n`, 'n', v1),
    ]);
    await store().setMany([versioned(`${ns}k`, 'late', v2)]);
    await store().setMany([versioned(`${ns}m`, 'late', v2), versioned(`${ns}n`, 'n2', v2)]);
    expectBytes(await store().get(`${ns}k`), tombstone, `${ns}k`);
    const [m, n] = await store().getMany([`${ns}m`, `${ns}n`]);
    expectBytes(m, tombstone, `${ns}m`);
    expect(text(n)).toBe('n2');
  });
}

/** Concurrent writers of shuffled versions: every key ends at its greatest version. */
function registerConcurrentVersionTests({ store, namespace }: StoreSuiteContext): void {
  it('versions: 50 concurrent writers of one key, versions shuffled, end at the greatest', async () => {
    const ns = namespace();
    const key = `${ns}contended`;
    const all = versions(50);
    const greatest = all[all.length - 1] as string;
    await Promise.all(shuffled(all).map((version) => store().setMany([versioned(key, version, version)])));
    expect(text(await store().get(key))).toBe(greatest);
  });

  it('versions: 20 concurrent batches over the same 10 keys, shuffled, end at the greatest of each', async () => {
    const ns = namespace();
    const keys = Array.from({ length: 10 }, (_, i) => `${ns}k${i}`);
    const perKey = keys.map(() => versions(20));
    // Batch b writes each key at one of its versions, in a shuffled key order.
    const batches = Array.from({ length: 20 }, (_, b) =>
      shuffled(
        keys.map((key, i) =>
          versioned(key, (perKey[i] as string[])[b] as string, (perKey[i] as string[])[b] as string),
        ),
      ),
    );
    await Promise.all(shuffled(batches).map((batch) => store().setMany(batch)));
    const got = await store().getMany(keys);
    expect(got.map(text)).toEqual(perKey.map((list) => list[list.length - 1]));
  });
}
