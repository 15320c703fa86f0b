import { StoreUnavailableError } from '../errors.js';
import type { Clock } from '../options/clock.js';
import type { StoreTier } from '../stores/store.js';
import { Breaker, type BreakerState } from './breaker.js';
import { Deadlines } from './deadlines.js';

// Keys written or deleted while a store was failing are remembered so they can be
// deleted from it before it is read again; past this many, the whole namespace is
// cleared from it instead.
const MAX_MISSED_KEYS = 10_000;
// Keys one call may carry within the plain timeout; larger batches get a multiple.
const KEYS_PER_TIMEOUT = 100;
// Repairs one read waits through before it gives up on the store (a miss, never stale).
const MAX_REPAIR_ROUNDS = 3;

/** Health of one tier, from {@link TieredCache.health}. */
export interface TierHealth {
  readonly status: 'up' | 'degraded' | 'down';
  readonly breaker: BreakerState;
  readonly lastError?: string;
  /** Latency of the last successful call, in ms. */
  readonly latencyMs?: number;
}

/** A guard's settings, resolved from the cache's `guard` options and the store's default timeout. */
export interface GuardSettings {
  /** Timeout of one call of up to {@link KEYS_PER_TIMEOUT} keys, in ms. */
  readonly timeoutMs: number;
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number;
  /** How long an open breaker waits before one probe, in ms. */
  readonly cooldownMs: number;
}

/**
 * The one guard every store call goes through: a timeout and a circuit breaker
 * (closed -> open after N consecutive failures -> half-open after a cool-down, one probe
 * at a time -> closed on success).
 *
 * It also keeps the store honest across an outage: a write or delete that did not reach
 * the store leaves the key possibly stale there, so the key is remembered and deleted
 * from the store (or, past a bound, the namespace cleared) before the store is read
 * again. A store that comes back never serves a value that was overwritten or deleted
 * while it was away.
 */
export class StoreGuard {
  readonly store: StoreTier;
  readonly #settings: GuardSettings;
  /** Counts a failed or turned-away call (the recorder's store error). */
  readonly #countError: () => void;
  /**
   * Told what a repair deleted (`undefined`: the whole namespace): other instances may
   * have read the old values while this store missed their writes, and must drop them.
   */
  readonly #onRepaired: (keys: readonly string[] | undefined) => void;
  readonly #namespacePrefix: string;
  readonly #breaker: Breaker;
  #lastError: string | undefined;
  #latencyMs: number | undefined;
  readonly #missed = new Set<string>();
  #missedAll = false;
  #repair: Promise<void> | undefined;
  readonly #deadlines = new Deadlines();

  constructor(
    store: StoreTier,
    settings: GuardSettings,
    clock: Clock,
    countError: () => void,
    namespacePrefix: string,
    onRepaired: (keys: readonly string[] | undefined) => void = () => {},
  ) {
    this.store = store;
    this.#settings = settings;
    this.#countError = countError;
    this.#onRepaired = onRepaired;
    this.#breaker = new Breaker(clock, settings.failureThreshold, settings.cooldownMs);
    this.#namespacePrefix = namespacePrefix;
  }

  /**
   * Runs a read of `size` keys. Rejects with StoreUnavailableError if the breaker is
   * open, the call fails or times out, or the store still owes a repair that cannot be
   * made now.
   */
  read<T>(op: (store: StoreTier) => Promise<T>, size = 1): Promise<T> {
    try {
      this.#admit();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#repair === undefined && !this.#missedAll && this.#missed.size === 0)
      return this.#call(op, size);
    return this.#readAfterRepair(op, size);
  }

  async #readAfterRepair<T>(op: (store: StoreTier) => Promise<T>, size: number): Promise<T> {
    // A repair may take far longer than one call (a large batch, a namespace clear gets a
    // scaled timeout). The read waits for it no longer than its own timeout, then skips
    // the store (a miss, never stale) while the repair goes on.
    const waitMs =
      this.#settings.timeoutMs * (size > KEYS_PER_TIMEOUT ? Math.ceil(size / KEYS_PER_TIMEOUT) : 1);
    const deadline = performance.now() + waitMs;
    // A repair already on the wire covers only the keys missed before it started; a key
    // missed since is owed another round before anything may be read.
    for (let round = 0; this.#repair !== undefined || this.#missedAll || this.#missed.size > 0; round++) {
      if (round === MAX_REPAIR_ROUNDS) {
        this.#countError();
        throw new StoreUnavailableError(this.store.name, 'writes keep failing faster than they are repaired');
      }
      let timer: NodeJS.Timeout | undefined;
      const repaired = await Promise.race([
        this.#repairNow().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, deadline - performance.now()), false);
        }),
      ]).finally(() => clearTimeout(timer));
      if (!repaired) {
        this.#countError();
        throw new StoreUnavailableError(
          this.store.name,
          `repair of writes missed during an outage still running after ${waitMs} ms`,
        );
      }
    }
    return this.#call(op, size);
  }

  /**
   * Runs a write or delete of `keys` (`undefined` for a clear of the namespace). If it
   * cannot reach the store, the keys are remembered for repair and the error is thrown.
   */
  async write(keys: readonly string[] | undefined, op: (store: StoreTier) => Promise<void>): Promise<void> {
    try {
      this.#admit();
      await this.#call(op, keys?.length ?? 1);
    } catch (error) {
      this.#remember(keys);
      throw error;
    }
  }

  /**
   * A clear of the namespace (or a view) did not reach the store outside this guard:
   * clear the namespace from it before it is read again, as after a failed write.
   */
  missedClear(): void {
    this.#remember(undefined);
  }

  health(): TierHealth {
    const state = this.#breaker.state;
    const status =
      state === 'open' ? 'down' : state === 'half-open' || this.#breaker.failures > 0 ? 'degraded' : 'up';
    return {
      status,
      breaker: state,
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      ...(this.#latencyMs !== undefined ? { latencyMs: this.#latencyMs } : {}),
    };
  }

  #admit(): void {
    const admitted = this.#breaker.admit();
    if (admitted === 'ok') return;
    this.#countError();
    throw new StoreUnavailableError(
      this.store.name,
      admitted === 'open' ? 'circuit open' : 'circuit half-open, probe in flight',
    );
  }

  /**
   * One store call under the timeout. A call of more than {@link KEYS_PER_TIMEOUT} keys
   * gets a proportionally longer timeout, so a large batch is not cut off half-written
   * merely for being large.
   */
  #call<T>(op: (store: StoreTier) => Promise<T>, size: number): Promise<T> {
    const started = performance.now();
    const scale = size > KEYS_PER_TIMEOUT ? Math.ceil(size / KEYS_PER_TIMEOUT) : 1;
    return new Promise<T>((resolve, reject) => {
      const fail = (error: unknown) => {
        this.#failed(error);
        reject(
          error instanceof StoreUnavailableError
            ? error
            : new StoreUnavailableError(this.store.name, (error as Error)?.message ?? String(error), {
                cause: error,
              }),
        );
      };
      const call = this.#deadlines.add(this.#settings.timeoutMs * scale, started, () =>
        fail(
          new StoreUnavailableError(
            this.store.name,
            `timed out after ${this.#settings.timeoutMs * scale} ms`,
          ),
        ),
      );
      let pending: Promise<T>;
      try {
        pending = op(this.store);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (result) => {
          if (!this.#deadlines.settle(call)) return;
          this.#latencyMs = performance.now() - started;
          this.#breaker.succeeded();
          resolve(result);
        },
        (error) => {
          if (this.#deadlines.settle(call)) fail(error);
        },
      );
    });
  }

  #failed(error: unknown): void {
    this.#countError();
    this.#lastError = (error as Error)?.message ?? String(error);
    this.#breaker.failed();
  }

  #remember(keys: readonly string[] | undefined): void {
    if (keys === undefined || this.#missed.size + keys.length > MAX_MISSED_KEYS) {
      this.#missedAll = true;
      this.#missed.clear();
      return;
    }
    if (this.#missedAll) return;
    for (const key of keys) this.#missed.add(key);
  }

  #repairNow(): Promise<void> {
    this.#repair ??= (async () => {
      // Take what is owed now, so a key missed while this repair is on the wire is
      // recorded afresh (and repaired by the next round), not erased when this one ends.
      const all = this.#missedAll;
      const keys = all ? [] : [...this.#missed];
      this.#missedAll = false;
      this.#missed.clear();
      try {
        // A namespace clear scans the whole key space: give it the largest allowance.
        if (all) await this.#call((store) => store.clear(this.#namespacePrefix), MAX_MISSED_KEYS);
        else await this.#call((store) => store.deleteMany(keys), keys.length);
        this.#onRepaired(all ? undefined : keys);
      } catch (error) {
        this.#remember(all ? undefined : keys);
        throw error;
      } finally {
        this.#repair = undefined;
      }
    })();
    return this.#repair;
  }
}
