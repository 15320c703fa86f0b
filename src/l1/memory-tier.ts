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
 */
export class MemoryTier {
  readonly lru: LRUCache<string, Entry>;

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

  /** Drops every key that starts with `prefix`. O(n) over L1; used by namespace views' `clear`. */
  deletePrefix(prefix: string): void {
    for (const key of [...this.lru.keys()]) {
      if (key.startsWith(prefix)) this.lru.delete(key);
    }
  }
}
