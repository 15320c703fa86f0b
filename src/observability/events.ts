import { InvalidOptionError } from '../errors.js';
import type { BreakerState } from '../guard/breaker.js';

/** Where a lookup was answered or missed: `l1`, or a store by its name (`redis`, `postgres`, ...). */
export type TierName = string;

/** A bus happening, as the `bus` event names it. */
export type BusEventKind = 'published' | 'received' | 'resync' | 'error' | 'linkUp' | 'linkDown';

/**
 * The events of {@link TieredCache.on} and their payloads. Keys are the cache's keys
 * (within a view, prefixed by the view's name); `key` is `undefined` where the flow
 * that counted the event does not carry it (a waiter served stale after its soft timeout).
 */
export interface CacheEvents {
  /** A fresh value found in a tier. */
  hit: { readonly key: string | undefined; readonly tier: TierName };
  /** A tier looked up that held nothing fresh. */
  miss: { readonly key: string | undefined; readonly tier: TierName };
  /** A stale value served (grace, soft timeout, fail-safe). */
  stale: { readonly key: string | undefined; readonly tier: TierName };
  /** A loader call returned a value. */
  load: { readonly key: string; readonly durationMs: number };
  /** A loader call failed or timed out (`timeout: true`, a LoaderTimeoutError). */
  loadError: {
    readonly key: string;
    readonly durationMs: number;
    readonly error: unknown;
    readonly timeout: boolean;
  };
  /** Keys written by `set`/`setMany` (loads count as `load`). */
  set: { readonly keys: readonly string[] };
  /** Keys deleted by `delete`/`deleteMany`. */
  delete: { readonly keys: readonly string[] };
  /** A `clear()` of the namespace (`prefix` `''`) or of a view. */
  clear: { readonly prefix: string };
  /** The invalidation bus: a message published or received, a resync, a failure, the link going down or up. */
  bus: { readonly kind: BusEventKind };
  /** A store's circuit breaker changed state. */
  breaker: { readonly store: string; readonly state: BreakerState; readonly previous: BreakerState };
  /**
   * A failure that was skipped (a store, the bus, a refresh nobody awaits, an event
   * handler that threw). `source` is the store's name, `bus`, `loader`, `handler` or `cache`.
   */
  error: { readonly error: Error; readonly source: string };
  /** One store call through its guard: for latency histograms. */
  storeCall: {
    readonly store: string;
    readonly kind: 'read' | 'write';
    readonly durationMs: number;
    readonly ok: boolean;
  };
  /** A caller joined a load already running for its key. */
  coalesced: { readonly key: string | undefined };
  /** A stale value was served because the loader failed. */
  failSafe: { readonly key: string | undefined };
  /** An entry pushed out of L1 by its size bound. */
  eviction: Record<string, never>;
  /** Bytes read from a store that could not be decoded (read as a miss). */
  codecError: { readonly tier: TierName };
}

/** The name of an event of {@link CacheEvents}. */
export type CacheEventName = keyof CacheEvents;

/** Every event name, for validation. */
export const EVENT_NAMES: ReadonlySet<string> = new Set<CacheEventName>([
  'hit',
  'miss',
  'stale',
  'load',
  'loadError',
  'set',
  'delete',
  'clear',
  'bus',
  'breaker',
  'error',
  'storeCall',
  'coalesced',
  'failSafe',
  'eviction',
  'codecError',
]);

/** A handler of event `E`. */
export type CacheEventHandler<E extends CacheEventName> = (payload: CacheEvents[E]) => void;

type Handlers = { [E in CacheEventName]?: Array<CacheEventHandler<E>> };

/**
 * The handlers of a cache's events. Handlers run synchronously, in the order added; one
 * that throws is caught and reported to `onHandlerError` (never to the `error` event, so
 * a throwing `error` handler cannot loop), and the cache call goes on.
 */
export class EventHub {
  readonly #handlers: Handlers = {};
  readonly #onHandlerError: (error: unknown) => void;
  readonly #onChange: () => void;
  #count = 0;

  /**
   * @param onChange called after each handler added or removed, so the recorder can keep
   *   the booleans that spare it building payloads when nobody listens.
   */
  constructor(onHandlerError: (error: unknown) => void, onChange: () => void) {
    this.#onHandlerError = onHandlerError;
    this.#onChange = onChange;
  }

  /** Whether any handler is registered at all. */
  get active(): boolean {
    return this.#count > 0;
  }

  /** Whether any handler is registered for `event`. */
  has(event: CacheEventName): boolean {
    return (this.#handlers[event]?.length ?? 0) > 0;
  }

  /**
   * Adds `handler` for `event`; returns a function that removes it.
   * @throws InvalidOptionError for an unknown event or a handler that is not a function.
   */
  on<E extends CacheEventName>(event: E, handler: CacheEventHandler<E>): () => void {
    if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'a function', handler);
    if (!EVENT_NAMES.has(event)) {
      throw new InvalidOptionError('event', `one of ${[...EVENT_NAMES].join(', ')}`, event);
    }
    let list = this.#handlers[event] as Array<CacheEventHandler<E>> | undefined;
    if (list === undefined) {
      list = [];
      (this.#handlers as Record<string, unknown>)[event] = list;
    }
    list.push(handler);
    this.#count++;
    this.#onChange();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const at = list.indexOf(handler);
      if (at !== -1) list.splice(at, 1);
      this.#count--;
      this.#onChange();
    };
  }

  /** Calls every handler of `event` with `payload`; a handler that throws is reported. */
  emit<E extends CacheEventName>(event: E, payload: CacheEvents[E]): void {
    const list = this.#handlers[event] as Array<CacheEventHandler<E>> | undefined;
    if (list === undefined || list.length === 0) return;
    for (const handler of list.length === 1 ? list : [...list]) {
      try {
        handler(payload);
      } catch (error) {
        this.#onHandlerError(error);
      }
    }
  }
}
