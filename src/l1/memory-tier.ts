import type { Entry } from '../entry/entry.js';
import { describe, InvalidOptionError } from '../errors.js';
import type { ResolvedL1Options } from '../options/cache-options.js';
import type { Clock } from '../options/clock.js';
import { LruMap } from './lru-map.js';
import { type EntryStore, WTinyLfuStore } from './w-tinylfu.js';

/**
 * L1: the in-process tier. Synchronous, per process, and holds decoded entries, so a hit
 * does no decoding and no I/O. Not a StoreTier on purpose: the orchestrator calls it
 * directly on the hot path.
 *
 * The entries sit in an {@link LruMap}, lru-cache's design cut to what L1 uses, so that
 * `getLocal` costs little more than a bare lru-cache `get`. Freshness lives in the entry
 * (the same in every tier) and is checked against the cache's clock; an expired entry is
 * dropped when read, or pushed out by the size bound.
 *
 * While the bus link is down no invalidation can reach this instance: L1 goes blind
 * ({@link blind}). It keeps its entries, but serves each as fresh for at most
 * `blindMaxAge` after it was last known current: a stale view of the entry is returned
 * past that, so it is reloaded (once per key, the flows' single-flight), or served by
 * grace and fail-safe like any stale entry. Nothing costs more on the hot path than the
 * one check of a field while the link is up.
 *
 * With `admission: 'w-tinylfu'` the entries sit behind a {@link WTinyLfuStore}: a new key
 * may be turned away (it is then simply not held, and the next miss reloads it from the
 * stores), and the policy, not recency alone, picks what is evicted. Its memory on top of
 * lru-cache: the frequency sketch, `8 × nextPowerOfTwo(max)` bytes (128 KiB for `max`
 * 10,000), and about 125 bytes per entry for the policy's node and its ghost lists
 * (measured at `max` 100,000: 237 bytes per entry in all, against 100 for plain L1).
 * Without it, L1 is a plain LRU.
 */
export class MemoryTier {
  /** The map holding the entries when admission is off; undefined with admission (the policy owns its own). */
  readonly map: LruMap<Entry> | undefined;
  /** The admission policy, when `admission: 'w-tinylfu'`. */
  readonly policy: WTinyLfuStore | undefined;
  readonly #store: EntryStore;
  readonly #clock: Clock;
  readonly #blindMaxAge: number;
  /** While blind: ms since the epoch when the entries held before were last known current; else -1. */
  #blindSince = -1;
  /** While blind: when each entry put in L1 since was put there (keyed by the entry object). */
  #putAt = new WeakMap<Entry, number>();

  constructor(options: ResolvedL1Options, onEvict: () => void, clock: Clock) {
    this.#clock = clock;
    this.#blindMaxAge = options.blindMaxAge;
    // Given together (validated): sized entries, each size checked.
    const { maxSize, sizeCalculation } = options;
    const sizeOf =
      sizeCalculation === undefined
        ? undefined
        : (entry: Entry, key: string) => checkedSize(sizeCalculation(entry.value, key), key);
    if (options.admission === 'w-tinylfu') {
      this.map = undefined;
      this.policy = new WTinyLfuStore({ max: options.max, maxSize, sizeCalculation: sizeOf }, onEvict);
      this.#store = this.policy;
      return;
    }
    this.policy = undefined;
    this.map = new LruMap<Entry>({ max: options.max, maxSize, sizeOf, onEvict });
    this.#store = this.map;
  }

  /** Whether L1 is blind (the bus link is down), and since when its older entries were known current. */
  get blindSince(): number | undefined {
    return this.#blindSince < 0 ? undefined : this.#blindSince;
  }

  /**
   * Goes blind (`since`: ms since the epoch of the last moment the entries held were
   * known current, the last moment the link was known to deliver), or back to normal
   * (`undefined`). The caller drops L1 when the link is back: it may have missed
   * invalidations.
   */
  blind(since: number | undefined): void {
    if (since === undefined) {
      this.#blindSince = -1;
      this.#putAt = new WeakMap();
      return;
    }
    // Already blind: the earlier moment stands (the link was not known good since).
    if (this.#blindSince < 0 || since < this.#blindSince) this.#blindSince = since;
  }

  /** The entry held for `key`, whatever its freshness (while blind, a stale view past its bound). The hot path. */
  get(key: string): Entry | undefined {
    // The map called directly when it holds the entries: one call site, one shape,
    // wherever else a W-TinyLFU L1 is used in the process.
    const map = this.map;
    const entry = map !== undefined ? map.get(key) : this.#store.get(key);
    if (this.#blindSince < 0 || entry === undefined) return entry;
    return this.#blindView(entry);
  }

  /** The entry held for `key` if still within its life at `now`; an expired one is dropped. */
  peek(key: string, now: number): Entry | undefined {
    const entry = this.#store.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.#store.delete(key);
      return undefined;
    }
    if (this.#blindSince < 0) return entry;
    // Past its blind life: nothing to serve now (it stays, for the link's return to drop).
    const view = this.#blindView(entry);
    return now >= view.expiresAt ? undefined : view;
  }

  /**
   * Holds `entry` for `key`, unless already holding a newer version of the key (with
   * admission, a new key may be turned away). While blind, the entry is known current
   * from now.
   */
  set(key: string, entry: Entry): void {
    const held = this.#store.peek(key);
    if (held !== undefined && held.version > entry.version) return;
    if (this.#blindSince >= 0) this.#putAt.set(entry, this.#clock.now());
    this.#store.set(key, entry);
  }

  /**
   * While blind: `entry`, or a view of it that is stale from `blindMaxAge` after it was
   * last known current, with its own grace after that (never past its own expiry).
   */
  #blindView(entry: Entry): Entry {
    const staleAt = (this.#putAt.get(entry) ?? this.#blindSince) + this.#blindMaxAge;
    if (staleAt >= entry.staleAt) return entry;
    const expiresAt = Math.min(entry.expiresAt, staleAt + (entry.expiresAt - entry.staleAt || 0));
    return { ...entry, staleAt, expiresAt };
  }

  /** Drops `key` if what it holds is older than `version` (a newer write or delete elsewhere). */
  deleteOlder(key: string, version: string): void {
    const held = this.#store.peek(key);
    if (held !== undefined && held.version < version) this.#store.delete(key);
  }

  /** Drops `key`. */
  delete(key: string): void {
    this.#store.delete(key);
  }

  /** Drops `key` only if it still holds `entry` (undoing our own write, not a newer one). */
  deleteIfHolding(key: string, entry: Entry): void {
    if (this.#store.peek(key) === entry) this.#store.delete(key);
  }

  /**
   * Drops every entry `drop` selects (a tag invalidation: entries carrying the tag, not
   * newer than it). O(n) over L1, run once per invalidation, never on a read.
   */
  deleteWhere(drop: (entry: Entry) => boolean): void {
    for (const key of [...this.#store.keys()]) {
      const entry = this.#store.peek(key);
      if (entry !== undefined && drop(entry)) this.#store.delete(key);
    }
  }

  /** Drops every key that starts with `prefix` (`''`: everything). O(n) over L1 for a prefix. */
  deletePrefix(prefix: string): void {
    if (prefix === '') {
      this.#store.clear();
      return;
    }
    for (const key of [...this.#store.keys()]) {
      if (key.startsWith(prefix)) this.#store.delete(key);
    }
  }
}

/**
 * `size`, what `l1.sizeCalculation` returned for `key`, if a positive integer; else the
 * user's function is wrong, and holding the value would leave the size bound unenforced
 * (a negative or NaN total never exceeds `maxSize`).
 * @throws InvalidOptionError naming `l1.sizeCalculation`.
 */
function checkedSize(size: unknown, key: string): number {
  if (typeof size === 'number' && Number.isSafeInteger(size) && size > 0) return size;
  throw new InvalidOptionError(
    'l1.sizeCalculation',
    'to return a positive integer',
    size,
    `Invalid option \`l1.sizeCalculation\`: expected it to return a positive integer, returned ${describe(size)} for key ${describe(key)}`,
  );
}
