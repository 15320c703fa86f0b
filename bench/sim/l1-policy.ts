/**
 * The L1 as tiercache ships it, for trace replay: the core's own MemoryTier
 * (src/l1/memory-tier.ts), with or without W-TinyLFU admission, driven through the same
 * `get` and `set` the cache calls, so a policy change in the core shows up here. Traces
 * carry no time, so entries never go stale: only `max` and the policy decide what stays.
 */
import type { Entry } from '../../src/entry/entry.js';
import { ZERO_VERSION } from '../../src/entry/version.js';
import { MemoryTier } from '../../src/l1/memory-tier.js';
import { DEFAULT_BLIND_MAX_AGE_MS } from '../../src/options/cache-options.js';
import { coarseClock } from '../../src/options/clock.js';

/** The part of a cache a replay needs: a lookup that counts as a use, and an insert. */
export interface ReplayCache {
  get(key: string): unknown;
  set(key: string, value: true): unknown;
}

/** The L1 policies the bench replays. */
export type L1Policy = 'lru' | 'w-tinylfu';

// One shared, never-stale entry: a replay measures which keys stay, not what they hold.
const ENTRY: Entry<true> = {
  value: true,
  version: ZERO_VERSION,
  createdAt: 0,
  staleAt: Number.POSITIVE_INFINITY,
  expiresAt: Number.POSITIVE_INFINITY,
};
const noop = (): void => {};

/** A fresh L1 holding at most `max` entries, constructed as the core constructs it (plain LRU). */
export function shippedL1(max: number): ReplayCache {
  return shippedL1With('lru')(max);
}

/** A factory of fresh shipped L1s with `policy` (`'w-tinylfu'`: `l1: { max, admission: 'w-tinylfu' }`). */
export function shippedL1With(policy: L1Policy): (max: number) => ReplayCache {
  return (max) => {
    const options = { max, blindMaxAge: DEFAULT_BLIND_MAX_AGE_MS };
    const tier = new MemoryTier(
      policy === 'lru' ? options : { ...options, admission: policy },
      noop,
      coarseClock,
    );
    return {
      get: (key) => tier.get(key),
      set: (key) => tier.set(key, ENTRY),
    };
  };
}
