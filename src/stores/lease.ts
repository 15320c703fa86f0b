import type { StoreWrite } from './store.js';

/**
 * What {@link LeaseStore.acquire} found when it did not take the lease: the value the
 * lease key holds and how long it has left.
 */
export interface LeaseHeld {
  /** A holder's token, or a landed marker (`=` and the version of the value that landed). */
  readonly holder: string;
  /** Time the lease key has left, in ms (0 when the store cannot say). */
  readonly ttlMs: number;
}

/** A lease's release carried by a write (see {@link LeaseStore.writeAndRelease}). */
export interface LeaseRelease {
  /** The fully qualified lease key. */
  readonly key: string;
  /** The token the lease must still hold for the release to happen. */
  readonly token: string;
  /** What the lease key holds next (a landed marker) ... */
  readonly next: string;
  /** ... for this long, in ms. */
  readonly nextMs: number;
}

/**
 * Short leases on keys, so one load per key runs across every instance sharing the
 * store (the optional capability of a {@link StoreTier}: a store that has it hosts the
 * cache's leases). Each lease is one key of its own, and every call touches that key
 * only, so a clustered store keeps each call within one slot.
 *
 * Keys passed in are fully qualified lease keys (the cache puts them under its
 * namespace); a store prepends its own prefix as for any key.
 */
export interface LeaseStore {
  /**
   * Sets `key` to `token` for `ttlMs` unless it holds something else: absent (or holding
   * exactly `over`, when given), it is taken and `undefined` returned; else what it holds.
   * Atomic: of many callers at once, one takes it.
   */
  acquire(key: string, token: string, ttlMs: number, over?: string): Promise<LeaseHeld | undefined>;
  /** Gives `key` `ttlMs` more life if it still holds `token`; whether it did. */
  extend(key: string, token: string, ttlMs: number): Promise<boolean>;
  /**
   * If `key` still holds `token` (compared atomically): replaces it with `then` for
   * `thenMs` when `then` is given, else deletes it. Whether it held `token`.
   */
  release(key: string, token: string, then?: string, thenMs?: number): Promise<boolean>;
  /**
   * Optional, for a store whose leases and keys one atomic call can reach (a single
   * Redis; not a cluster, where they live in different slots): the store's
   * `setMany(writes)` and the lease's {@link release} (to `then`, when it still holds
   * `token`) in one atomic call, so a load's write ends its lease without a call of its
   * own. The release happens whether or not a newer version kept a write out.
   */
  writeAndRelease?(writes: readonly StoreWrite[], release: LeaseRelease): Promise<void>;
}
