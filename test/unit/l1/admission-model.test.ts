import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import type { L1Options } from '../../../src/options/cache-options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

// A TieredCache with W-TinyLFU admission must answer exactly like the default one under
// the model-style usage of test/unit/cache/model.test.ts (getOrSet, set, delete, clear,
// time passing): admission only changes which keys L1 holds, and a key it turns away is
// read from the store below. Both caches run the same sequence side by side against a Map.

type Op =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; ttl: number }
  | { op: 'delete'; key: string }
  | { op: 'getOrSet'; key: string; ttl: number }
  | { op: 'clear' }
  | { op: 'advance'; ms: number };

const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const ttl = fc.constantFrom(10, 50, 100);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: key.map((k) => ({ op: 'get' as const, key: k })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), key, ttl }) },
  { weight: 2, arbitrary: key.map((k) => ({ op: 'delete' as const, key: k })) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('getOrSet' as const), key, ttl }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0, 1, 9, 10, 11, 60).map((ms) => ({ op: 'advance' as const, ms })),
  },
);

interface ModelEntry {
  value: number;
  staleAt: number;
}

function makeCache(clock: FakeClock, l1: L1Options) {
  return new TieredCache<number>({
    namespace: 'admission-model',
    clock,
    random: () => 0.5,
    jitter: 0,
    l1,
    stores: [new MemoryStore('s1', clock)],
  });
}

async function check(ops: Op[], max: number): Promise<void> {
  const clock = new FakeClock();
  const caches = [makeCache(clock, { max }), makeCache(clock, { max, admission: 'w-tinylfu' })];
  const model = new Map<string, ModelEntry>();
  const fresh = (k: string) => {
    const e = model.get(k);
    return e !== undefined && clock.now() < e.staleAt ? e : undefined;
  };
  let next = 0;
  for (const [step, op] of ops.entries()) {
    const where = `step ${step}: ${JSON.stringify(op)}`;
    switch (op.op) {
      case 'get':
        for (const cache of caches) expect(await cache.get(op.key), where).toBe(fresh(op.key)?.value);
        break;
      case 'set': {
        const value = next++;
        for (const cache of caches) await cache.set(op.key, value, { ttl: op.ttl });
        model.set(op.key, { value, staleAt: clock.now() + op.ttl });
        break;
      }
      case 'delete':
        for (const cache of caches) await cache.delete(op.key);
        model.delete(op.key);
        break;
      case 'clear':
        for (const cache of caches) await cache.clear();
        model.clear();
        break;
      case 'getOrSet': {
        const value = next++;
        const expected = fresh(op.key)?.value ?? value;
        for (const cache of caches) {
          expect(await cache.getOrSet(op.key, () => value, { ttl: op.ttl }), where).toBe(expected);
        }
        if (expected === value) model.set(op.key, { value, staleAt: clock.now() + op.ttl });
        break;
      }
      case 'advance':
        clock.advance(op.ms);
        break;
    }
  }
  for (const cache of caches) await cache.close();
}

describe('TieredCache with l1.admission = w-tinylfu', () => {
  it.each([
    ['tiny L1 (max 2: most keys turned away or evicted)', 2],
    ['small L1 (max 4)', 4],
    ['roomy L1 (max 100: nothing evicted)', 100],
  ])('answers like the default L1 and a Map: %s', async (_name, max) => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => check(ops, max)),
      { seed: 0x24, numRuns: 150 },
    );
  });

  it('serves repeated hits from L1 and counts what it turns away as L1 evictions', async () => {
    const clock = new FakeClock();
    const cache = makeCache(clock, { max: 20, admission: 'w-tinylfu' });
    let loads = 0;
    const loader = () => ++loads;
    for (let round = 0; round < 5; round++)
      for (let i = 0; i < 10; i++) await cache.getOrSet(`hot${i}`, loader);
    for (let i = 0; i < 100; i++) await cache.getOrSet(`once${i}`, loader);
    for (let i = 0; i < 10; i++) expect(cache.getLocal(`hot${i}`)).toBeDefined();
    expect(loads).toBe(110);
    expect(cache.stats().l1.evictions).toBe(110 - 20);
    await cache.close();
  });
});
