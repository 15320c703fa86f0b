import { Keyv } from 'keyv';
import type { TieredCache } from '../cache/tiered-cache.js';
import { InvalidOptionError } from '../errors.js';
import { checkKnownKeys, isObject } from '../options/validators.js';
import { KeyvTiercache, type KeyvTiercacheOptions } from './store.js';

/** Options of {@link createKeyv}. */
export interface CreateKeyvOptions extends KeyvTiercacheOptions {
  /**
   * Keyv's namespace: keys are stored as `namespace:key` and `clear()` clears only them.
   * Default none: Keyv's keys are the cache's keys, so `cache.getOrSet(key, …)` reads what
   * Keyv (cache-manager, NestJS) wrote under the same key.
   */
  namespace?: string;
  /** Keyv's default TTL in ms for `set` without one. Default: the cache's `ttl`. */
  ttl?: number;
}

const OPTION_NAMES = ['namespace', 'ttl', 'closeOnDisconnect'] as const;

/**
 * A `Keyv` over the cache that does not serialize: Keyv hands the store its values and
 * the cache's codec encodes them once. Pass it to cache-manager (`createCache({ stores:
 * [createKeyv(cache)] })`) or NestJS (`CacheModule.register({ stores: [createKeyv(cache)] })`).
 *
 * @throws InvalidOptionError for an unknown or ill-typed option.
 * @example
 * ```ts
 * const keyv = createKeyv(cache);
 * await keyv.set('user:1', { id: 1 }, 60_000);
 * await cache.get('user:1'); // { id: 1 }
 * ```
 */
export function createKeyv<V = unknown>(
  cache: TieredCache<unknown>,
  options: CreateKeyvOptions = {},
): Keyv<V> {
  if (!isObject(options as unknown)) throw new InvalidOptionError('options', 'an object', options);
  checkKnownKeys(options, OPTION_NAMES);
  const { namespace, ttl, closeOnDisconnect } = options;
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) {
    throw new InvalidOptionError('namespace', 'a non-empty string', namespace);
  }
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)) {
    throw new InvalidOptionError('ttl', 'a positive number of ms', ttl);
  }
  const store = new KeyvTiercache(cache, closeOnDisconnect === undefined ? {} : { closeOnDisconnect });
  return new Keyv<V>({
    store,
    // The cache's codec encodes the values: no JSON on the way.
    serialize: undefined,
    deserialize: undefined,
    namespace,
    ...(ttl !== undefined ? { ttl } : {}),
  });
}
