// The query side: reads the projection and the event history through one three-tier
// cache, counting the statements that reach the database (what the cache saves). The
// bus is Postgres LISTEN/NOTIFY, because the database is written outside the cache: the
// projection's trigger notifies it, and the command side's Invalidator publishes on it.
import pg from 'pg';
import { type InvalidationBus, TieredCache } from '../../src/index.js';
import { postgresBus, postgresStore } from '../../src/postgres/index.js';
import { redisStore } from '../../src/redis/index.js';

/** Where the query side's tiers live. */
export interface QueryConfig {
  readonly namespace: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly schema: string;
}

/** A balance as the projection holds it. */
export interface Balance {
  readonly balance: number;
  /** The last event folded into it. */
  readonly lastEventId: number;
}

/** An account's most recent events, newest first. */
export interface History {
  readonly events: ReadonlyArray<{ id: number; amount: number }>;
  readonly lastEventId: number;
}

/** The query side of one process. */
export class Queries {
  readonly cache: TieredCache;
  /** Statements that reached the database for reads, by table. */
  readonly counts = { balances: 0, events: 0 };
  readonly #pool: pg.Pool;
  readonly #schema: string;

  constructor(config: QueryConfig) {
    this.#pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
    this.#pool.on('error', () => {});
    this.#schema = pg.escapeIdentifier(config.schema);
    this.cache = new TieredCache({
      namespace: config.namespace,
      l1: { max: 10_000 },
      stores: [
        redisStore({ url: config.redisUrl }),
        postgresStore({ pool: this.#pool, schema: config.schema, ensureSchema: false }),
      ],
      bus: this.#counting(postgresBus({ pool: this.#pool })),
      ttl: '10m',
    });
  }

  /** The account's balance from the projection, through the cache. */
  balance(accountId: number): Promise<Balance | null> {
    return this.cache.getOrSet(`balance:${accountId}`, async () => {
      this.counts.balances++;
      const { rows } = await this.#pool.query<{ balance: number; last_event_id: string }>(
        `SELECT balance, last_event_id FROM ${this.#schema}.balances WHERE account_id = $1`,
        [accountId],
      );
      const row = rows[0];
      return row === undefined ? null : { balance: row.balance, lastEventId: Number(row.last_event_id) };
    });
  }

  /** The account's last 10 events, through the cache, tagged with the account. */
  history(accountId: number): Promise<History> {
    return this.cache.getOrSet(`history:${accountId}`, async (ctx) => {
      this.counts.events++;
      ctx.setTags([`account:${accountId}`]);
      const { rows } = await this.#pool.query<{ id: string; amount: number }>(
        `SELECT id, amount FROM ${this.#schema}.events WHERE account_id = $1 ORDER BY id DESC LIMIT 10`,
        [accountId],
      );
      const events = rows.map((row) => ({ id: Number(row.id), amount: row.amount }));
      return { events, lastEventId: events[0]?.id ?? 0 };
    });
  }

  /**
   * Invalidations this process has applied: the trigger's and the command side's (not the
   * other query process's own loads, which the bus also carries).
   */
  invalidations(): number {
    return this.#invalidations;
  }

  #invalidations = 0;

  /** `bus`, counting the invalidations delivered to this cache once it has applied them. */
  #counting(bus: InvalidationBus): InvalidationBus {
    return {
      name: bus.name,
      start: (namespace, instanceId, listener) =>
        bus.start(namespace, instanceId, {
          ...listener,
          onMessage: (message) => {
            listener.onMessage(message);
            if (message.external === true || message.op === 'tag') this.#invalidations++;
          },
        }),
      publish: (message) => bus.publish(message),
      health: () => bus.health(),
      close: () => bus.close(),
    };
  }

  async close(): Promise<void> {
    await this.cache.close();
    await this.#pool.end();
  }
}
