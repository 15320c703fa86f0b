import type pg from 'pg';
import type { StoreStatements } from './sql.js';

// Longest run of sweep statements in one sweep, so one call cannot loop for minutes.
const MAX_SWEEP_ROUNDS = 100;

/** What one {@link PostgresStore.sweep} deleted. */
export interface SweepResult {
  /** Rows deleted because they had expired. */
  readonly expired: number;
  /** Rows deleted because the table held more than `maxRows`. */
  readonly evicted: number;
}

/** What a {@link Sweeper} needs of its store. */
export interface SweeperSettings {
  readonly pool: pg.Pool;
  readonly sql: StoreStatements;
  readonly sweepIntervalMs: number;
  readonly sweepBatch: number;
  readonly maxRows: number | undefined;
  readonly clock: { now(): number };
  /** Runs before each sweep: makes sure the table exists (a promise while it is being made). */
  readonly ready: () => Promise<void> | undefined;
}

/**
 * Deletes a store's expired rows, and with `maxRows` its oldest rows beyond the bound,
 * in statements of at most `sweepBatch` rows; on a timer (unref'd: it keeps no process
 * alive) every `sweepIntervalMs` +-20%, and on demand.
 */
export class Sweeper {
  readonly #settings: SweeperSettings;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepResult> | undefined;
  #closed = false;

  /** Starts the timer unless `sweepIntervalMs` is 0. */
  constructor(settings: SweeperSettings) {
    this.#settings = settings;
    if (settings.sweepIntervalMs > 0) this.#schedule();
  }

  /** One sweep now, or the one already running. */
  sweep(): Promise<SweepResult> {
    // One sweep at a time per store: the timer and a direct call share the run.
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the timer and waits for a running sweep to finish its statement. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // Let a running sweep finish its statement before the pool goes away.
    await this.#running?.catch(() => {});
  }

  async #run(): Promise<SweepResult> {
    const creating = this.#settings.ready();
    if (creating !== undefined) await creating;
    const { pool, sql, sweepBatch, clock } = this.#settings;
    let expired = 0;
    for (let round = 0; round < MAX_SWEEP_ROUNDS && !this.#closed; round++) {
      const result = await pool.query(sql.sweepExpired, [clock.now(), sweepBatch]);
      expired += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < sweepBatch) break;
    }
    const evicted = this.#closed ? 0 : await this.#evict();
    return { expired, evicted };
  }

  /** Deletes the oldest rows beyond `maxRows` (none without a bound); how many it deleted. */
  async #evict(): Promise<number> {
    const { pool, sql, sweepBatch, maxRows } = this.#settings;
    if (maxRows === undefined) return 0;
    let evicted = 0;
    // count(*) reads the whole table (an index-only scan at best): fine once per sweep
    // interval, never per request.
    const counted = await pool.query<{ n: string }>(sql.count);
    let excess = Number(counted.rows[0]?.n ?? 0) - maxRows;
    for (let round = 0; excess > 0 && round < MAX_SWEEP_ROUNDS && !this.#closed; round++) {
      const result = await pool.query(sql.evictOldest, [Math.min(excess, sweepBatch)]);
      const deleted = result.rowCount ?? 0;
      evicted += deleted;
      excess -= deleted;
      // Every candidate was locked by another sweeper: it is doing the work.
      if (deleted === 0) break;
    }
    return evicted;
  }

  #schedule(): void {
    const { sweepIntervalMs } = this.#settings;
    // +-20% so instances started together do not sweep in lockstep.
    const delay = Math.round(sweepIntervalMs * (0.8 + 0.4 * Math.random()));
    this.#timer = setTimeout(() => {
      this.sweep()
        // A failed sweep (database down) is retried next interval; reads stay correct
        // meanwhile because they filter expired rows themselves.
        .catch(() => {})
        .finally(() => {
          if (!this.#closed) this.#schedule();
        });
    }, delay);
    this.#timer.unref();
  }
}
