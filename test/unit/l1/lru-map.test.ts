import fc from 'fast-check';
import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { LruMap } from '../../../src/l1/lru-map.js';

const SEED = 0x1a0;

/** A value and the size it is measured at. */
interface Sized {
  readonly id: number;
  readonly size: number;
}

type Op =
  | { readonly op: 'get' | 'peek' | 'delete'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: Sized }
  | { readonly op: 'clear' };

const keyArb = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `k${i}`));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('peek' as const), key: keyArb }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      key: keyArb,
      value: fc.record({ id: fc.nat(), size: fc.integer({ min: 1, max: 9 }) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
);

describe('LruMap', () => {
  it('answers, orders and evicts exactly as lru-cache does, by count and by size (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.option(fc.integer({ min: 5, max: 30 }), { nil: undefined }),
        fc.array(opArb, { maxLength: 200 }),
        (max, maxSize, ops) => {
          let evicted = 0;
          let modelEvicted = 0;
          const map = new LruMap<Sized>({
            max,
            ...(maxSize === undefined ? {} : { maxSize, sizeOf: (v: Sized) => v.size }),
            onEvict: () => evicted++,
          });
          const model = new LRUCache<string, Sized>({
            max,
            ...(maxSize === undefined ? {} : { maxSize, sizeCalculation: (v: Sized) => v.size }),
            dispose: (_v, _k, reason) => {
              if (reason === 'evict') modelEvicted++;
            },
          });
          for (const step of ops) {
            switch (step.op) {
              case 'get':
                expect(map.get(step.key)).toBe(model.get(step.key));
                break;
              case 'peek':
                expect(map.peek(step.key)).toBe(model.peek(step.key));
                break;
              case 'set':
                map.set(step.key, step.value);
                model.set(step.key, step.value);
                break;
              case 'delete':
                expect(map.delete(step.key)).toBe(model.delete(step.key));
                break;
              case 'clear':
                map.clear();
                model.clear();
                break;
            }
            expect(evicted).toBe(modelEvicted);
            expect(map.size).toBe(model.size);
            expect(map.totalSize).toBe(maxSize === undefined ? 0 : model.calculatedSize);
          }
          expect([...map.keys()].sort()).toEqual([...model.keys()].sort());
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('grows past its first slots up to max, then evicts the least recently used key', () => {
    let evicted = 0;
    const map = new LruMap<number>({ max: 1_000, onEvict: () => evicted++ });
    for (let i = 0; i < 1_000; i++) map.set(`k${i}`, i);
    expect(map.size).toBe(1_000);
    expect(evicted).toBe(0);
    // k0 is read, so k1 is now the least recently used.
    expect(map.get('k0')).toBe(0);
    map.set('new', -1);
    expect(evicted).toBe(1);
    expect(map.peek('k1')).toBeUndefined();
    expect(map.peek('k0')).toBe(0);
    for (let i = 2; i < 1_000; i++) expect(map.peek(`k${i}`)).toBe(i);
  });

  it('takes a max far beyond what memory could preallocate, and allocates as keys come', () => {
    const map = new LruMap<number>({ max: 2 ** 40 });
    for (let i = 0; i < 300; i++) map.set(`k${i}`, i);
    expect(map.size).toBe(300);
    expect(map.get('k299')).toBe(299);
  });

  it('reuses the slots of deleted keys, and starts over after clear', () => {
    const map = new LruMap<string>({ max: 3 });
    map.set('a', 'a');
    map.set('b', 'b');
    map.delete('a');
    map.set('c', 'c');
    map.set('d', 'd');
    expect([...map.keys()].sort()).toEqual(['b', 'c', 'd']);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.get('b')).toBeUndefined();
    for (const key of ['x', 'y', 'z', 'w']) map.set(key, key);
    expect([...map.keys()].sort()).toEqual(['w', 'y', 'z']);
  });

  it('does not hold a value larger than maxSize, and drops what its key held', () => {
    let evicted = 0;
    const map = new LruMap<number>({ max: 10, maxSize: 10, sizeOf: (v) => v, onEvict: () => evicted++ });
    map.set('a', 4);
    map.set('b', 11);
    expect(map.peek('b')).toBeUndefined();
    map.set('a', 11);
    expect(map.peek('a')).toBeUndefined();
    expect(map.size).toBe(0);
    expect(map.totalSize).toBe(0);
    expect(evicted).toBe(0);
  });
});
