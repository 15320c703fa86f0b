/** Counters of one tier (L1 or a store). */
export interface TierCounters {
  /** Fresh hits. */
  hits: number;
  /** Lookups that found nothing usable. */
  misses: number;
  /** Stale values served (grace, soft timeout, fail-safe). */
  staleHits: number;
  sets: number;
  deletes: number;
  /** Entries pushed out by the size bound (L1). */
  evictions: number;
  /** Failed or timed-out store calls, and calls skipped while the breaker was open. */
  errors: number;
  /** Bytes that could not be decoded into an entry (read as misses). */
  codecErrors: number;
  /** Calls the store answered by refusing one key's data (`StoreDataError`); not counted in `errors`. */
  dataErrors: number;
}

/** Counters of loader calls. */
export interface LoaderCounters {
  ok: number;
  failed: number;
  /** Loads that hit the hard timeout. */
  timeouts: number;
  /** Total time spent in loaders, in ms. */
  timeMs: number;
  /** Callers that joined a load already running for their key instead of starting one. */
  coalesced: number;
  /** Times a stale value was served because the loader failed. */
  failSafe: number;
}

/** Counters of the invalidation bus. */
export interface BusCounters {
  published: number;
  received: number;
  /** Times L1 was cleared because bus messages may have been lost. */
  resyncs: number;
  errors: number;
}

/** A tier's counters with the derived hit ratio. */
export interface TierStats extends Readonly<TierCounters> {
  /** hits / (hits + misses), 0 when there were no lookups. */
  readonly hitRatio: number;
}

/** A snapshot of every counter, from {@link TieredCache.stats}. */
export interface CacheStats {
  readonly l1: TierStats;
  /** One entry per store, by the store's name. */
  readonly stores: Readonly<Record<string, TierStats>>;
  readonly loader: Readonly<LoaderCounters>;
  readonly bus: Readonly<BusCounters>;
  /** Share of lookups answered by any tier without calling the loader. */
  readonly hitRatio: number;
}

/** A tier's counters, all zero. */
export function tierCounters(): TierCounters {
  return {
    hits: 0,
    misses: 0,
    staleHits: 0,
    sets: 0,
    deletes: 0,
    evictions: 0,
    errors: 0,
    codecErrors: 0,
    dataErrors: 0,
  };
}

/** A frozen copy of `counters` with its hit ratio. */
export function withRatio(counters: TierCounters): TierStats {
  const lookups = counters.hits + counters.misses;
  return Object.freeze({ ...counters, hitRatio: lookups === 0 ? 0 : counters.hits / lookups });
}

/** Loader counters, all zero. */
export function loaderCounters(): LoaderCounters {
  return { ok: 0, failed: 0, timeouts: 0, timeMs: 0, coalesced: 0, failSafe: 0 };
}

/** Bus counters, all zero. */
export function busCounters(): BusCounters {
  return { published: 0, received: 0, resyncs: 0, errors: 0 };
}
