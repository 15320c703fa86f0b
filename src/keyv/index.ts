/**
 * Public entry `tiercache/keyv`: a Keyv storage adapter over a `TieredCache`, for Keyv,
 * cache-manager 7, cacheable and NestJS's `CacheModule`. Importing it loads `keyv` and
 * `@keyv/serialize` (optional peer dependencies); the core entry `tiercache` never does.
 *
 * @packageDocumentation
 */

export { type CreateKeyvOptions, createKeyv } from './create.js';
export { KeyvTiercache, type KeyvTiercacheOptions } from './store.js';
