import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { CodecError } from '../../../src/errors.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

// A value the stores cannot hold is refused before any tier changes: before, set() put it
// in this instance's L1, then rejected with msgpackr's own error from the store write, and
// this instance served it while every other tier and instance kept the old value.

function setup() {
  const store = new MemoryStore('store');
  const cache = new TieredCache<unknown>({ namespace: 'enc', stores: [store] });
  return { store, cache };
}

const unencodable = () => Symbol('not encodable');

describe('a value that cannot be encoded', () => {
  it('set(): rejects with a CodecError naming the key, and no tier changes', async () => {
    const { store, cache } = setup();
    await cache.set('k', 'old');
    const error = await cache.set('k', unencodable()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CodecError);
    expect((error as Error).message).toMatch(/"k"/);
    expect(cache.getLocal('k')).toBe('old');
    expect(store.entry('enc:k')?.value).toBe('old');
    expect(await cache.get('k')).toBe('old');
  });

  it('setMany(): one bad value refuses the whole call before anything is written', async () => {
    const { store, cache } = setup();
    await expect(
      cache.setMany([
        { key: 'a', value: 'fine' as unknown },
        { key: 'b', value: unencodable() as unknown },
      ]),
    ).rejects.toBeInstanceOf(CodecError);
    expect(cache.getLocal('a')).toBeUndefined();
    expect(store.entry('enc:a')).toBeUndefined();
  });

  it('getOrSet(): the callers get the CodecError; nothing is cached', async () => {
    const { store, cache } = setup();
    await expect(cache.getOrSet('k', unencodable)).rejects.toBeInstanceOf(CodecError);
    expect(cache.getLocal('k')).toBeUndefined();
    expect(store.entry('enc:k')).toBeUndefined();
  });

  it('getOrSetMany(): the other keys of the batch are cached, the bad one is not', async () => {
    const { store, cache } = setup();
    const values = await cache.getOrSetMany(['a', 'b'], async (keys) =>
      keys.map((k) => (k === 'b' ? unencodable() : k)),
    );
    expect(values[0]).toBe('a');
    expect(store.entry('enc:a')?.value).toBe('a');
    expect(store.entry('enc:b')).toBeUndefined();
    expect(cache.getLocal('b')).toBeUndefined();
  });
});
