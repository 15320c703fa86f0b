import {
  type BusCounters,
  busCounters,
  type CacheStats,
  type LoaderCounters,
  loaderCounters,
  type TierCounters,
  type TierStats,
  tierCounters,
  withRatio,
} from './stats.js';

/** One tier as the recorder knows it: its name (`l1` or a store's) and its counters. */
export interface TierRecord {
  readonly name: string;
  readonly counters: TierCounters;
}

/**
 * The one place every counter moves and every skipped failure is reported. The flows
 * call a method per event (a hit, a load, a publish, ...) and never touch counters
 * themselves, so metrics, events and traces attach here and nowhere else.
 */
export class Recorder {
  readonly l1: TierRecord = { name: 'l1', counters: tierCounters() };
  readonly #l1 = this.l1.counters;
  readonly #stores = new Map<string, TierRecord>();
  readonly #loader: LoaderCounters = loaderCounters();
  readonly #bus: BusCounters = busCounters();
  /** Cache-aside lookups (`get`, `has`, `getMany`) that no tier answered. */
  #plainMisses = 0;
  readonly #onError: ((error: Error) => void) | undefined;

  constructor(storeNames: readonly string[], onError: ((error: Error) => void) | undefined) {
    for (const name of storeNames) this.#stores.set(name, { name, counters: tierCounters() });
    this.#onError = onError;
  }

  /** The record of the store named `name` (one of the names given at construction). */
  store(name: string): TierRecord {
    return this.#stores.get(name) as TierRecord;
  }

  // ---- tiers ------------------------------------------------------------------------

  hit(tier: TierRecord): void {
    tier.counters.hits++;
  }

  /** A fresh L1 hit: the hot path's own method, one increment. */
  l1Hit(): void {
    this.#l1.hits++;
  }

  miss(tier: TierRecord): void {
    tier.counters.misses++;
  }

  staleHit(tier: TierRecord): void {
    tier.counters.staleHits++;
  }

  sets(tier: TierRecord, count: number): void {
    tier.counters.sets += count;
  }

  deletes(tier: TierRecord, count: number): void {
    tier.counters.deletes += count;
  }

  eviction(): void {
    this.l1.counters.evictions++;
  }

  /** A store call failed, timed out, or was turned away by the breaker or a repair. */
  storeError(tier: TierRecord): void {
    tier.counters.errors++;
  }

  /** A store refused one key's data (see `StoreDataError`), reported as well. */
  dataError(tier: TierRecord, error: Error): void {
    tier.counters.dataErrors++;
    this.error(error);
  }

  codecError(tier: TierRecord): void {
    tier.counters.codecErrors++;
  }

  plainMiss(): void {
    this.#plainMisses++;
  }

  // ---- loader -----------------------------------------------------------------------

  /** A loader call settled after `ms`, with a value (`ok`) or an error. */
  loadSettled(ok: boolean, ms: number): void {
    if (ok) this.#loader.ok++;
    else this.#loader.failed++;
    this.#loader.timeMs += ms;
  }

  /**
   * A loader event: a load hit its hard timeout (`timeouts`), a caller joined a load
   * already running for its key (`coalesced`), a stale value was served because the
   * loader failed (`failSafe`).
   */
  loader(event: 'timeouts' | 'coalesced' | 'failSafe'): void {
    this.#loader[event]++;
  }

  // ---- bus --------------------------------------------------------------------------

  /** A bus event: a message published or received, a resync (L1 dropped), a failed publish. */
  bus(event: keyof BusCounters): void {
    this.#bus[event]++;
  }

  // ---- failures ---------------------------------------------------------------------

  /** A failure that was skipped (a store, the bus, a refresh nobody awaits): goes to `onError`. */
  error(error: unknown): void {
    const onError = this.#onError;
    if (onError === undefined) return;
    try {
      onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A logging hook that throws must not break the cache.
    }
  }

  // ---- snapshot ---------------------------------------------------------------------

  /** Sets every counter back to zero. */
  reset(): void {
    Object.assign(this.l1.counters, tierCounters());
    for (const record of this.#stores.values()) Object.assign(record.counters, tierCounters());
    Object.assign(this.#loader, loaderCounters());
    Object.assign(this.#bus, busCounters());
    this.#plainMisses = 0;
  }

  /** A frozen copy of every counter, with hit ratios. */
  snapshot(): CacheStats {
    const stores: Record<string, TierStats> = {};
    let storeHits = 0;
    for (const [name, { counters }] of this.#stores) {
      stores[name] = withRatio(counters);
      storeHits += counters.hits + counters.staleHits;
    }
    const l1 = this.l1.counters;
    const answered = l1.hits + l1.staleHits + storeHits;
    const total = answered + this.#loader.ok + this.#loader.failed + this.#plainMisses;
    return Object.freeze({
      l1: withRatio(l1),
      stores: Object.freeze(stores),
      loader: Object.freeze({ ...this.#loader }),
      bus: Object.freeze({ ...this.#bus }),
      hitRatio: total === 0 ? 0 : answered / total,
    });
  }
}
