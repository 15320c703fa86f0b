import type { LeaseStore } from './lease.js';

/**
 * One write to a store: the encoded entry and the absolute time (ms since the epoch)
 * after which the store may forget it.
 */
export interface StoreWrite {
  /** The fully qualified key (`namespace:key`). */
  readonly key: string;
  /**
   * The encoded entry envelope. It may be a view into a buffer the cache reuses for
   * later encodes: a store that keeps the bytes past the call copies them
   * (`value.slice()`), as the conformance suite checks.
   */
  readonly value: Uint8Array;
  /** Absolute expiry in ms since the epoch; the store drops the key at or after it. */
  readonly expiresAt: number;
  /**
   * The write's version: 24 lowercase hex characters, ordered as strings. A store keeps,
   * per key, only the write with the greatest version: a write whose version is not
   * greater than that of what the key holds (and has not yet expired) is dropped,
   * atomically with the comparison. Deletes reach a store as writes of a short-lived
   * tombstone entry, so this one rule keeps a late, older write from undoing a newer
   * write or a delete, whatever order the writes land in.
   */
  readonly version: string;
}

/**
 * The interface every shared tier below L1 implements (L2 Redis, L3 Postgres, and any
 * store of your own): async, over bytes, with absolute expiry. Stores know nothing of
 * entries, stats, the bus or each other; the orchestrator guards every call with a
 * timeout and a circuit breaker.
 *
 * Keys passed in are fully qualified (`namespace:key`). A store may prepend its own
 * prefix, and must never read, write or delete keys outside it.
 *
 * Prove a new store with the conformance suite exported from `tiercache/testing`.
 */
export interface StoreTier {
  /** A short unique name, used in stats, health and error messages (for example `redis`). */
  readonly name: string;
  /**
   * Where the store connects, for error messages, logs and traces: `host:port/db` for
   * Redis, `host:port/database` for Postgres. Never a password.
   */
  readonly endpoint?: string;
  /** The database system as OpenTelemetry names it (`redis`, `postgresql`), for traces. */
  readonly system?: string;
  /**
   * The last connection-level error the store's client reported (a socket error with its
   * `code`, such as `ECONNREFUSED`), while it is not connected; `undefined` once it is.
   * A failed call whose own error says only "not connected" carries it as its `cause`.
   */
  connectionError?(): Error | undefined;
  /** The guard timeout used for this store unless the cache options set one, in ms. */
  readonly defaultTimeoutMs?: number;
  /** The bytes stored at `key`, or `undefined` if absent or expired. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** The bytes of each key, in order; `undefined` where absent. One round trip where the store allows. */
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>;
  /** Writes every entry (one round trip where the store allows). The one write path of a store. */
  setMany(writes: readonly StoreWrite[]): Promise<void>;
  /** Deletes every key; absent keys are ignored. */
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * Deletes every key that starts with `prefix` (within the store's own prefix), and
   * nothing else.
   *
   * With `upTo` (a version, as in {@link StoreWrite.version}), deletes only those of
   * them whose stored version is not greater than `upTo`; a key holding no version (a
   * value written before versions existed) counts as oldest and is deleted. Each key is
   * checked and deleted atomically, so a write that lands during the clear with a
   * greater version (a newer value or tombstone) is kept. The cache passes `upTo` when it
   * deletes physically what a clear already hid; without it (a repair) everything under
   * `prefix` goes.
   *
   * A store written for the contract before `upTo` existed ignores it and deletes
   * everything under `prefix`, as before: what the clear hid is still never served, but
   * entries written after the clear are deleted too: a newer value is a needless miss,
   * and a newer tombstone gone lets a late write older than its delete land again.
   */
  clear(prefix: string, upTo?: string): Promise<void>;
  /** Releases what the store opened itself. A client passed in by the user is left open. */
  close(): Promise<void>;
  /**
   * Optional: calls `listener` each time the store's connection becomes ready again
   * (ioredis `ready`, a new pool connection), so an open breaker probes at once instead
   * of at its next tick. Returns a function that removes the listener.
   *
   * A store may throw a `StoreDataError` for a call the server answered by refusing one
   * key's data (a key of another type, a value it rejects): the guard reports it and
   * never counts it against the breaker.
   */
  onReady?(listener: () => void): () => void;
  /**
   * Leases on keys, if the store can host them (the Redis store can): the cache then
   * runs one load per key across every instance sharing the store. Optional.
   */
  readonly leases?: LeaseStore;
}
