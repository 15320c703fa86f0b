import { LoaderTimeoutError, StoreUnavailableError } from '../errors.js';
import type { BreakerState } from '../guard/breaker.js';
import { type BusEventKind, EventHub } from './events.js';
import type { CacheInfo } from './info.js';
import { type CacheLogger, FailureLog } from './logger.js';
import {
  type BusCounters,
  busCounters,
  type CacheStats,
  type LoaderCounters,
  loaderCounters,
  type TierCounters,
  type TierStats,
  tierCounters,
  withRatio,
} from './stats.js';

/** One tier as the recorder knows it: its name (`l1` or a store's) and its counters. */
export interface TierRecord {
  readonly name: string;
  readonly counters: TierCounters;
}

const BUS_KINDS: Record<keyof BusCounters, BusEventKind> = {
  published: 'published',
  received: 'received',
  resyncs: 'resync',
  errors: 'error',
};

/**
 * The one place every counter moves and every skipped failure is reported. The flows
 * call a method per event (a hit, a load, a publish, ...) and never touch counters
 * themselves, so metrics, events and traces attach here and nowhere else.
 */
export class Recorder {
  readonly l1: TierRecord = { name: 'l1', counters: tierCounters() };
  readonly #l1 = this.l1.counters;
  readonly #stores = new Map<string, TierRecord>();
  readonly #loader: LoaderCounters = loaderCounters();
  readonly #bus: BusCounters = busCounters();
  /** Cache-aside lookups (`get`, `has`, `getMany`) that no tier answered. */
  #plainMisses = 0;
  readonly #onError: ((error: Error) => void) | undefined;
  /** The handlers of `cache.on(...)`, and the integrations built on them. */
  readonly events: EventHub;
  /**
   * Whether any event handler is registered: every method checks this one boolean before
   * building a payload, so with nobody listening an L1 hit costs one increment.
   */
  #observed = false;
  /** Whether a `hit`, `miss` or `stale` handler is registered (metrics without key groups need none). */
  #lookups = false;
  readonly #log: FailureLog;

  constructor(
    storeNames: readonly string[],
    onError: ((error: Error) => void) | undefined,
    logger?: CacheLogger,
    namespace = '',
  ) {
    for (const name of storeNames) this.#stores.set(name, { name, counters: tierCounters() });
    this.#onError = onError;
    this.#log = new FailureLog(namespace, logger, onError !== undefined);
    this.events = new EventHub(
      (error) => this.#handlerFailed(error),
      () => {
        const events = this.events;
        this.#observed = events.active;
        this.#lookups = events.has('hit') || events.has('miss') || events.has('stale');
      },
    );
  }

  /** The record of the store named `name` (one of the names given at construction). */
  store(name: string): TierRecord {
    return this.#stores.get(name) as TierRecord;
  }

  // ---- tiers ------------------------------------------------------------------------

  hit(tier: TierRecord, key?: string): void {
    tier.counters.hits++;
    if (this.#lookups) this.events.emit('hit', { key, tier: tier.name });
  }

  /** A fresh L1 hit: the hot path's own method, one increment (and one boolean check). */
  l1Hit(key?: string): void {
    this.#l1.hits++;
    if (this.#lookups) this.events.emit('hit', { key, tier: 'l1' });
  }

  miss(tier: TierRecord, key?: string): void {
    tier.counters.misses++;
    if (this.#lookups) this.events.emit('miss', { key, tier: tier.name });
  }

  staleHit(tier: TierRecord, key?: string): void {
    tier.counters.staleHits++;
    if (this.#lookups) this.events.emit('stale', { key, tier: tier.name });
  }

  sets(tier: TierRecord, count: number): void {
    tier.counters.sets += count;
  }

  deletes(tier: TierRecord, count: number): void {
    tier.counters.deletes += count;
  }

  eviction(): void {
    this.l1.counters.evictions++;
    if (this.#observed) this.events.emit('eviction', {});
  }

  /** `set`/`setMany` or `delete`/`deleteMany` of `keys` done (in every tier that took it). */
  wrote(op: 'set' | 'delete', keys: readonly string[]): void {
    if (this.#observed) this.events.emit(op, { keys });
  }

  /** A `clear()` of `prefix` done. */
  cleared(prefix: string): void {
    if (this.#observed) this.events.emit('clear', { prefix });
  }

  /** One store call through its guard settled, after `ms`; a success after failures is logged as a recovery. */
  storeCall(tier: TierRecord, kind: 'read' | 'write', ms: number, ok: boolean): void {
    if (ok) this.#log.recovered(tier.name);
    if (this.#observed) this.events.emit('storeCall', { store: tier.name, kind, durationMs: ms, ok });
  }

  /** A store's breaker changed state. */
  breaker(tier: TierRecord, state: BreakerState, previous: BreakerState): void {
    this.#log.breaker(tier.name, state, previous);
    if (this.#observed) this.events.emit('breaker', { store: tier.name, state, previous });
  }

  /** A store call failed, timed out, or was turned away by the breaker or a repair. */
  storeError(tier: TierRecord): void {
    tier.counters.errors++;
  }

  /** A store refused one key's data (see `StoreDataError`), reported as well. */
  dataError(tier: TierRecord, error: Error): void {
    tier.counters.dataErrors++;
    // Not an outage: logged at most once a minute per kind, never as the store failing.
    this.error(error, `${tier.name} data`);
  }

  codecError(tier: TierRecord): void {
    tier.counters.codecErrors++;
    if (this.#observed) this.events.emit('codecError', { tier: tier.name });
  }

  plainMiss(): void {
    this.#plainMisses++;
  }

  // ---- loader -----------------------------------------------------------------------

  /** A loader call for `key` settled after `ms`, with a value (`ok`) or `error`. */
  loadSettled(ok: boolean, ms: number, key = '', error?: unknown): void {
    if (ok) this.#loader.ok++;
    else this.#loader.failed++;
    this.#loader.timeMs += ms;
    if (!this.#observed) return;
    if (ok) this.events.emit('load', { key, durationMs: ms });
    else {
      const timeout = error instanceof LoaderTimeoutError;
      this.events.emit('loadError', { key, durationMs: ms, error, timeout });
    }
  }

  /**
   * A loader event: a load hit its hard timeout (`timeouts`), a caller joined a load
   * already running for its key (`coalesced`), a stale value was served because the
   * loader failed (`failSafe`).
   */
  loader(event: 'timeouts' | 'coalesced' | 'failSafe', key?: string): void {
    this.#loader[event]++;
    if (this.#observed && event !== 'timeouts') this.events.emit(event, { key });
  }

  // ---- bus --------------------------------------------------------------------------

  /** A bus event: a message published or received, a resync (L1 dropped), a failed publish. */
  bus(event: keyof BusCounters): void {
    this.#bus[event]++;
    if (event === 'published') this.#log.recovered('bus');
    else if (event === 'resyncs') this.#log.bus('resync');
    if (this.#observed) this.events.emit('bus', { kind: BUS_KINDS[event] });
  }

  /** The bus link went down (`false`: blind mode) or came back. */
  busLink(up: boolean): void {
    const kind = up ? 'linkUp' : 'linkDown';
    this.#log.bus(kind);
    if (this.#observed) this.events.emit('bus', { kind });
  }

  // ---- failures ---------------------------------------------------------------------

  /**
   * A failure that was skipped (a store, the bus, a refresh nobody awaits): goes to
   * `onError`, the `error` event, and the logger (or `process.emitWarning`) once per
   * change. `source` defaults to the store a StoreUnavailableError names, else `cache`.
   */
  error(error: unknown, source?: string): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const from = source ?? (err instanceof StoreUnavailableError ? err.store : 'cache');
    const onError = this.#onError;
    if (onError !== undefined) {
      try {
        onError(err);
      } catch {
        // A logging hook that throws must not break the cache.
      }
    }
    if (this.#observed) this.events.emit('error', { error: err, source: from });
    if (this.#log.active) this.#log.failed(from, err, from === 'bus' || this.#stores.has(from));
  }

  /** An event handler threw: reported like a skipped failure, but never to the `error` event. */
  #handlerFailed(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    try {
      this.#onError?.(err);
    } catch {
      // as above
    }
    if (this.#log.active) this.#log.failed('handler', err, false);
  }

  // ---- snapshot ---------------------------------------------------------------------

  /** How many times {@link reset} ran: integrations that turn counts into deltas need to know. */
  resets = 0;

  /** What the integrations need to know of a cache (or a view of it, `prefix`). */
  info(
    options: { readonly namespace: string; readonly stores: readonly { name: string }[] },
    prefix: string,
  ): CacheInfo {
    return {
      namespace: options.namespace,
      prefix,
      stores: options.stores.map((s) => s.name),
      resets: () => this.resets,
    };
  }

  /** Sets every counter back to zero. */
  reset(): void {
    this.resets++;
    Object.assign(this.l1.counters, tierCounters());
    for (const record of this.#stores.values()) Object.assign(record.counters, tierCounters());
    Object.assign(this.#loader, loaderCounters());
    Object.assign(this.#bus, busCounters());
    this.#plainMisses = 0;
  }

  /** A frozen copy of every counter, with hit ratios. */
  snapshot(): CacheStats {
    const stores: Record<string, TierStats> = {};
    let storeHits = 0;
    for (const [name, { counters }] of this.#stores) {
      stores[name] = withRatio(counters);
      storeHits += counters.hits + counters.staleHits;
    }
    const l1 = this.l1.counters;
    const answered = l1.hits + l1.staleHits + storeHits;
    const total = answered + this.#loader.ok + this.#loader.failed + this.#plainMisses;
    return Object.freeze({
      l1: withRatio(l1),
      stores: Object.freeze(stores),
      loader: Object.freeze({ ...this.#loader }),
      bus: Object.freeze({ ...this.#bus }),
      hitRatio: total === 0 ? 0 : answered / total,
    });
  }
}
