import { InvalidOptionError } from '../errors.js';

/**
 * The key under which a cache tells the integrations (`tiercache/prometheus`,
 * `tiercache/opentelemetry`) its namespace and view prefix. A registered symbol, so it
 * is the same in the ESM and CommonJS builds.
 */
export const CACHE_INFO: unique symbol = Symbol.for('tiercache.cacheInfo') as never;

/** What a cache tells the integrations about itself. */
export interface CacheInfo {
  readonly namespace: string;
  /** The view's key prefix within the namespace (`''` for the cache itself). */
  readonly prefix: string;
  /** The stores' names, in lookup order. */
  readonly stores: readonly string[];
  /** How many times `resetStats()` ran (counts since then start again from zero). */
  resets(): number;
}

/**
 * The {@link CacheInfo} of `cache`.
 * @throws InvalidOptionError when `cache` is not a TieredCache.
 */
export function cacheInfoOf(cache: unknown): CacheInfo {
  const info = (cache as { [CACHE_INFO]?: CacheInfo } | null)?.[CACHE_INFO];
  if (info === undefined) throw new InvalidOptionError('cache', 'a TieredCache', cache);
  return info;
}
