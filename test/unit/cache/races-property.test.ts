import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { makeEntry } from '../../../src/entry/entry.js';
import type { StoreTier } from '../../../src/stores/store.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

// The stale-set race as a property: a read that may write back (a load, a backfill) and a
// set or delete of the same key run concurrently; fast-check's scheduler picks the order in
// which every store call lands, every store reply arrives and the loader settles. Whatever
// the order, no value from before the write may survive it in any tier.

const NS = 'prop';
const K = `${NS}:k`;

/** A store whose every call lands, and then replies, when the scheduler says so. */
function scheduled(s: fc.Scheduler, inner: ByteStore): StoreTier {
  const run = <T>(label: string, call: () => Promise<T>): Promise<T> =>
    s
      .schedule(Promise.resolve(), `${inner.name}.${label} lands`)
      .then(call)
      .then((result) => s.schedule(Promise.resolve(result), `${inner.name}.${label} replies`));
  return {
    name: inner.name,
    get: (key) => run('get', () => inner.get(key)),
    getMany: (keys) => run('getMany', () => inner.getMany(keys)),
    setMany: (writes) => run('setMany', () => inner.setMany(writes)),
    deleteMany: (keys) => run('deleteMany', () => inner.deleteMany(keys)),
    clear: (prefix) => run('clear', () => inner.clear(prefix)),
    close: () => inner.close(),
  };
}

/** Runs the scheduler until `work` settles (tasks may be scheduled while others run). */
async function drive<T>(s: fc.Scheduler, work: Promise<T>): Promise<T> {
  let done = false;
  const tracked = work.finally(() => {
    done = true;
  });
  // One task at a time, so work left in the background (a backfill) can still be pending
  // when `work` settles.
  while (!done) {
    if (s.count() > 0) await s.waitOne();
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return tracked;
}

const reader = fc.constantFrom('getOrSet', 'get', 'getMany', 'getOrSetMany');
const writer = fc.constantFrom('set', 'delete', 'clear');

describe('stale-set race, any interleaving', () => {
  it('property: after a concurrent write, no tier keeps a value read or loaded before it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        reader,
        writer,
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        async (s, read, write, l1, deep, afterRead) => {
          const clock = new FakeClock();
          const b1 = new ByteStore('s1', clock);
          const b2 = new ByteStore('s2', clock);
          // `deep`: an older value sits in s2, so the read may find it and backfill it upward.
          if (deep) b2.put(K, makeEntry('D', clock.now(), 1_000, 0));
          const cache = new TieredCache<string>({
            namespace: NS,
            clock,
            random: () => 0,
            ttl: 1_000,
            ...(l1 ? {} : { l1: false as const }),
            stores: [scheduled(s, b1), scheduled(s, b2)],
            guard: { timeout: 60_000 },
          });
          const loader = () => s.schedule(Promise.resolve('L'), 'loader settles');
          const batch = () => s.schedule(Promise.resolve(['L']), 'batch loader settles');
          // The read starts first (it takes its fence synchronously), then the write: at
          // once, or (`afterRead`) once the read has answered while its backfill may still
          // be on the wire.
          const reading =
            read === 'getOrSet'
              ? cache.getOrSet('k', loader)
              : read === 'get'
                ? cache.get('k')
                : read === 'getMany'
                  ? cache.getMany(['k']).then((r) => r[0])
                  : cache.getOrSetMany(['k'], batch).then((r) => r[0]);
          const startWrite = () =>
            write === 'set' ? cache.set('k', 'S') : write === 'delete' ? cache.delete('k') : cache.clear();
          let got: string | undefined;
          if (afterRead) {
            got = await drive(s, reading);
            await drive(s, startWrite());
          } else {
            [got] = await drive(s, Promise.all([reading, startWrite()]));
          }
          await drive(s, cache.close());
          // The reader may see the old world or the new one; either is a fair answer.
          expect([undefined, 'D', 'L', 'S']).toContain(got);
          const allowed = write === 'set' ? ['S', undefined] : [undefined];
          expect(allowed, `s1 holds ${b1.entry(K)?.value}`).toContain(b1.entry(K)?.value);
          expect(allowed, `s2 holds ${b2.entry(K)?.value}`).toContain(b2.entry(K)?.value);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: with L1 on, a write issued after a read leaves L1 with the write (or nothing)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), reader, writer, async (s, read, write) => {
        const clock = new FakeClock();
        const b1 = new ByteStore('s1', clock);
        b1.put(K, makeEntry('D', clock.now(), 1_000, 0));
        const cache = new TieredCache<string>({
          namespace: NS,
          clock,
          random: () => 0,
          ttl: 1_000,
          stores: [scheduled(s, b1)],
          guard: { timeout: 60_000 },
        });
        const reading =
          read === 'getOrSet'
            ? cache.getOrSet('k', () => s.schedule(Promise.resolve('L')))
            : read === 'get'
              ? cache.get('k')
              : read === 'getMany'
                ? cache.getMany(['k'])
                : cache.getOrSetMany(['k'], () => s.schedule(Promise.resolve(['L'])));
        const writing =
          write === 'set' ? cache.set('k', 'S') : write === 'delete' ? cache.delete('k') : cache.clear();
        await drive(s, Promise.all([reading, writing]));
        expect(write === 'set' ? ['S'] : [undefined]).toContain(cache.getLocal('k'));
        await drive(s, cache.close());
      }),
      { numRuns: 200 },
    );
  });
});
