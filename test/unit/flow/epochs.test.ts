import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { makeEntry } from '../../../src/entry/entry.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryBusHub } from '../../../src/testing/memory-bus.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';
import { waitFor } from '../../support/wait.js';

// clear() as a generation: exact at once, whatever the stores still hold physically.
// The physical deletion is held (a scan that takes its time on a big store) to show
// that nothing written before the clear is served meanwhile, here or on another instance.

const caches: TieredCache<unknown>[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close({ timeout: 0 })));
});

function setup() {
  const clock = new FakeClock();
  const memory = new MemoryStore('shared', clock);
  const store = new ChaosStore(memory, { name: 'shared' });
  const hub = new MemoryBusHub();
  const make = () => {
    const cache = new TieredCache<unknown>({
      namespace: 'ep',
      clock,
      stores: [store],
      bus: hub.bus(),
      ttl: 60_000,
    });
    caches.push(cache);
    return cache;
  };
  return { clock, memory, store, a: make(), b: make() };
}

describe('clear() is a generation', () => {
  it('while the physical deletion is still running, no instance serves what was written before the clear', async () => {
    const { clock, memory, store, a, b } = setup();
    await Promise.all([a.ready(), b.ready()]);
    await a.setMany([
      { key: 'x', value: 'old-x' },
      { key: 'y', value: 'old-y' },
    ]);
    expect(await b.get('x')).toBe('old-x');
    const sweep = store.hold('clear');
    try {
      clock.advance(1);
      await a.clear();
      // The clear resolved; the store still holds the old values physically.
      expect(memory.entry('ep:x')?.value).toBe('old-x');
      expect(await a.get('x')).toBeUndefined();
      // B's own L1 copy lasts until the clear's message reaches it (the bus latency).
      await waitFor('the clear to reach B', () => b.getLocal('x') === undefined);
      expect(await b.get('x')).toBeUndefined();
      expect(await b.getOrSet('y', () => 'reloaded-y')).toBe('reloaded-y');
      // What is written after the clear is served.
      await a.set('x', 'new-x');
      await waitFor('the set to reach B', () => b.getLocal('x') === undefined);
      expect(await b.get('x')).toBe('new-x');
    } finally {
      sweep.release();
    }
  });

  it('a view clear hides only the view’s keys', async () => {
    const { store, a, b } = setup();
    await a.set('v:k', 'in-view');
    await a.set('w:k', 'outside');
    const sweep = store.hold('clear');
    try {
      await a.namespace('v').clear();
      expect(await b.namespace('v').get('k')).toBeUndefined();
      expect(await b.get('v:k')).toBeUndefined();
      expect(await b.get('w:k')).toBe('outside');
    } finally {
      sweep.release();
    }
  });

  it('an entry a load began before the clear is not served after it (the load took its version at its start)', async () => {
    const { clock, memory, a, b } = setup();
    // B's load began before the clear; its value lands in the store after it.
    memory.put('ep:k', makeEntry('loaded-before', clock.now() - 1, 60_000, 0));
    clock.advance(1);
    await a.clear();
    expect(await b.get('k')).toBeUndefined();
  });

  it('the physical deletion after a clear keeps what was written after the clear (values and tombstones)', async () => {
    const { clock, memory, store, a, b } = setup();
    await a.setMany([
      { key: 'k', value: 'old' },
      { key: 'gone', value: 'old' },
      { key: 'stale', value: 'old' },
    ]);
    const sweep = store.hold('clear');
    clock.advance(1);
    await a.clear();
    await sweep.entered;
    // Written while the sweep is still scanning: a value and a delete, both after the clear.
    clock.advance(1);
    await a.set('k', 'new');
    await a.delete('gone');
    const tombstone = memory.data.get('ep:gone')?.version;
    expect(tombstone).toBeDefined();
    sweep.release();
    // The sweep deletes in one pass once it reaches the memory store.
    await waitFor('the sweep to delete what the clear hid', () => !memory.data.has('ep:stale'));
    expect(memory.entry('ep:k')?.value).toBe('new');
    // The tombstone stays: a late write older than the delete still cannot land.
    expect(memory.data.get('ep:gone')?.version).toBe(tombstone);
    expect(await b.get('k')).toBe('new');
    expect(await b.get('gone')).toBeUndefined();
  });
});

describe('an instance that starts after a clear', () => {
  it('reads the epoch first: nothing the clear covered is served, though the sweep never ran', async () => {
    const { clock, store, a } = setup();
    await a.set('x', 'old-x');
    clock.advance(1);
    const sweep = store.hold('clear');
    try {
      await a.clear();
      // A process that starts now, with no bus message about the clear to hear.
      const late = new TieredCache<unknown>({ namespace: 'ep', clock, stores: [store], ttl: 60_000 });
      expect(store.inner instanceof MemoryStore && (store.inner as MemoryStore).entry('ep:x')?.value).toBe(
        'old-x',
      );
      caches.push(late);
      expect(await late.get('x')).toBeUndefined();
      expect(await late.getOrSet('x', () => 'reloaded')).toBe('reloaded');
    } finally {
      sweep.release();
    }
  });
});

describe('a view made after its clear', () => {
  it('reads the view’s epoch first, once', async () => {
    const { clock, store, a } = setup();
    await a.set('v:x', 'old');
    clock.advance(1);
    const sweep = store.hold('clear');
    try {
      await a.namespace('v').clear();
      const late = new TieredCache<unknown>({ namespace: 'ep', clock, stores: [store], ttl: 60_000 });
      caches.push(late);
      expect(await late.namespace('v').get('x')).toBeUndefined();
      const fetches = () =>
        store.attemptsOf('getMany').filter((call) => call.keys[0] === 'ep#epoch:v:').length;
      const before = fetches();
      late.namespace('v');
      late.namespace('v');
      expect(fetches()).toBe(before);
    } finally {
      sweep.release();
    }
  });
});
