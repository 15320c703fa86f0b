import { StoreDataError, type StoreUnavailableError } from '../errors.js';
import { traceStoreCall } from '../observability/channels.js';
import type { Clock } from '../options/clock.js';
import { storeFailure, storeRefusal, storeTimeout } from '../stores/failure.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';
import { Breaker, type BreakerState } from './breaker.js';
import { Deadlines } from './deadlines.js';
import { BreakerProbe, PROBE_INTERVAL_MS } from './probe.js';

// Keys written or deleted while a store was failing are remembered so they can be
// deleted from it before it is read again; past this many, the whole namespace is
// cleared from it instead.
const MAX_MISSED_KEYS = 10_000;
// Keys one call may carry within the plain timeout; larger batches get a multiple.
const KEYS_PER_TIMEOUT = 100;
// Repairs one read waits through before it gives up on the store (a miss, never stale).
const MAX_REPAIR_ROUNDS = 3;
// The key a breaker probe reads (absent: any answer proves the store up).
const PROBE_KEY = '#probe';

/** What a guard reports: counted in `stats()`, and data errors also to `onError`. */
export interface GuardReporter {
  /** A call failed, timed out, or was turned away by the breaker or a repair. */
  storeError(): void;
  /** The store refused one key's data: not an outage. */
  dataError(error: StoreDataError): void;
  /** A call settled after `ms` (`ok`: answered), for latency metrics and recovery logs. */
  called?(kind: 'read' | 'write', ms: number, ok: boolean): void;
  /** The breaker changed state. */
  breaker?(state: BreakerState, previous: BreakerState): void;
}

/** A write or delete that reached (or missed) a store: its key and version. */
export interface VersionedKey {
  readonly key: string;
  /** The version of the write (`undefined` for a store written without versions). */
  readonly version: string | undefined;
}

/**
 * How a guard's repair deletes what a store may hold stale after missing writes, and
 * who is told. The cache deletes each key by a tombstone JUST BELOW THE VERSION OF THE
 * WRITE IT MISSED: an older value there goes, no older write can land after the repair,
 * and the missed write itself stays if it landed after all (its reply was late), or
 * lands over the tombstone when it is copied up. (A physical
 * delete would also drop a newer write's version, and an older write landing after it
 * would then stay.) Every instance is told to drop copies older than those versions.
 */
export interface RepairHooks {
  /** Tombstones for the missed keys at their versions; `undefined`: delete them physically. */
  tombstones(missed: readonly VersionedKey[]): StoreWrite[] | undefined;
  /** What was repaired: the missed keys, or (`undefined`) the whole namespace up to `upTo`. */
  repaired(missed: readonly VersionedKey[] | undefined, upTo: string | undefined): void;
  /** The version a namespace-wide repair clears up to when no missed write had one. */
  version(): string | undefined;
  /**
   * The epoch a namespace-wide repair writes before clearing up to `upTo`, so that what
   * it deletes (tombstones included) cannot come back by an older write landing later;
   * `undefined`: clear only.
   */
  epoch(upTo: string): StoreWrite | undefined;
}

/** A repair by physical deletes, telling no one: for a guard used on its own. */
const PHYSICAL_REPAIR: RepairHooks = {
  tombstones: () => undefined,
  repaired: () => {},
  version: () => undefined,
  epoch: () => undefined,
};

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
  /**
   * The longest an open breaker waits before letting a call through as a probe, in ms.
   * Meanwhile the guard probes the store itself every {@link PROBE_INTERVAL_MS} (one
   * probe at a time, and at once when the store says its connection is ready again).
   */
  readonly cooldownMs: number;
}

/**
 * The one guard every store call goes through: a timeout and a circuit breaker
 * (closed -> open after N consecutive failures -> closed when a probe succeeds). While
 * open, the guard probes the store in the background (every {@link PROBE_INTERVAL_MS},
 * one probe at a time, and at once on the store's `onReady`), so the breaker closes
 * as soon as the store answers; past the cool-down a call is let through as a probe
 * too. Timeouts measure the store, not the queue in front of it (see `Deadlines`); a
 * store's refusal of one key's data (`StoreDataError`) is reported, never counted as a
 * failure.
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
  readonly #reporter: GuardReporter;
  /** How a repair deletes, and who is told (see {@link RepairHooks}). */
  readonly #hooks: RepairHooks;
  readonly #namespacePrefix: string;
  readonly #breaker: Breaker;
  #lastError: string | undefined;
  /** The last failure's error, the cause of a call turned away while the breaker is open. */
  #lastFailure: unknown;
  #latencyMs: number | undefined;
  /** Keys whose writes missed the store, with the greatest version missed for each. */
  readonly #missed = new Map<string, string | undefined>();
  #missedAll = false;
  /** The greatest version among the writes missed, for a namespace-wide repair. */
  #missedUpTo: string | undefined;
  #repair: Promise<void> | undefined;
  readonly #deadlines = new Deadlines();
  readonly #probe: BreakerProbe;
  readonly #unwatch: (() => void) | undefined;

  constructor(
    store: StoreTier,
    settings: GuardSettings,
    clock: Clock,
    reporter: GuardReporter,
    namespacePrefix: string,
    hooks: RepairHooks = PHYSICAL_REPAIR,
  ) {
    this.store = store;
    this.#settings = settings;
    this.#reporter = reporter;
    this.#hooks = hooks;
    this.#breaker = new Breaker(clock, settings.failureThreshold, settings.cooldownMs, (state, previous) =>
      reporter.breaker?.(state, previous),
    );
    this.#namespacePrefix = namespacePrefix;
    this.#probe = new BreakerProbe(store, namespacePrefix + PROBE_KEY, this.#breaker, {
      answered: (latencyMs) => {
        this.#latencyMs = latencyMs;
        // Back: repair what it missed now, not at the next read (which would wait for it).
        if (this.#missedAll || this.#missed.size > 0) this.#repairNow().catch(() => {});
      },
      failed: (error) => {
        this.#lastError = (error as Error)?.message ?? String(error);
      },
    });
    this.#unwatch = store.onReady?.(() => this.#probe.wake());
  }

  /** Stops probing and stops listening to the store; before the store is closed. */
  dispose(): void {
    this.#probe.dispose();
    this.#unwatch?.();
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
        this.#reporter.storeError();
        throw storeRefusal(
          this.store,
          'writes keep failing faster than they are repaired',
          this.#lastFailure,
        );
      }
      let timer: NodeJS.Timeout | undefined;
      const repaired = await Promise.race([
        this.#repairNow().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, deadline - performance.now()), false);
        }),
      ]).finally(() => clearTimeout(timer));
      if (!repaired) {
        this.#reporter.storeError();
        throw storeRefusal(
          this.store,
          `repair of writes missed during an outage still running after ${waitMs} ms`,
          this.#lastFailure,
        );
      }
    }
    return this.#call(op, size);
  }

  /**
   * Runs a write or delete of `keys` (`undefined` for a clear of the namespace). If it
   * cannot reach the store, the keys are remembered for repair and the error is thrown.
   */
  async write(
    writes: readonly VersionedKey[] | undefined,
    op: (store: StoreTier) => Promise<void>,
  ): Promise<void> {
    try {
      this.#admit();
      await this.#call(op, writes?.length ?? 1, 'write');
    } catch (error) {
      this.#remember(writes);
      throw error;
    }
  }

  /**
   * A clear of the namespace (or a view) did not reach the store outside this guard:
   * clear the namespace from it before it is read again, as after a failed write.
   */
  missedClear(upTo: string | undefined): void {
    this.#remember(undefined, upTo);
  }

  health(): TierHealth {
    const state = this.#breaker.state;
    // A store that still owes the repair of writes it missed is not up yet.
    const owed = this.#repair !== undefined || this.#missedAll || this.#missed.size > 0;
    const status =
      state === 'open'
        ? 'down'
        : state === 'half-open' || this.#breaker.failures > 0 || owed
          ? 'degraded'
          : 'up';
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
    this.#reporter.storeError();
    throw storeRefusal(
      this.store,
      admitted === 'open' ? 'circuit open' : 'circuit half-open, probe in flight',
      this.#lastFailure,
    );
  }

  /**
   * One store call under the timeout. A call of more than {@link KEYS_PER_TIMEOUT} keys
   * gets a proportionally longer timeout, so a large batch is not cut off half-written
   * merely for being large.
   */
  #call<T>(op: (store: StoreTier) => Promise<T>, size: number, kind: 'read' | 'write' = 'read'): Promise<T> {
    const started = performance.now();
    const scale = size > KEYS_PER_TIMEOUT ? Math.ceil(size / KEYS_PER_TIMEOUT) : 1;
    return new Promise<T>((resolve, reject) => {
      const call = this.#deadlines.add(this.#settings.timeoutMs * scale, started, () =>
        this.#fail(storeTimeout(this.store, this.#settings.timeoutMs * scale), kind, started, reject),
      );
      let pending: Promise<T>;
      try {
        pending = traceStoreCall(this.store, this.#namespacePrefix, kind, size, op);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (result) => {
          if (!this.#deadlines.settle(call, performance.now())) return;
          this.#latencyMs = performance.now() - started;
          this.#reporter.called?.(kind, this.#latencyMs, true);
          this.#breaker.succeeded();
          resolve(result);
        },
        (error) => {
          // A refusal of data is an answer: the store is up.
          const answered = error instanceof StoreDataError;
          if (!this.#deadlines.settle(call, answered ? performance.now() : undefined)) return;
          if (!answered) {
            this.#fail(error, kind, started, reject);
            return;
          }
          this.#breaker.succeeded();
          this.#reporter.dataError(error);
          reject(error);
        },
      );
    });
  }

  /**
   * A call that failed or timed out: reported, counted against the breaker, rejected.
   * (A method, not a closure per call: under keepNames every named closure costs an
   * `Object.defineProperty`.)
   */
  #fail(error: unknown, kind: 'read' | 'write', started: number, reject: (reason: unknown) => void): void {
    const failure = storeFailure(this.store, error);
    this.#reporter.called?.(kind, performance.now() - started, false);
    this.#failed(failure);
    reject(failure);
  }

  #failed(error: StoreUnavailableError): void {
    this.#reporter.storeError();
    this.#lastError = error.message;
    this.#lastFailure = error.cause;
    this.#breaker.failed();
    if (this.#breaker.state !== 'closed') this.#probe.schedule();
  }

  #remember(writes: readonly VersionedKey[] | undefined, upTo?: string): void {
    for (const write of writes ?? []) this.#missedUpTo = newest(this.#missedUpTo, write.version);
    if (upTo !== undefined) this.#missedUpTo = newest(this.#missedUpTo, upTo);
    if (writes === undefined || this.#missed.size + writes.length > MAX_MISSED_KEYS) {
      this.#missedAll = true;
      this.#missed.clear();
      return;
    }
    if (this.#missedAll) return;
    for (const { key, version } of writes) this.#missed.set(key, newest(this.#missed.get(key), version));
  }

  #repairNow(): Promise<void> {
    this.#repair ??= (async () => {
      // Take what is owed now, so a key missed while this repair is on the wire is
      // recorded afresh (and repaired by the next round), not erased when this one ends.
      const all = this.#missedAll;
      const missed = all ? [] : [...this.#missed].map(([key, version]) => ({ key, version }));
      const upTo = all ? (this.#missedUpTo ?? this.#hooks.version()) : undefined;
      this.#missedAll = false;
      this.#missed.clear();
      this.#missedUpTo = undefined;
      try {
        if (all) {
          const epoch = upTo === undefined ? undefined : this.#hooks.epoch(upTo);
          const clear = (store: StoreTier) => store.clear(this.#namespacePrefix, upTo);
          // A namespace clear scans the whole key space: give it the largest allowance.
          await this.#call(
            (store) => (epoch === undefined ? clear(store) : store.setMany([epoch]).then(() => clear(store))),
            MAX_MISSED_KEYS,
            'write',
          );
        } else {
          const tombstones = this.#hooks.tombstones(missed);
          const keys = missed.map(({ key }) => key);
          await this.#call(
            (store) => (tombstones === undefined ? store.deleteMany(keys) : store.setMany(tombstones)),
            keys.length,
            'write',
          );
        }
        this.#hooks.repaired(all ? undefined : missed, upTo);
      } catch (error) {
        this.#remember(all ? undefined : missed, upTo);
        throw error;
      } finally {
        this.#repair = undefined;
      }
    })();
    return this.#repair;
  }
}

/** The greater of two versions, either of which may be absent. */
function newest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b > a ? b : a;
}
