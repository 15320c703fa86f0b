// The command side: appends an event and folds it into the projection in one
// transaction. It reads nothing through the cache, so it holds an Invalidator, not a
// TieredCache: after COMMIT it invalidates what the trigger does not cover (the
// account's history, by tag). The projection's own key is invalidated by the trigger.
import pg from 'pg';
import type { Invalidator } from '../../src/index.js';

/** Handles the account commands. */
export class CommandHandler {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #invalidator: Invalidator;

  constructor(pool: pg.Pool, schema: string, invalidator: Invalidator) {
    this.#pool = pool;
    this.#schema = pg.escapeIdentifier(schema);
    this.#invalidator = invalidator;
  }

  /** Deposits `amount` (negative: a withdrawal) into `accountId`; resolves with the event's id once committed and invalidated. */
  async deposit(accountId: number, amount: number): Promise<number> {
    const client = await this.#pool.connect();
    let eventId: number;
    try {
      await client.query('BEGIN');
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO ${this.#schema}.events (account_id, amount) VALUES ($1, $2) RETURNING id`,
        [accountId, amount],
      );
      eventId = Number(inserted.rows[0]?.id);
      await client.query(
        `INSERT INTO ${this.#schema}.balances (account_id, balance, last_event_id) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
           SET balance = balances.balance + EXCLUDED.balance, last_event_id = EXCLUDED.last_event_id`,
        [accountId, amount, eventId],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    // Versioned: a query process loading the old history right now loses to this.
    await this.#invalidator.deleteByTag(`account:${accountId}`);
    return eventId;
  }
}
