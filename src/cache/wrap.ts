import { InvalidOptionError } from '../errors.js';
import {
  type EntryOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from '../options/entry-options.js';
import type { TieredCache } from './tiered-cache.js';
import type { Loader, PerCall, WrapOptions } from './types.js';

/**
 * `cache.wrap(fn, options)`: `fn` with its results cached under `options.key(...args)`
 * through `getOrSet`. The options are validated once, now, so a bad one fails at wrap
 * time rather than on a miss.
 *
 * @throws InvalidOptionError when `fn` or `options.key` is not a function, or an entry option is invalid.
 */
export function wrapFunction<V, A extends unknown[], T extends V>(
  cache: TieredCache<V>,
  defaults: ResolvedEntryOptions,
  fn: (...args: A) => PerCall<V, Promise<T> | T>,
  options: WrapOptions<A>,
): (...args: A) => Promise<T> {
  if (typeof fn !== 'function') throw new InvalidOptionError('fn', 'a function', fn);
  if (options === null || typeof options !== 'object' || typeof options.key !== 'function') {
    throw new InvalidOptionError('key', 'a function of the arguments returning the cache key', options?.key);
  }
  const { key, ...rest } = options;
  const entryOptions: EntryOptions | undefined = Object.keys(rest).length > 0 ? rest : undefined;
  if (entryOptions !== undefined) resolveEntryOptions(entryOptions, defaults);
  return (...args: A) => {
    let cacheKey: string;
    try {
      cacheKey = key(...args);
    } catch (error) {
      // The wrapped function returns a promise: a failing key function rejects it, like any other failure.
      return Promise.reject(error);
    }
    return cache.getOrSet<T>(cacheKey, (() => fn(...args)) as PerCall<V, Loader<T>>, entryOptions);
  };
}
