/**
 * Public entry `tiercache/keyv`: a Keyv storage adapter over a `TieredCache`, for Keyv,
 * cache-manager 7, cacheable and NestJS's `CacheModule`. Importing it loads `keyv` (an
 * optional peer dependency); the core entry `tiercache` never does.
 *
 * @packageDocumentation
 */

export { type CreateKeyvOptions, createKeyv } from './create.js';
export { KeyvTiercache, type KeyvTiercacheOptions } from './store.js';
