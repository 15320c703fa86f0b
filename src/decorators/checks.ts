import { InvalidOptionError } from '../errors.js';
import { type EntryOptions, resolveEntryOptions } from '../options/entry-options.js';
import { isObject } from '../options/validators.js';
import type { CachedOptions, CacheSource, DecoratorCache } from './types.js';

// The decorators' options, validated once when the class is defined (a typo fails
// there, not on the first call), and the cache they resolve to on each call.

export function checkObject(decorator: string, options: unknown): asserts options is Record<string, unknown> {
  if (!isObject(options)) {
    throw new InvalidOptionError(`${decorator} options`, 'an object with a `cache`', options);
  }
}

/**
 * Validates the options of `@Cached` and `@CachePut` once, when the class is defined:
 * the cache, the key (a string or a function; required for `@CachePut`) and the entry
 * options.
 */
export function checkWriting<This, Args extends unknown[]>(
  decorator: string,
  options: CachedOptions<This, Args>,
  keyRequired: boolean,
): {
  source: CacheSource<unknown>;
  key: CachedOptions<This, Args>['key'];
  entryOptions: EntryOptions | undefined;
} {
  checkObject(decorator, options);
  const { cache, key, ...rest } = options;
  const source = checkSource(decorator, cache);
  if ((keyRequired || key !== undefined) && typeof key !== 'string') checkFunction(decorator, 'key', key);
  return { source, key, entryOptions: checkEntryOptions(rest) };
}

export function checkSource<This>(decorator: string, cache: unknown): CacheSource<This> {
  if (typeof cache === 'function' || isCache(cache)) return cache as CacheSource<This>;
  throw new InvalidOptionError(`${decorator} cache`, 'a TieredCache or a function returning one', cache);
}

export function resolve<This>(decorator: string, source: CacheSource<This>, self: This): DecoratorCache {
  if (typeof source !== 'function') return source;
  const cache = source.call(self, self);
  if (!isCache(cache)) {
    throw new InvalidOptionError(`${decorator} cache`, 'the `cache` function to return a TieredCache', cache);
  }
  return cache;
}

function isCache(value: unknown): value is DecoratorCache {
  return isObject(value) && typeof value.getOrSet === 'function' && typeof value.delete === 'function';
}

export function checkFunction(
  decorator: string,
  option: string,
  value: unknown,
  expected = 'a string or a function',
): void {
  if (typeof value !== 'function') throw new InvalidOptionError(`${decorator} ${option}`, expected, value);
}

/**
 * Validates the entry options once, when the class is defined (a typo such as `tll`
 * fails there, not on the first miss), and freezes them: every call passes this object.
 */
function checkEntryOptions(rest: EntryOptions): EntryOptions | undefined {
  if (Object.keys(rest).length === 0) return undefined;
  resolveEntryOptions(rest, undefined);
  return Object.freeze(rest);
}
