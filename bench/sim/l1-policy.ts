/**
 * The L1 replacement policy as tiercache ships it, for trace replay: the core's own
 * MemoryTier (src/l1/memory-tier.ts), so the lru-cache inside it is built with exactly the
 * core's construction options and a policy change in the core shows up here. Traces
 * carry no time, so entries never go stale: only `max` decides what stays.
 */
import type { Entry } from '../../src/entry/entry.js';
import { ZERO_VERSION } from '../../src/entry/version.js';
import { MemoryTier } from '../../src/l1/memory-tier.js';

/** The part of a cache a replay needs: a lookup that counts as a use, and an insert. */
export interface ReplayCache {
  get(key: string): unknown;
  set(key: string, value: true): unknown;
}

// One shared, never-stale entry: a replay measures which keys stay, not what they hold.
const ENTRY: Entry<true> = {
  value: true,
  version: ZERO_VERSION,
  createdAt: 0,
  staleAt: Number.POSITIVE_INFINITY,
  expiresAt: Number.POSITIVE_INFINITY,
};
const noop = (): void => {};

/** A fresh L1 holding at most `max` entries, constructed as the core constructs it. */
export function shippedL1(max: number): ReplayCache {
  const { lru } = new MemoryTier({ max }, noop);
  return {
    get: (key) => lru.get(key),
    set: (key) => lru.set(key, ENTRY),
  };
}
