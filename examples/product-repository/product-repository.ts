// A repository over Postgres whose reads are cached with @Cached and whose writes evict
// with @CacheEvict. In your project, import from 'tiercache/decorators' and 'tiercache'.
import pg from 'pg';
import { Cached, CacheEvict } from '../../src/decorators/index.js';
import type { TieredCache } from '../../src/index.js';
import type { Product } from './schema.js';

/** What the repository needs of a pg pool (a `pg.Pool` fits). */
export interface Db {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** The cache key of one product: the same for the read that fills it and the writes that evict it. */
const productKey = (id: number): string => `product:${id}`;

/**
 * Products, read through the cache. The cache is taken from the instance on every call
 * (`(repo) => repo.cache`), so it can be built at startup, after the class is defined.
 */
export class ProductRepository {
  readonly #table: string;

  constructor(
    readonly db: Db,
    readonly cache: TieredCache,
    schema: string,
  ) {
    this.#table = `${pg.escapeIdentifier(schema)}.products`;
  }

  /** One product, or `undefined` (cached too: a missing id does not hit the database each time). */
  @Cached({ cache: (repo: ProductRepository) => repo.cache, key: productKey, ttl: '10m', grace: '1h' })
  async findById(id: number): Promise<Product | undefined> {
    const { rows } = await this.db.query<{ id: number; name: string; price_cents: number }>(
      `SELECT id, name, price_cents FROM ${this.#table} WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row && { id: row.id, name: row.name, priceCents: row.price_cents };
  }

  /**
   * Changes a price. The product's entry is evicted from every tier after the UPDATE
   * commits, and the bus drops it from every other instance's L1; nothing is evicted
   * if the UPDATE fails.
   */
  @CacheEvict({ cache: (repo: ProductRepository) => repo.cache, key: productKey })
  async updatePrice(id: number, priceCents: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE ${this.#table} SET price_cents = $2 WHERE id = $1`, [
      id,
      priceCents,
    ]);
    return rowCount === 1;
  }
}
