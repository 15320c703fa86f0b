import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryBusHub } from '../../../src/testing/memory-bus.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

// Interleavings of tagged writes, loads, deleteByTag and reads on two instances sharing
// L2 and L3: once each call and its bus message have settled, every read in either
// instance returns what a model of the same calls says (a key written before a
// deleteByTag of one of its tags reads as absent; a key written after reads its value).
const KEYS = ['k0', 'k1', 'k2'];
const TAGS = ['t0', 't1', 't2'];

type Op =
  | { kind: 'set'; at: 0 | 1; key: string; tags: string[] }
  | { kind: 'load'; at: 0 | 1; key: string; tags: string[] }
  | { kind: 'deleteByTag'; at: 0 | 1; tags: string[] }
  | { kind: 'delete'; at: 0 | 1; key: string }
  | { kind: 'read'; at: 0 | 1; key: string };

const at = fc.constantFrom<0 | 1>(0, 1);
const key = fc.constantFrom(...KEYS);
const tags = fc.subarray(TAGS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at, key, tags }),
  fc.record({ kind: fc.constant('load' as const), at, key, tags }),
  fc.record({ kind: fc.constant('deleteByTag' as const), at, tags: fc.subarray(TAGS, { minLength: 1 }) }),
  fc.record({ kind: fc.constant('delete' as const), at, key }),
  fc.record({ kind: fc.constant('read' as const), at, key }),
);

const RUNS = process.env.TIERCACHE_FC_RUNS ? Math.min(Number(process.env.TIERCACHE_FC_RUNS), 300) : 300;

describe('tags: a property over interleavings', () => {
  it('every read in either instance agrees with the model once calls have settled', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const clock = new FakeClock();
        const l2 = new MemoryStore('l2', clock);
        const l3 = new MemoryStore('l3', clock);
        const hub = new MemoryBusHub();
        const caches = [0, 1].map(
          () =>
            new TieredCache<string>({
              namespace: 'prop',
              clock,
              stores: [l2, l3],
              bus: hub.bus(),
              ttl: 600_000,
              jitter: 0,
            }),
        ) as [TieredCache<string>, TieredCache<string>];
        try {
          await Promise.all(caches.map((c) => c.ready()));
          const model = new Map<string, { value: string; tags: string[] }>();
          let n = 0;
          const settle = () => new Promise((resolve) => setImmediate(resolve));
          for (const o of ops) {
            clock.advance(1);
            const cache = caches[o.at];
            const value = `v${n++}`;
            if (o.kind === 'set') {
              await cache.set(o.key, value, { tags: o.tags });
              model.set(o.key, { value, tags: o.tags });
            } else if (o.kind === 'load') {
              const got = await cache.getOrSet(o.key, (ctx) => {
                ctx.setTags(o.tags);
                return value;
              });
              const expected = model.get(o.key)?.value;
              if (expected === undefined) {
                expect(got).toBe(value);
                model.set(o.key, { value, tags: o.tags });
              } else expect(got).toBe(expected);
            } else if (o.kind === 'deleteByTag') {
              await cache.deleteByTag(o.tags);
              for (const [k, entry] of model) if (entry.tags.some((t) => o.tags.includes(t))) model.delete(k);
            } else if (o.kind === 'delete') {
              await cache.delete(o.key);
              model.delete(o.key);
            } else {
              expect(await cache.get(o.key)).toBe(model.get(o.key)?.value);
            }
            await settle();
          }
          for (const cache of caches) {
            for (const k of KEYS) expect(await cache.get(k)).toBe(model.get(k)?.value);
          }
        } finally {
          await Promise.all(caches.map((c) => c.close({ timeout: 0 })));
        }
      }),
      { numRuns: RUNS },
    );
    // About 6 s alone; a full suite on two shared cores can take several times that.
  }, 180_000);
});
