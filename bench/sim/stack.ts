/**
 * The whole stack on a trace: a small L1 (the shipped lru-cache policy) in front of a
 * larger L2, in front of an L3 that never evicts (Postgres keeps every entry while no
 * TTL runs out, and traces carry no time). Sizes are simulated, not real servers: L2 is
 * an exact LRU of `l2Size` entries (a Redis with `maxmemory-policy allkeys-lru` samples
 * keys, so it only approximates LRU). L2 sees only L1's misses, as in the real stack.
 */
import { type ReplayCache, shippedL1 } from './l1-policy.js';

/** Where each request was served. The four counts add up to the requests. */
export interface StackCounts {
  readonly l1: number;
  readonly l2: number;
  readonly l3: number;
  /** Requests that reached the loader (first requests of a key). */
  readonly loader: number;
}

/**
 * Replays `keys` through L1 (`l1Size`) → L2 (`l2Size`) → L3 (unbounded) → loader, with
 * backfill of every tier above the one that hit, as `getOrSet` does.
 */
export function replayStack(
  keys: readonly string[],
  l1Size: number,
  l2Size: number,
  make: (max: number) => ReplayCache = shippedL1,
): StackCounts {
  const l1 = make(l1Size);
  const l2 = make(l2Size);
  const l3 = new Set<string>();
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let loads = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (l1.get(key) !== undefined) {
      h1++;
      continue;
    }
    if (l2.get(key) !== undefined) h2++;
    else {
      if (l3.has(key)) h3++;
      else {
        loads++;
        l3.add(key);
      }
      l2.set(key, true);
    }
    l1.set(key, true);
  }
  return { l1: h1, l2: h2, l3: h3, loader: loads };
}
