/**
 * Public entry `tiercache/decorators`: `@Cached`, `@CacheEvict` and `@CachePut` for async
 * repository methods, with TC39 standard decorators (TypeScript 5's default) and legacy
 * `experimentalDecorators` alike.
 *
 * @packageDocumentation
 */
export { Cached, CacheEvict, CachePut, InvalidDecoratorTargetError } from './decorators.js';
export { methodKey, stableStringify, UncacheableArgumentError } from './stable-key.js';
export type {
  AsyncMethodDecorator,
  CachedOptions,
  CacheEvictOptions,
  CachePutOptions,
  CacheSource,
  DecoratorCache,
  KeyFunction,
} from './types.js';
