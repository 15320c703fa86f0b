import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/entry/entry.js';
import { ZERO_VERSION } from '../../../src/entry/version.js';
import { hashKey } from '../../../src/l1/frequency-sketch.js';
import { HillClimber } from '../../../src/l1/hill-climber.js';
import { WTinyLfuStore } from '../../../src/l1/w-tinylfu.js';

const SEED = 0x11ad;

function entry(value: unknown = true): Entry {
  return {
    value,
    version: ZERO_VERSION,
    createdAt: 0,
    staleAt: Number.POSITIVE_INFINITY,
    expiresAt: Number.POSITIVE_INFINITY,
  };
}

/** A store and its eviction count. */
function store(max: number, sized?: { maxSize: number; size: (entry: Entry) => number }) {
  let evictions = 0;
  const s = new WTinyLfuStore(
    { max, ...(sized ? { maxSize: sized.maxSize, sizeCalculation: (e: Entry) => sized.size(e) } : {}) },
    () => evictions++,
  );
  return { s, evictions: () => evictions };
}

/** Read-through on the store: a get, and a set on a miss. */
function request(s: WTinyLfuStore, key: string): boolean {
  if (s.get(key) !== undefined) return true;
  s.set(key, entry(key));
  return false;
}

describe('W-TinyLFU admission', () => {
  it('keeps keys asked for often against a stream of one-time keys (plain LRU would lose them all)', () => {
    const { s, evictions } = store(50);
    const hot = Array.from({ length: 20 }, (_, i) => `hot${i}`);
    for (let round = 0; round < 5; round++) for (const key of hot) request(s, key);
    // 300 one-time keys: fewer than the sketch's sample (10 × max increments), so no halving.
    for (let i = 0; i < 300; i++) request(s, `scan${i}`);
    expect(hot.filter((key) => s.peek(key) !== undefined)).toEqual(hot);
    expect(s.size).toBe(50);
    expect(evictions()).toBe(20 + 300 - 50);
    expect(s.audit()).toBeUndefined();
  });

  it('turns a new key away when it loses to the victim, and admits one asked for more often', () => {
    const { s } = store(10);
    // Fill: each key asked twice, so every victim has a frequency of 2.
    for (let i = 0; i < 10; i++) request(s, `old${i}`);
    for (let i = 0; i < 10; i++) request(s, `old${i}`);
    // A one-time key enters the window; the next newcomer pushes it out, and it loses.
    request(s, 'once');
    request(s, 'next');
    expect(s.peek('once')).toBeUndefined();
    // A key asked for 5 times before (its history outlives a delete) wins its place.
    for (let i = 0; i < 5; i++) request(s, 'popular');
    s.delete('popular');
    request(s, 'popular');
    request(s, 'pusher');
    expect(s.peek('popular')).toBeDefined();
    expect(s.audit()).toBeUndefined();
  });

  it('replaces the entry of a held key in place, without a new admission', () => {
    const { s, evictions } = store(3);
    for (const key of ['a', 'b', 'c']) s.set(key, entry(key));
    const newer = entry('a2');
    s.set('a', newer);
    expect(s.get('a')).toBe(newer);
    expect(evictions()).toBe(0);
  });
});

describe('HillClimber', () => {
  it('grows the window on a miss of a key admission turned away', () => {
    const climber = new HillClimber(100);
    climber.rejected(hashKey('a'));
    expect(climber.onMiss(hashKey('a'))).toBeGreaterThan(0);
    // One ghost hit per push-out.
    expect(climber.onMiss(hashKey('a'))).toBe(0);
  });

  it('shrinks the window on a miss of a key the main region evicted', () => {
    const climber = new HillClimber(100);
    climber.evicted(hashKey('b'));
    expect(climber.onMiss(hashKey('b'))).toBeLessThan(0);
  });

  it('does not move without evidence, and forgets the oldest evidence first', () => {
    const climber = new HillClimber(4); // turned-away ghost: 2 hashes
    expect(climber.onMiss(hashKey('x'))).toBe(0);
    for (const key of ['r1', 'r2', 'r3']) climber.rejected(hashKey(key));
    expect(climber.onMiss(hashKey('r1'))).toBe(0);
    expect(climber.onMiss(hashKey('r3'))).toBeGreaterThan(0);
  });

  it('steps by the ratio of the ghosts when the other side holds more evidence (ARC)', () => {
    const climber = new HillClimber(100);
    for (let i = 0; i < 40; i++) climber.evicted(hashKey(`e${i}`));
    for (let i = 0; i < 11; i++) climber.rejected(hashKey(`r${i}`));
    expect(climber.onMiss(hashKey('r0'))).toBe(4); // 40 evicted / 10 turned away left
    expect(climber.onMiss(hashKey('e0'))).toBe(-1);
  });

  it('on recency-skewed traffic the window grows; on a loop longer than the cache it stays small', () => {
    const recency = store(100).s;
    // Each key is asked twice, 30 steps (60 distinct keys) apart, and never again: LRU hits
    // every second request, and only a window that large can.
    for (let i = 0; i < 20_000; i++) {
      request(recency, `k${i}`);
      if (i >= 30) request(recency, `k${i - 30}`);
    }
    expect(recency.shape().windowMax).toBeGreaterThan(60);

    const loop = store(100).s;
    for (let round = 0; round < 50; round++) for (let i = 0; i < 300; i++) request(loop, `k${i}`);
    expect(loop.shape().windowMax).toBeLessThanOrEqual(5);
    expect(recency.audit()).toBeUndefined();
    expect(loop.audit()).toBeUndefined();
  });
});

type Op =
  | { op: 'request'; key: number }
  | { op: 'set'; key: number }
  | { op: 'delete'; key: number }
  | { op: 'deletePrefix'; prefix: string }
  | { op: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.nat(60).map((key) => ({ op: 'request' as const, key })) },
  { weight: 3, arbitrary: fc.nat(60).map((key) => ({ op: 'set' as const, key })) },
  { weight: 3, arbitrary: fc.nat(60).map((key) => ({ op: 'delete' as const, key })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('a', 'b', 'a1').map((prefix) => ({ op: 'deletePrefix' as const, prefix })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

describe('W-TinyLFU consistency', () => {
  it.each([
    ['by count', undefined],
    ['by count and size', { maxSize: 40, size: (e: Entry) => ((e.value as string).length % 5) + 1 }],
  ])('never exceeds max, and its lists agree with lru-cache after any operations (%s)', (_name, sized) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(opArb, { maxLength: 300 }), (max, ops) => {
        const { s } = store(max, sized);
        const latest = new Map<string, Entry>();
        const name = (k: number) => `${k % 2 === 0 ? 'a' : 'b'}${k}`;
        for (const op of ops) {
          if (op.op === 'request' || op.op === 'set') {
            const key = name(op.key);
            if (op.op === 'request' && s.get(key) !== undefined) continue;
            const e = entry(key);
            s.set(key, e);
            latest.set(key, e);
          } else if (op.op === 'delete') {
            s.delete(name(op.key));
            latest.delete(name(op.key));
          } else if (op.op === 'deletePrefix') {
            for (const key of [...s.keys()]) if (key.startsWith(op.prefix)) s.delete(key);
            for (const key of [...latest.keys()]) if (key.startsWith(op.prefix)) latest.delete(key);
          } else {
            s.clear();
            latest.clear();
          }
          expect(s.audit()).toBeUndefined();
          expect(s.size).toBeLessThanOrEqual(max);
          // Whatever is held is the latest entry written for its key, never an older or deleted one.
          for (const key of s.keys()) expect(s.peek(key)).toBe(latest.get(key));
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
