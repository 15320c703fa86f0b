/**
 * Trace replay through an LRU: each request is a `get`, and a miss `set`s the key,
 * exactly what a read-through cache (`getOrSet`) does with an L1.
 */
import { type ReplayCache, shippedL1 } from './l1-policy.js';

/**
 * Replays `keys` through a cache of `size` entries and returns the number of hits.
 * @param make builds the cache; defaults to the L1 as shipped.
 */
export function replayHits(
  keys: readonly string[],
  size: number,
  make: (max: number) => ReplayCache = shippedL1,
): number {
  const cache = make(size);
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (cache.get(key) !== undefined) hits++;
    else cache.set(key, true);
  }
  return hits;
}
