import { LRUCache } from 'lru-cache';
import type { Entry } from '../entry/entry.js';
import type { L1Options } from '../options/cache-options.js';

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
 */
export class MemoryTier {
  readonly lru: LRUCache<string, Entry>;
  #bypassed = false;

  constructor(options: L1Options, onEvict: () => void) {
    const { sizeCalculation } = options;
    this.lru = new LRUCache<string, Entry>({
      max: options.max,
      ...(options.maxSize !== undefined && sizeCalculation !== undefined
        ? { maxSize: options.maxSize, sizeCalculation: (entry, key) => sizeCalculation(entry.value, key) }
        : {}),
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') onEvict();
      },
    });
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
    return this.#bypassed ? undefined : this.lru.get(key);
  }

  /** The entry held for `key` if still within its life at `now`; an expired one is dropped. */
  peek(key: string, now: number): Entry | undefined {
    if (this.#bypassed) return undefined;
    const entry = this.lru.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.lru.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Holds `entry` for `key`, unless bypassed or already holding a newer version of the key. */
  set(key: string, entry: Entry): void {
    if (this.#bypassed) return;
    const held = this.lru.peek(key);
    if (held !== undefined && held.version > entry.version) return;
    this.lru.set(key, entry);
  }

  /** Drops `key` if what it holds is older than `version` (a newer write or delete elsewhere). */
  deleteOlder(key: string, version: string): void {
    const held = this.lru.peek(key);
    if (held !== undefined && held.version < version) this.lru.delete(key);
  }

  /** Drops `key` (also while bypassed: a delete must never be lost). */
  delete(key: string): void {
    this.lru.delete(key);
  }

  /** Drops `key` only if it still holds `entry` (undoing our own write, not a newer one). */
  deleteIfHolding(key: string, entry: Entry): void {
    if (this.lru.peek(key) === entry) this.lru.delete(key);
  }

  /** Drops every key that starts with `prefix` (`''`: everything). O(n) over L1 for a prefix. */
  deletePrefix(prefix: string): void {
    if (prefix === '') {
      this.lru.clear();
      return;
    }
    for (const key of [...this.lru.keys()]) {
      if (key.startsWith(prefix)) this.lru.delete(key);
    }
  }
}
