// The core entry `tiercache`: L1 and the orchestrator. It imports no optional peer
// (ioredis, pg, prom-client); the stores live in `tiercache/redis` and `tiercache/postgres`.

export type { BusHealth, BusListener, BusMessage, BusOp, InvalidationBus } from './bus/bus.js';
export { busChannel } from './bus/bus.js';
export {
  type BatchLoader,
  type BatchLoaderContext,
  type CacheHealth,
  type Loader,
  type LoaderContext,
  type SetManyItem,
  TieredCache,
  type WrapOptions,
} from './cache/tiered-cache.js';
export { EntryCodec, FORMAT_VERSION, msgpackCodec, type ValueCodec } from './entry/codec.js';
export type { Entry } from './entry/entry.js';
export {
  CacheClosedError,
  CodecError,
  InvalidKeyError,
  InvalidOptionError,
  LoaderTimeoutError,
  MAX_KEY_LENGTH,
  StoreUnavailableError,
  TierCacheError,
} from './errors.js';
export type { BreakerState, TierHealth } from './guard/guard.js';
export type {
  BusCounters,
  CacheStats,
  LoaderCounters,
  TierCounters,
  TierStats,
} from './observability/stats.js';
export type {
  EntryOptions,
  FailSafeOptions,
  GuardOptions,
  L1Options,
  TieredCacheOptions,
  TimeoutOptions,
} from './options/cache-options.js';
export type { Clock } from './options/clock.js';
export type { Duration } from './options/duration.js';
export type { StoreTier, StoreWrite } from './stores/store.js';
