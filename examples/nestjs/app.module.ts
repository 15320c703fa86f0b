import { CacheModule } from '@nestjs/cache-manager';
import { type DynamicModule, Module } from '@nestjs/common';
import { TieredCache } from '../../src/index.js';
import { createKeyv } from '../../src/keyv/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import { ProductController, ProductService, ProductTable, TIERED_CACHE } from './products.js';

export interface AppConfig {
  redisUrl: string;
  databaseUrl: string;
  /** The cache's namespace (the tests give each run its own). */
  namespace: string;
  /** The Postgres schema of the L3 table. */
  schema: string;
}

/** One TieredCache for the app: L1, Redis (L2 and the bus), Postgres (L3). */
export function createAppCache(config: AppConfig): TieredCache {
  return new TieredCache({
    namespace: config.namespace,
    l1: { max: 10_000 },
    stores: [
      redisStore({ url: config.redisUrl }),
      postgresStore({ connectionString: config.databaseUrl, schema: config.schema }),
    ],
    bus: redisBus({ url: config.redisUrl }),
    ttl: '5m',
    grace: '1h',
    failSafe: true,
  });
}

/** The application module; {@link appModule} gives it its cache. */
@Module({})
export class AppModule {}

/** The app with its cache: CacheModule over tiercache, the products, the cache itself. */
export function appModule(cache: TieredCache): DynamicModule {
  return {
    module: AppModule,
    imports: [
      // NestJS's CacheModule with tiercache as its store: CACHE_MANAGER, CacheInterceptor
      // and @CacheTTL now read and write L1, Redis and Postgres. On shutdown it calls the
      // store's disconnect(), which closes the cache.
      CacheModule.register({ isGlobal: true, stores: [createKeyv(cache)] }),
    ],
    controllers: [ProductController],
    providers: [ProductTable, ProductService, { provide: TIERED_CACHE, useValue: cache }],
  };
}
