import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Version } from '../../../src/entry/version.js';
import { Floors, MAX_FLOORS } from '../../../src/flow/floors.js';

/** A version of millisecond `ms` (the counter and tag do not matter here). */
const v = (ms: number): Version => `${ms.toString(16).padStart(12, '0')}0001a00000` as Version;

describe('Floors', () => {
  it('refuses entries older than a write that missed a store, until one that every store took', () => {
    const floors = new Floors();
    expect(floors.empty).toBe(true);
    floors.raise('k', v(10));
    expect(floors.refuses('k', v(9))).toBe(true);
    expect(floors.refuses('k', v(10))).toBe(false);
    expect(floors.refuses('other', v(1))).toBe(false);
    // An older complete write does not settle a newer floor; one at the floor or later does.
    floors.settle('k', v(9));
    expect(floors.refuses('k', v(9))).toBe(true);
    floors.settle('k', v(10));
    expect(floors.refuses('k', v(9))).toBe(false);
    expect(floors.empty).toBe(true);
  });

  it('a floor only rises; a clear at or after it covers what it refused', () => {
    const floors = new Floors();
    floors.raise('user:1', v(20));
    floors.raise('user:1', v(15));
    expect(floors.refuses('user:1', v(19))).toBe(true);
    floors.raise('post:1', v(30));
    floors.clear('user:', v(25));
    expect(floors.refuses('user:1', v(19))).toBe(false);
    expect(floors.refuses('post:1', v(29))).toBe(true);
    // A clear older than the floor leaves it.
    floors.clear('', v(29));
    expect(floors.refuses('post:1', v(29))).toBe(true);
  });

  it(`past ${MAX_FLOORS} keys the oldest fold into one floor for every key, which a later clear of the namespace lifts`, () => {
    const floors = new Floors();
    for (let i = 1; i <= MAX_FLOORS + 2; i++) floors.raise(`k${i}`, v(i));
    expect(floors.size).toBe(MAX_FLOORS);
    // k1 and k2 were folded in: every key refuses what is older than k2's write.
    expect(floors.refuses('k1', v(1))).toBe(true);
    expect(floors.refuses('never-written', v(1))).toBe(true);
    expect(floors.refuses('never-written', v(2))).toBe(false);
    floors.clear('', v(2));
    expect(floors.refuses('never-written', v(1))).toBe(false);
    expect(floors.refuses(`k${MAX_FLOORS}`, v(MAX_FLOORS - 1))).toBe(true);
  });

  it('property: refuses exactly what is older than the newest partial write not settled or cleared since', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('raise' as const), key: fc.integer({ min: 0, max: 4 }), ms: fc.nat(50) }),
      fc.record({
        kind: fc.constant('settle' as const),
        key: fc.integer({ min: 0, max: 4 }),
        ms: fc.nat(50),
      }),
      fc.record({ kind: fc.constant('clear' as const), ms: fc.nat(50) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.integer({ min: 0, max: 4 }),
        fc.nat(50),
        (ops, key, ms) => {
          const floors = new Floors();
          const model = new Map<number, number>();
          for (const o of ops) {
            if (o.kind === 'raise') {
              floors.raise(`k${o.key}`, v(o.ms));
              model.set(o.key, Math.max(model.get(o.key) ?? -1, o.ms));
            } else if (o.kind === 'settle') {
              floors.settle(`k${o.key}`, v(o.ms));
              if ((model.get(o.key) ?? Number.POSITIVE_INFINITY) <= o.ms) model.delete(o.key);
            } else {
              floors.clear('', v(o.ms));
              for (const [k, floor] of model) if (floor <= o.ms) model.delete(k);
            }
          }
          const floor = model.get(key);
          expect(floors.refuses(`k${key}`, v(ms))).toBe(floor !== undefined && ms < floor);
        },
      ),
      { numRuns: 500 },
    );
  });
});
