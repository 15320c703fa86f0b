/**
 * Public entry `tiercache/decorators`: `@Cached`, `@CacheEvict` and `@CachePut` for async
 * repository methods, with TC39 standard decorators (TypeScript 5's default) and legacy
 * `experimentalDecorators` alike.
 *
 * @packageDocumentation
 */
export {
  type AsyncMethodDecorator,
  Cached,
  type CachedOptions,
  CacheEvict,
  type CacheEvictOptions,
  CachePut,
  type CachePutOptions,
  type CacheSource,
  type DecoratorCache,
  InvalidDecoratorTargetError,
  type KeyFunction,
} from './decorators.js';
export { methodKey, stableStringify, UncacheableArgumentError } from './stable-key.js';
