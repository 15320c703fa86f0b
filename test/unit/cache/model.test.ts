import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

// Model-based test: random sequences of operations run against the cache and against a
// plain Map with the same timing rules; every answer must agree. The clock only moves
// forward, so entries go stale and expire along the way.

type Op =
  | { op: 'get'; key: string }
  | { op: 'has'; key: string }
  | { op: 'getMany'; keys: string[] }
  | { op: 'set'; key: string; ttl: number }
  | { op: 'delete'; key: string }
  | { op: 'getOrSet'; key: string; ttl: number }
  | { op: 'clear' }
  | { op: 'advance'; ms: number };

const key = fc.constantFrom('a', 'b', 'c', 'd');
const ttl = fc.constantFrom(10, 50, 100);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: key.map((k) => ({ op: 'get' as const, key: k })) },
  { weight: 1, arbitrary: key.map((k) => ({ op: 'has' as const, key: k })) },
  {
    weight: 1,
    arbitrary: fc
      .array(key, { minLength: 1, maxLength: 4 })
      .map((ks) => ({ op: 'getMany' as const, keys: ks })),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), key, ttl }) },
  { weight: 2, arbitrary: key.map((k) => ({ op: 'delete' as const, key: k })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('getOrSet' as const), key, ttl }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(0, 1, 5, 9, 10, 11, 30, 60, 120).map((ms) => ({ op: 'advance' as const, ms })),
  },
);

interface ModelEntry {
  value: number;
  staleAt: number;
  expiresAt: number;
}

/** Lets background refreshes and backfills (byte-store promises only, no timers) finish. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

async function check(ops: Op[], shape: { stores: number; l1: TieredCacheOptions['l1']; grace: number }) {
  const clock = new FakeClock();
  const stores = Array.from({ length: shape.stores }, (_, i) => new ByteStore(`s${i + 1}`, clock));
  const cache = new TieredCache<number>({
    namespace: 'model',
    clock,
    random: () => 0.5,
    jitter: 0, // jitter is tested on its own; here the model needs exact lives
    grace: shape.grace,
    ...(shape.l1 !== undefined ? { l1: shape.l1 } : {}),
    stores,
  });
  const model = new Map<string, ModelEntry>();
  const fresh = (k: string) => {
    const e = model.get(k);
    return e !== undefined && clock.now() < e.staleAt ? e : undefined;
  };
  const write = (k: string, value: number, life: number) => {
    model.set(k, { value, staleAt: clock.now() + life, expiresAt: clock.now() + life + shape.grace });
  };
  let next = 0;
  for (const [step, op] of ops.entries()) {
    const where = `step ${step}: ${JSON.stringify(op)} at t+${clock.now() - 1_700_000_000_000}`;
    switch (op.op) {
      case 'get':
        expect(await cache.get(op.key), where).toBe(fresh(op.key)?.value);
        break;
      case 'has':
        expect(await cache.has(op.key), where).toBe(fresh(op.key) !== undefined);
        break;
      case 'getMany':
        expect(await cache.getMany(op.keys), where).toEqual(op.keys.map((k) => fresh(k)?.value));
        break;
      case 'set': {
        const value = next++;
        await cache.set(op.key, value, { ttl: op.ttl });
        write(op.key, value, op.ttl);
        break;
      }
      case 'delete':
        await cache.delete(op.key);
        model.delete(op.key);
        break;
      case 'clear':
        await cache.clear();
        model.clear();
        break;
      case 'getOrSet': {
        const value = next++;
        const got = await cache.getOrSet(op.key, () => value, { ttl: op.ttl });
        const current = model.get(op.key);
        if (current !== undefined && clock.now() < current.staleAt) {
          expect(got, where).toBe(current.value);
        } else if (current !== undefined && clock.now() < current.expiresAt) {
          // Within grace: the stale value now, the loaded one after the background refresh.
          expect(got, where).toBe(current.value);
          write(op.key, value, op.ttl);
        } else {
          expect(got, where).toBe(value);
          write(op.key, value, op.ttl);
        }
        break;
      }
      case 'advance':
        clock.advance(op.ms);
        break;
    }
    await settle();
  }
  await cache.close();
}

describe.each([
  ['L1 only', { stores: 0, l1: undefined, grace: 0 }],
  ['L1 + byte store', { stores: 1, l1: undefined, grace: 0 }],
  ['L1 + two byte stores', { stores: 2, l1: undefined, grace: 0 }],
  ['byte store, L1 disabled', { stores: 1, l1: false as const, grace: 0 }],
  ['tiny L1 (max 2, evicting) + byte store', { stores: 1, l1: { max: 2 }, grace: 0 }],
  ['L1 only, with grace', { stores: 0, l1: undefined, grace: 40 }],
  ['L1 + byte store, with grace', { stores: 1, l1: undefined, grace: 40 }],
  ['byte store, L1 disabled, with grace', { stores: 1, l1: false as const, grace: 40 }],
  ['tiny L1 + two byte stores, with grace', { stores: 2, l1: { max: 2 }, grace: 40 }],
])('model: %s', (_name, shape) => {
  it('agrees with a Map over random sequences of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => check(ops, shape)),
      { numRuns: 150 },
    );
  });
});
