import type { BusHealth } from '../bus/bus.js';
import type { TierHealth } from '../guard/guard.js';
import type { Duration } from '../options/duration.js';
import type { EntryOptions } from '../options/entry-options.js';

/** What a loader receives. */
export interface LoaderContext<V> {
  /** The key being loaded (without the namespace). */
  readonly key: string;
  /** Fired when the hard timeout passes; pass it to fetch / your database driver. */
  readonly signal: AbortSignal;
  /** The stale value, if one is within grace (useful for conditional requests). */
  readonly staleValue: V | undefined;
  /** Whether `staleValue` holds a value (it may itself be `undefined`). */
  readonly hasStale: boolean;
  /** Sets this entry's TTL from the loaded data (adaptive caching). */
  setTtl(ttl: Duration): void;
  /** Returns the result to the callers without caching it. */
  noCache(): void;
  /**
   * Sets this entry's tags from the loaded data (replacing the `tags` option), for
   * `deleteByTag`.
   * @throws InvalidOptionError unless a tag or an array of non-empty strings.
   */
  setTags(tags: string | readonly string[]): void;
}

/**
 * The loader parameter of a read-through call. On a cache without a value type
 * (`TieredCache<unknown>`, the default) the call's type `T` is inferred from the loader
 * (or given as `getOrSet<T>`), so one cache holds several kinds of values without casts;
 * on a `TieredCache<V>` it is not inferred from the loader, so calls stay typed as `V`.
 */
export type PerCall<V, L> = unknown extends V ? L : NoInfer<L>;

/** Loads the value of one key on a miss. */
export type Loader<V> = (context: LoaderContext<V>) => Promise<V> | V;

/** What a batch loader receives. */
export interface BatchLoaderContext {
  /** Fired when the hard timeout passes. */
  readonly signal: AbortSignal;
}

/**
 * Loads the values of many keys in one call (the DataLoader pattern): return a Map by
 * key, or an array aligned with `keys`. A key left out loads as `undefined`.
 */
export type BatchLoader<V> = (
  keys: string[],
  context: BatchLoaderContext,
) => Promise<ReadonlyMap<string, V> | readonly V[]> | ReadonlyMap<string, V> | readonly V[];

/** One entry for {@link TieredCache.setMany}. */
export interface SetManyItem<V> {
  readonly key: string;
  readonly value: V;
  readonly options?: EntryOptions;
}

/** Options of {@link TieredCache.wrap}. */
export interface WrapOptions<A extends unknown[]> extends EntryOptions {
  /** The cache key for a call's arguments. */
  key: (...args: A) => string;
}

/** Health of every tier and the bus, from {@link TieredCache.health}. */
export interface CacheHealth {
  /** `closed` once `close()` was called; else `down` only if every store is down and there is no L1. */
  readonly status: 'up' | 'degraded' | 'down' | 'closed';
  readonly l1: TierHealth;
  readonly stores: Readonly<Record<string, TierHealth>>;
  readonly bus?: BusHealth;
}
