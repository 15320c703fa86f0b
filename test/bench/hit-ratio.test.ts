/**
 * Honesty checks for the hit-ratio simulation in bench/: the replay through the shipped
 * L1 must agree with a plain Map LRU written independently, OPT must bound LRU from
 * above, and OPT must give the textbook answer on a textbook sequence.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkGoal, NAMED_GOALS } from '../../bench/sim/goals.js';
import { shippedL1With } from '../../bench/sim/l1-policy.js';
import { replayHits } from '../../bench/sim/lru.js';
import { nextUses, optHits } from '../../bench/sim/opt.js';
import { replayStack } from '../../bench/sim/stack.js';
import { fromKeys, intern, loadTrace, TRACE_NAMES, traceAvailable } from '../../bench/traces.js';

/** The most obvious LRU there is: a Map in recency order, oldest first. */
function mapLruHits(keys: readonly string[], size: number): number {
  const map = new Map<string, true>();
  let hits = 0;
  for (const key of keys) {
    if (map.has(key)) {
      hits++;
      map.delete(key);
      map.set(key, true);
      continue;
    }
    if (map.size >= size) map.delete(map.keys().next().value as string);
    map.set(key, true);
  }
  return hits;
}

/** OPT by brute force: on eviction, scan forward for the cached key used farthest ahead. */
function bruteOptHits(keys: readonly string[], size: number): number {
  const cache = new Set<string>();
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (cache.has(key)) {
      hits++;
      continue;
    }
    if (cache.size >= size) {
      let victim = '';
      let farthest = -1;
      for (const c of cache) {
        let at = keys.indexOf(c, i + 1);
        if (at === -1) at = Number.POSITIVE_INFINITY;
        if (at > farthest) {
          farthest = at;
          victim = c;
        }
      }
      cache.delete(victim);
    }
    cache.add(key);
  }
  return hits;
}

const PREFIX = 20_000;
const available = TRACE_NAMES.filter((name) => traceAvailable(name));

describe('bench hit-ratio simulation', () => {
  it('finds every trace in bench/traces/ (or TIERCACHE_TRACES)', () => {
    expect(available).toEqual([...TRACE_NAMES]);
  });

  it.each(available)('LRU replay of %s matches a plain Map LRU exactly, and OPT >= LRU', (name) => {
    const trace = loadTrace(name, { limit: PREFIX });
    expect(trace.keys.length).toBe(Math.min(PREFIX, trace.fileRequests));
    const next = nextUses(trace.ids, trace.distinct);
    for (const fraction of [0.01, 0.05, 0.2, 0.5]) {
      const size = Math.max(1, Math.round(trace.distinct * fraction));
      const lru = replayHits(trace.keys, size);
      expect(lru, `${name} at ${size}`).toBe(mapLruHits(trace.keys, size));
      const opt = optHits(trace.ids, trace.distinct, size, next);
      expect(opt, `${name} at ${size}`).toBeGreaterThanOrEqual(lru);
      const admission = replayHits(trace.keys, size, shippedL1With('w-tinylfu'));
      expect(opt, `${name} at ${size}: OPT >= W-TinyLFU`).toBeGreaterThanOrEqual(admission);
      // Nothing beats an infinite cache: every first request misses.
      expect(opt).toBeLessThanOrEqual(PREFIX - trace.distinct);
    }
  });

  it('keeps keys as the exact strings of the file (scarab-recs holds integers above 2^53)', () => {
    const trace = loadTrace('scarab-recs', { limit: PREFIX });
    const big = trace.keys.filter((key) => BigInt(Number(key)) !== BigInt(key));
    // Number() would change these keys; the trace must still hold their exact digits.
    expect(big.length).toBeGreaterThan(0);
    for (const key of big.slice(0, 100)) expect(key).toMatch(/^-?\d{16,}$/);
  });

  it('LRU on OLTP reproduces the ARC paper to two decimals', () => {
    // Megiddo & Modha, "ARC", FAST '03, Table IV, OLTP, LRU column (cache size in pages).
    const trace = loadTrace('oltp');
    for (const [size, published] of [
      [1_000, 32.83],
      [5_000, 53.65],
      [15_000, 64.63],
    ] as const) {
      const ratio = (100 * replayHits(trace.keys, size)) / trace.keys.length;
      expect(ratio.toFixed(2), `OLTP LRU at ${size}`).toBe(published.toFixed(2));
    }
  });

  it('OPT on the textbook reference string with 3 frames faults 9 times, LRU 12', () => {
    // Silberschatz, Operating System Concepts, ch. 9 (page replacement): OPT 9 faults, LRU 12.
    const keys = '7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1'.split(' ');
    const { ids, distinct } = intern(keys);
    expect(keys.length - optHits(ids, distinct, 3)).toBe(9);
    expect(keys.length - replayHits(keys, 3)).toBe(12);
  });

  it('OPT gives every possible hit when the cache holds every key, and none at size 0', () => {
    const trace = fromKeys('t', ['a', 'b', 'a', 'c', 'b', 'a']);
    expect(optHits(trace.ids, trace.distinct, 3)).toBe(3);
    expect(optHits(trace.ids, trace.distinct, 0)).toBe(0);
  });

  it('property: OPT matches a brute-force OPT and bounds LRU from above', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 14 }),
        (raw, size) => {
          const keys = raw.map(String);
          const { ids, distinct } = intern(keys);
          const opt = optHits(ids, distinct, size);
          const lru = replayHits(keys, size);
          expect(opt).toBe(bruteOptHits(keys, size));
          expect(opt).toBeGreaterThanOrEqual(lru);
          expect(lru).toBe(mapLruHits(keys, size));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: the stack serves each request once, loads each key once, and L1 alone matches LRU', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 20 }),
        (raw, l1Size, extra) => {
          const keys = raw.map(String);
          const counts = replayStack(keys, l1Size, l1Size + extra);
          expect(counts.l1 + counts.l2 + counts.l3 + counts.loader).toBe(keys.length);
          expect(counts.loader).toBe(new Set(keys).size);
          expect(counts.l1).toBe(replayHits(keys, l1Size));
          // L1 + L2 together hit at least as often as an LRU the size of L2 alone? Not in
          // general (inclusion is not guaranteed), so only the weaker bound holds:
          expect(counts.l1 + counts.l2).toBeLessThanOrEqual(keys.length - counts.loader);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('W-TinyLFU replays through the shipped MemoryTier: never over max, deterministic run to run', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 12 }),
        (raw, size) => {
          const keys = raw.map(String);
          const admission = replayHits(keys, size, shippedL1With('w-tinylfu'));
          const { ids, distinct } = intern(keys);
          expect(admission).toBe(replayHits(keys, size, shippedL1With('w-tinylfu')));
          expect(admission).toBeLessThanOrEqual(optHits(ids, distinct, size));
        },
      ),
      { numRuns: 200, seed: 24 },
    );
  });

  it('goal rows: the named sizes are the full-run sizes, and the LRU bound is 1 point', () => {
    const sizeAt = (name: string, fraction: number) =>
      Math.max(1, Math.round(loadTrace(name).distinct * fraction));
    expect(NAMED_GOALS.map((g) => g.entries)).toEqual([
      sizeAt('sprite', 0.2),
      sizeAt('oltp', 0.2),
      sizeAt('glimpse', 0.2),
      sizeAt('loop', 0.2),
      sizeAt('web12', 0.05),
    ]);
    expect(checkGoal('glimpse', 506, false, 0.0095, 0.33).met).toBe(true);
    expect(checkGoal('glimpse', 506, false, 0.0095, 0.31).met).toBe(false);
    expect(checkGoal('glimpse', 506, true, 0.0095, 0.31).met).toBe(true);
    expect(checkGoal('sprite', 1_415, false, 0.922, 0.913).met).toBe(true);
    expect(checkGoal('sprite', 1_415, false, 0.922, 0.911).met).toBe(false);
    expect(checkGoal('p3', 10, false, 0.5, 0.49).named).toBe(false);
  });
});
