// The core entry `tiercache`: L1 and the orchestrator. It imports no optional peer
// (ioredis, pg, prom-client); the stores live in `tiercache/redis` and `tiercache/postgres`.

export type { BusHealth, BusListener, BusMessage, BusOp, InvalidationBus } from './bus/bus.js';
export { busChannel } from './bus/bus.js';
export { TieredCache } from './cache/tiered-cache.js';
export type {
  BatchLoader,
  BatchLoaderContext,
  CacheHealth,
  Loader,
  LoaderContext,
  SetManyItem,
  WrapOptions,
} from './cache/types.js';
export {
  type CodecExtension,
  EntryCodec,
  FORMAT_VERSION,
  type MsgpackCodecOptions,
  msgpackCodec,
  type ValueCodec,
} from './entry/codec.js';
export type { Entry } from './entry/entry.js';
export {
  BulkheadFullError,
  BusUnavailableError,
  CacheClosedError,
  CodecError,
  InvalidKeyError,
  InvalidOptionError,
  LoaderTimeoutError,
  MAX_KEY_LENGTH,
  StoreDataError,
  StoreUnavailableError,
  TierCacheError,
} from './errors.js';
export type { BreakerState } from './guard/breaker.js';
export type { TierHealth } from './guard/guard.js';
export { Invalidator, type InvalidatorOptions } from './invalidator/index.js';
export type {
  BusEventKind,
  CacheEventHandler,
  CacheEventName,
  CacheEvents,
  TierName,
} from './observability/events.js';
export type { CacheLogger } from './observability/logger.js';
export type {
  BusCounters,
  CacheStats,
  LoaderCounters,
  TierCounters,
  TierStats,
} from './observability/stats.js';
export type { GuardOptions, L1Options, TieredCacheOptions } from './options/cache-options.js';
export type { Clock } from './options/clock.js';
export type { Duration } from './options/duration.js';
export type { EntryOptions, FailSafeOptions, TimeoutOptions } from './options/entry-options.js';
export type { LeaseOptions } from './options/lease-options.js';
export type { LeaseHeld, LeaseStore } from './stores/lease.js';
export type { StoreTier, StoreWrite } from './stores/store.js';
