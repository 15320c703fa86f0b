// One application instance, run as its own process (`fork` with tsx, see instances.ts):
// a pg pool, the three-tier cache and the decorated repository. It answers requests
// from its parent over IPC, so a demo or a test can drive several instances and watch
// what reaches the database.
import pg from 'pg';
import { type CacheConfig, createProductCache } from './cache.js';
import { ProductRepository } from './product-repository.js';

/** What the parent passes in `EXAMPLE_INSTANCE` (JSON). */
export interface InstanceConfig extends CacheConfig {
  readonly name: string;
  readonly databaseUrl: string;
}

/** A request from the parent, and its reply. */
export interface Request {
  readonly id: number;
  readonly op: keyof typeof handlers;
  readonly args: unknown[];
}
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

const config = JSON.parse(process.env.EXAMPLE_INSTANCE ?? 'null') as InstanceConfig | null;
if (!config || typeof process.send !== 'function') {
  throw new Error('instance.ts runs as a child process: use startInstance() from instances.ts');
}

const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
// A connection dropped by the server must not crash the instance; queries report their own errors.
pool.on('error', () => {});

// Counts the statements that reach the products table: what the cache exists to save.
const productQueries = { reads: 0, writes: 0 };
const db = {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
    if (/\bproducts\b/.test(text)) {
      if (/^\s*SELECT\b/i.test(text)) productQueries.reads++;
      else productQueries.writes++;
    }
    return pool.query<R>(text, values);
  },
};

const cache = createProductCache(config, pool);
const repo = new ProductRepository(db, cache, config.schema);

const handlers = {
  findById: (id: number) => repo.findById(id),
  updatePrice: (id: number, priceCents: number) => repo.updatePrice(id, priceCents),
  productQueries: () => productQueries,
  /** The product as this instance's L1 holds it, without touching any other tier. */
  peekLocal: (id: number) => cache.getLocal(`product:${id}`) ?? null,
  stats: () => cache.stats(),
  health: () => cache.health(),
  close: async () => {
    await cache.close();
    await pool.end();
    setImmediate(() => process.disconnect?.());
    return true;
  },
};

process.on('message', async (request: Request) => {
  let reply: Reply;
  try {
    const handler = handlers[request.op] as (...args: unknown[]) => unknown;
    reply = { id: request.id, ok: true, value: (await handler(...request.args)) ?? null };
  } catch (error) {
    reply = {
      id: request.id,
      ok: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
  process.send?.(reply);
});

await cache.ready();
process.send({ ready: config.name });
