import { CACHE_MANAGER, CacheInterceptor, CacheTTL } from '@nestjs/cache-manager';
import { Controller, Get, Inject, Injectable, Param, ParseIntPipe, UseInterceptors } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import type { TieredCache } from '../../src/index.js';

/** The injection token of the application's TieredCache. */
export const TIERED_CACHE = Symbol('TIERED_CACHE');

export interface Product {
  id: number;
  name: string;
  price: number;
}

/** Stands in for the database: counts the queries that reach it. */
@Injectable()
export class ProductTable {
  queries = 0;
  prices = new Map<number, number>([
    [1, 30],
    [2, 8],
  ]);

  async find(id: number): Promise<Product | null> {
    this.queries++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const price = this.prices.get(id);
    return price === undefined ? null : { id, name: `product ${id}`, price };
  }
}

@Injectable()
export class ProductService {
  constructor(
    private readonly table: ProductTable,
    // The same cache CacheModule stores into: read-through with tiercache's single-flight and grace.
    @Inject(TIERED_CACHE) private readonly cache: TieredCache,
    // cache-manager, as NestJS code usually has it, over the same tiers.
    @Inject(CACHE_MANAGER) private readonly cacheManager: Cache,
  ) {}

  /** Concurrent misses of one product make one query (single-flight). */
  find(id: number): Promise<Product | null> {
    return this.cache.getOrSet<Product | null>(`product:${id}`, () => this.table.find(id), { ttl: '1m' });
  }

  /** Fresh for 200 ms, then served stale at once for an hour while one refresh runs (grace). */
  price(id: number): Promise<number | undefined> {
    return this.cache.getOrSet<number | undefined>(
      `price:${id}`,
      async () => (await this.table.find(id))?.price,
      { ttl: 200, grace: '1h' },
    );
  }

  /** cache-manager's wrap, stored in the tiers through tiercache/keyv. */
  summary(): Promise<{ products: number }> {
    return this.cacheManager.wrap('summary', async () => ({ products: this.table.prices.size }), 60_000);
  }
}

@Controller()
export class ProductController {
  constructor(
    private readonly products: ProductService,
    private readonly table: ProductTable,
    @Inject(CACHE_MANAGER) private readonly cacheManager: Cache,
    @Inject(TIERED_CACHE) private readonly cache: TieredCache,
  ) {}

  /** Responses cached by NestJS's CacheInterceptor, in tiercache. */
  @Get('products/:id')
  @UseInterceptors(CacheInterceptor)
  @CacheTTL(60_000)
  product(@Param('id', ParseIntPipe) id: number): Promise<Product | null> {
    return this.products.find(id);
  }

  @Get('prices/:id')
  async price(@Param('id', ParseIntPipe) id: number): Promise<{ price: number | undefined }> {
    return { price: await this.products.price(id) };
  }

  @Get('summary')
  summary(): Promise<{ products: number }> {
    return this.products.summary();
  }

  /** Test hook: change a price in the "database". */
  @Get('reprice/:id/:price')
  reprice(@Param('id', ParseIntPipe) id: number, @Param('price', ParseIntPipe) price: number): { ok: true } {
    this.table.prices.set(id, price);
    return { ok: true };
  }

  /** What the TieredCache holds under a key (written by CacheInterceptor or CACHE_MANAGER). */
  @Get('cached/:key')
  async cached(@Param('key') key: string): Promise<{ value: unknown }> {
    return { value: await this.cache.get(key) };
  }

  @Get('queries')
  async queries(): Promise<{ queries: number; cached: unknown }> {
    return { queries: this.table.queries, cached: await this.cacheManager.get('/products/1') };
  }
}
