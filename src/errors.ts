/**
 * Base class of every error tiercache throws or rejects with.
 * Catch it with `instanceof TierCacheError` to handle all of them at once, or match
 * `error.code`: each class has a stable code (`E_...`) that logs and alerts can rely on
 * across versions, also readable as the class's static `code`.
 */
export class TierCacheError extends Error {
  /** The code of errors of this class. */
  static readonly code: string = 'E_TIERCACHE';
  /** This error's stable code, the same as its class's static `code`. */
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as typeof TierCacheError).code;
  }
}

/** An option passed to a constructor or a call is unknown, ill-typed or out of range. */
export class InvalidOptionError extends TierCacheError {
  static override readonly code: string = 'E_INVALID_OPTION';
  /** The option's path, for example `l1.max` or `timeouts.hard`. */
  readonly option: string;
  /** The value received. */
  readonly received: unknown;
  constructor(option: string, expected: string, received: unknown, message?: string) {
    super(message ?? `Invalid option \`${option}\`: expected ${expected}, received ${describe(received)}`);
    this.option = option;
    this.received = received;
  }

  /** An option name that is not known (often a typo). */
  static unknown(option: string, known: readonly string[], received: unknown): InvalidOptionError {
    const message = `Unknown option \`${option}\` (received ${describe(received)}); known options: ${known.join(', ')}`;
    return new InvalidOptionError(option, 'a known option', received, message);
  }
}

/**
 * A key is not a non-empty, well-formed string of at most {@link MAX_KEY_LENGTH}
 * characters without NUL.
 */
export class InvalidKeyError extends TierCacheError {
  static override readonly code: string = 'E_INVALID_KEY';
  /** The key received. */
  readonly key: unknown;
  constructor(key: unknown, reason: string) {
    super(`Invalid cache key ${describe(key)}: ${reason}`);
    this.key = key;
  }
}

/** A loader did not settle within its hard timeout; its `AbortSignal` was fired. */
export class LoaderTimeoutError extends TierCacheError {
  static override readonly code: string = 'E_LOADER_TIMEOUT';
  /** The key whose loader timed out. */
  readonly key: string;
  /** The hard timeout in milliseconds. */
  readonly timeoutMs: number;
  constructor(key: string, timeoutMs: number) {
    super(`Loader for key "${key}" did not settle within the hard timeout of ${timeoutMs} ms`);
    this.key = key;
    this.timeoutMs = timeoutMs;
  }
}

/** A method was called after {@link TieredCache.close}. */
export class CacheClosedError extends TierCacheError {
  static override readonly code: string = 'E_CACHE_CLOSED';
  constructor(method: string) {
    super(`Cannot call ${method}(): the cache is closed`);
  }
}

/** What an unavailable store or bus error carries besides its reason. */
interface Unavailable {
  readonly cause?: unknown;
  readonly endpoint?: string | undefined;
}

/** A store or the bus could not be reached: names it and its endpoint, and carries the cause. */
abstract class UnavailableError extends TierCacheError {
  /** What is unavailable, in the message: `Store`, `Bus`. */
  static readonly what: string = 'Tier';
  /** The store's or bus's name. */
  protected readonly subject: string;
  /**
   * Where it connects (`host:port/db`, `host:port/database`; never a password), when it
   * says (`StoreTier.endpoint`, `InvalidationBus.endpoint`).
   */
  readonly endpoint: string | undefined;
  /**
   * @param options.cause the underlying error (a socket error with its `code`, such as
   *   `ECONNREFUSED`; a server error such as Postgres' `28P01`; a timeout, `ETIMEDOUT`).
   */
  constructor(name: string, reason: string, options?: Unavailable) {
    const at = options?.endpoint === undefined ? '' : ` (${options.endpoint})`;
    const what = (new.target as unknown as typeof UnavailableError).what;
    super(
      `${what} "${name}"${at} is unavailable: ${reason}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.subject = name;
    this.endpoint = options?.endpoint;
  }
}

/**
 * A store tier failed, timed out or has its circuit open. Thrown into callers only
 * in strict mode; otherwise the store is skipped and the failure is counted.
 */
export class StoreUnavailableError extends UnavailableError {
  static override readonly code: string = 'E_STORE_UNAVAILABLE';
  static override readonly what: string = 'Store';
  /** The store's name, as in `stats().stores`. */
  get store(): string {
    return this.subject;
  }
}

/**
 * The invalidation bus could not publish. The cache goes on; other instances may keep
 * stale L1 copies until the bus is back (then they resync).
 */
export class BusUnavailableError extends UnavailableError {
  static override readonly code: string = 'E_BUS_UNAVAILABLE';
  static override readonly what: string = 'Bus';
  /** The bus's name (`redis`, `postgres`, ...). */
  get bus(): string {
    return this.subject;
  }
}

/**
 * A load was turned away because `maxQueuedLoads` loads already wait for a slot of the
 * bulkhead (`maxConcurrentLoads`): the origin is saturated. With `failSafe`, a stale
 * value is served instead where there is one.
 */
export class BulkheadFullError extends TierCacheError {
  static override readonly code: string = 'E_BULKHEAD_FULL';
  /** The key whose load was turned away. */
  readonly key: string;
  constructor(key: string, maxQueued: number) {
    super(
      `Load of ${JSON.stringify(key)} turned away: ${maxQueued} loads already wait for the bulkhead (maxQueuedLoads)`,
    );
    this.key = key;
  }
}

/**
 * A store answered, but refused one key's data: a Redis key of another type
 * (`WRONGTYPE`), a value Postgres rejects (a data exception), or the like. The store is
 * up: the guard never counts this against its breaker. A read treats the key as a miss
 * in that store (a load then overwrites it); the error is counted in `stats()` as the
 * store's `dataErrors` and reported to `onError`.
 */
export class StoreDataError extends TierCacheError {
  static override readonly code: string = 'E_STORE_DATA';
  /** The store's name, as in `stats().stores`. */
  readonly store: string;
  /** The fully qualified key at fault (`namespace:key`), when the store call had one. */
  readonly key: string | undefined;
  constructor(store: string, key: string | undefined, reason: string, options?: { cause?: unknown }) {
    super(
      `Store "${store}" refused the data${key === undefined ? '' : ` of key ${JSON.stringify(key)}`}: ${reason}`,
      options,
    );
    this.store = store;
    this.key = key;
  }
}

/** Bytes read from a store could not be decoded into an entry (corrupt, truncated, or of an unknown format). */
export class CodecError extends TierCacheError {
  static override readonly code: string = 'E_CODEC';
}

/** Longest key accepted, in UTF-16 code units. Longer keys throw {@link InvalidKeyError}. */
export const MAX_KEY_LENGTH = 1024;

/** Renders a received value for an error message, short and unambiguous. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
