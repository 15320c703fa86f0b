/**
 * Public entry `tiercache/redis`: the Redis L2 store and the Redis pub/sub
 * invalidation bus. Importing it loads `ioredis` (a peer dependency); the core
 * entry `tiercache` never does.
 *
 * @packageDocumentation
 */

export {
  BUS_SUBSCRIBER_NAME,
  type RedisBus,
  type RedisBusOptions,
  type RedisBusStats,
  redisBus,
} from './bus.js';
export { redisClientOptions } from './client.js';
export type { PubSubMode } from './cluster-link.js';
export type { RedisClusterStore } from './cluster-store.js';
export { escapeGlob, type RedisStore, type RedisStoreOptions, redisStore } from './store.js';
export { decodeBusMessage, encodeBusMessage } from './wire.js';
