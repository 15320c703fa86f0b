import { LRUCache } from 'lru-cache';
import type { Entry } from '../entry/entry.js';
import type { L1Options } from '../options/cache-options.js';
import { type EntryStore, WTinyLfuStore } from './w-tinylfu.js';

/**
 * L1: the in-process tier on lru-cache. Synchronous, per process, and holds decoded
 * entries, so a hit does no decoding and no I/O. Not a StoreTier on purpose: the
 * orchestrator calls it directly on the hot path.
 *
 * lru-cache's own TTL is not used: freshness lives in the entry (the same in every
 * tier) and is checked against the cache's clock; an expired entry is dropped when
 * read, or pushed out by the size bound.
 *
 * While the bus link is down no invalidation can reach this instance, so L1 is
 * bypassed: reads find nothing and writes are skipped, while deletes still apply.
 *
 * With `admission: 'w-tinylfu'` the entries sit behind a {@link WTinyLfuStore}: a new key
 * may be turned away (it is then simply not held, and the next miss reloads it from the
 * stores), and the policy, not recency alone, picks what is evicted. Its memory on top of
 * lru-cache: the frequency sketch, `8 × nextPowerOfTwo(max)` bytes (128 KiB for `max`
 * 10,000), and about 125 bytes per entry for the policy's node and its ghost lists
 * (measured at `max` 100,000: 237 bytes per entry in all, against 100 for plain L1).
 * Without it, L1 is plain
 * lru-cache, exactly as before.
 */
export class MemoryTier {
  /** The lru-cache holding the entries when admission is off; undefined with admission (the policy owns its own). */
  readonly lru: LRUCache<string, Entry> | undefined;
  /** The admission policy, when `admission: 'w-tinylfu'`. */
  readonly policy: WTinyLfuStore | undefined;
  readonly #store: EntryStore;
  #bypassed = false;

  constructor(options: L1Options, onEvict: () => void) {
    const { sizeCalculation } = options;
    const sized = options.maxSize !== undefined && sizeCalculation !== undefined;
    if (options.admission === 'w-tinylfu') {
      this.lru = undefined;
      this.policy = new WTinyLfuStore(
        {
          max: options.max,
          ...(sized
            ? { maxSize: options.maxSize, sizeCalculation: (entry, key) => sizeCalculation(entry.value, key) }
            : {}),
        },
        onEvict,
      );
      this.#store = this.policy;
      return;
    }
    this.policy = undefined;
    this.lru = new LRUCache<string, Entry>({
      max: options.max,
      ...(sized
        ? { maxSize: options.maxSize, sizeCalculation: (entry, key) => sizeCalculation(entry.value, key) }
        : {}),
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') onEvict();
      },
    });
    this.#store = this.lru;
  }

  /** Whether L1 is read and written (false while bypassed). */
  get active(): boolean {
    return !this.#bypassed;
  }

  /** Turns the bypass on (bus link down) or off (link back). */
  bypass(on: boolean): void {
    this.#bypassed = on;
  }

  /** The entry held for `key`, whatever its freshness; nothing while bypassed. The hot path. */
  get(key: string): Entry | undefined {
    return this.#bypassed ? undefined : this.#store.get(key);
  }

  /** The entry held for `key` if still within its life at `now`; an expired one is dropped. */
  peek(key: string, now: number): Entry | undefined {
    if (this.#bypassed) return undefined;
    const entry = this.#store.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.#store.delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * Holds `entry` for `key`, unless bypassed or already holding a newer version of the
   * key (with admission, a new key may be turned away).
   */
  set(key: string, entry: Entry): void {
    if (this.#bypassed) return;
    const held = this.#store.peek(key);
    if (held !== undefined && held.version > entry.version) return;
    this.#store.set(key, entry);
  }

  /** Drops `key` if what it holds is older than `version` (a newer write or delete elsewhere). */
  deleteOlder(key: string, version: string): void {
    const held = this.#store.peek(key);
    if (held !== undefined && held.version < version) this.#store.delete(key);
  }

  /** Drops `key` (also while bypassed: a delete must never be lost). */
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
