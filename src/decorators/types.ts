import type { TieredCache } from '../cache/tiered-cache.js';
import type { EntryOptions } from '../options/entry-options.js';

/**
 * The part of a `TieredCache` (or of one of its `namespace()` views) the decorators
 * use. Any `TieredCache<V>` satisfies it, whatever its `V`: a decorator cannot relate
 * a method's return type to the cache's value type, so the cache's `V` is not checked.
 */
// biome-ignore lint/suspicious/noExplicitAny: `any` lets a TieredCache<V> of every V fit (its loader parameter is contravariant in V).
export type DecoratorCache = Pick<TieredCache<any>, 'getOrSet' | 'set' | 'delete' | 'deleteMany' | 'clear'>;

/**
 * The cache a decorator works on: a cache, or a function returning one, called on every
 * decorated call with the instance (`this`) as its argument. The function form lets a DI
 * container, or the instance itself, supply the cache after the class is defined.
 */
export type CacheSource<This> = DecoratorCache | ((instance: This) => DecoratorCache);

/** Builds a key from the decorated method's arguments; called with the instance as `this`. */
export type KeyFunction<This, Args extends unknown[]> = (this: This, ...args: Args) => string;

/** Options of {@link Cached}: the cache, an optional key builder, and any `getOrSet` entry option. */
export interface CachedOptions<This = unknown, Args extends unknown[] = unknown[]> extends EntryOptions {
  /** The cache, or a function of the instance returning it (resolved on every call). */
  cache: CacheSource<This>;
  /**
   * Builds the key from the arguments. Default: `ClassName.method:` followed by a stable
   * serialization of the arguments (see {@link methodKey}), where `ClassName` is the
   * runtime class of `this`.
   */
  key?: string | KeyFunction<This, Args>;
}

/** Options of {@link CacheEvict}: the cache and exactly one of `key`, `keys` or `allEntries`. */
export interface CacheEvictOptions<This = unknown, Args extends unknown[] = unknown[]> {
  /** The cache, or a function of the instance returning it (resolved on every call). */
  cache: CacheSource<This>;
  /** The key to delete: a string, or a function of the arguments. */
  key?: string | KeyFunction<This, Args>;
  /** The keys to delete: an array, or a function of the arguments. */
  keys?: readonly string[] | ((this: This, ...args: Args) => readonly string[]);
  /** Clear the whole cache (every key of its namespace, or of the view's sub-namespace). */
  allEntries?: boolean;
}

/** Options of {@link CachePut}: the cache, the key, and the entry options of `cache.set`. */
export interface CachePutOptions<This = unknown, Args extends unknown[] = unknown[]> extends EntryOptions {
  /** The cache, or a function of the instance returning it (resolved on every call). */
  cache: CacheSource<This>;
  /** The key the result is written under: a string, or a function of the arguments. */
  key: string | KeyFunction<This, Args>;
}

type AsyncMethod<This, Args extends unknown[], Return> = (this: This, ...args: Args) => Promise<Return>;

/**
 * A method decorator usable both as a TC39 standard decorator (TypeScript 5's default)
 * and as a legacy `experimentalDecorators` one; which one is detected from the call.
 * `KeyArgs` are the arguments the key builder takes: the decorated method must accept
 * them first (it may take more after them).
 */
export interface AsyncMethodDecorator<This, KeyArgs extends unknown[]> {
  <T extends This, Args extends [...KeyArgs, ...unknown[]], Return>(
    value: AsyncMethod<T, Args, Return>,
    context: ClassMethodDecoratorContext<T, AsyncMethod<T, Args, Return>>,
  ): AsyncMethod<T, Args, Return>;
  <T extends This, Args extends [...KeyArgs, ...unknown[]], Return>(
    target: T,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<AsyncMethod<T, Args, Return>>,
  ): TypedPropertyDescriptor<AsyncMethod<T, Args, Return>>;
}
