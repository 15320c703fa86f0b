import { InvalidOptionError } from '../errors.js';
import { type Duration, parseDuration } from './duration.js';
import { booleanOption, checkKnownKeys, isObject } from './validators.js';

/** Loader timeouts. */
export interface TimeoutOptions {
  /**
   * How long a caller that has a stale value waits for a refresh before taking the stale
   * value (the refresh goes on in the background and updates the cache). `0`, the
   * default, returns the stale value at once: stale-while-revalidate.
   */
  soft?: Duration;
  /** After this the loader's `AbortSignal` fires and callers reject with `LoaderTimeoutError`. Default: none. */
  hard?: Duration;
}

/** Fail-safe: when a loader fails and a stale value exists, serve the stale value. */
export interface FailSafeOptions {
  /**
   * After a fail-safe activation the stale value is served without calling the loader
   * again for this long, per key, so a failing source is retried at most once per
   * window. Default 10 s. Never extends a value past its `expiresAt`.
   */
  throttle?: Duration;
}

/** Refresh-ahead settings (see {@link EntryOptions.refreshAhead}). */
export interface RefreshAheadOptions {
  /**
   * XFetch's β: how early refreshes start, as a multiple of the measured load time.
   * Above 1 refreshes earlier (fewer misses, more loads), below 1 later. Default 1.
   */
  beta?: number;
}

/** Options of a single entry, accepted by the constructor (as defaults) and per call. */
export interface EntryOptions {
  /** Time to live: how long a value is fresh. */
  ttl?: Duration;
  /** Fraction in [0, 1) by which a TTL is shortened at random, once per entry. Default 0.1. */
  jitter?: number;
  /** How long after going stale a value may still be served (grace, stale-while-revalidate, fail-safe). Default 0. */
  grace?: Duration;
  /** Serve stale values when the loader fails. Default off. */
  failSafe?: boolean | FailSafeOptions;
  /** Loader timeouts. */
  timeouts?: TimeoutOptions;
  /** Cache `null` and `undefined` loader results. Default true. */
  negativeCaching?: boolean;
  /** Tags stored with the entry (carried by every tier; tag invalidation comes later). */
  tags?: readonly string[];
  /**
   * Refresh a value in the background before it goes stale, so readers of a hot key never
   * wait for its loader: XFetch (Vattani et al., VLDB 2015). Each `getOrSet` hit on L1
   * refreshes early with a chance that rises as `staleAt` nears, scaled by the load time
   * this process measured for the value and by β; one refresh per key across instances
   * (under the key's lease). Costs a random draw and a logarithm per L1 hit of such a
   * value, and about one extra load per TTL per key that is read near its expiry.
   * Default off.
   */
  refreshAhead?: boolean | RefreshAheadOptions;
}

/** Per-entry options after validation: plain numbers, no strings. */
export interface ResolvedEntryOptions {
  readonly ttl: number;
  readonly jitter: number;
  readonly grace: number;
  readonly failSafe: boolean;
  readonly failSafeThrottle: number;
  readonly softTimeout: number;
  readonly hardTimeout: number;
  readonly negativeCaching: boolean;
  readonly tags: readonly string[] | undefined;
  /** XFetch's β for refresh-ahead; 0 when off. */
  readonly refreshAhead: number;
}

const DEFAULT_TTL = 60_000;
const DEFAULT_THROTTLE = 10_000;

/** The names of {@link EntryOptions}: accepted per call and, as defaults, by the constructor. */
export const ENTRY_KEY_NAMES: readonly string[] = [
  'ttl',
  'jitter',
  'grace',
  'failSafe',
  'timeouts',
  'negativeCaching',
  'tags',
  'refreshAhead',
];

/**
 * Validates per-entry options over a base. Used once at construction, and on the slow
 * path for per-call options (never on an L1 hit).
 */
export function resolveEntryOptions(
  input: EntryOptions | undefined,
  base: ResolvedEntryOptions | undefined,
  path = '',
): ResolvedEntryOptions {
  if (input === undefined) {
    if (base === undefined) throw new TypeError('unreachable: no base entry options');
    return base;
  }
  if (!isObject(input)) throw new InvalidOptionError(path || 'options', 'an object', input);
  checkKnownKeys(input, ENTRY_KEY_NAMES, path);
  const ttl = input.ttl === undefined ? (base?.ttl ?? DEFAULT_TTL) : parseDuration(input.ttl, `${path}ttl`);
  let jitter = base?.jitter ?? 0.1;
  if (input.jitter !== undefined) {
    if (typeof input.jitter !== 'number' || !(input.jitter >= 0 && input.jitter < 1)) {
      throw new InvalidOptionError(`${path}jitter`, 'a number in [0, 1)', input.jitter);
    }
    jitter = input.jitter;
  }
  const grace =
    input.grace === undefined ? (base?.grace ?? 0) : parseDuration(input.grace, `${path}grace`, true);
  const negativeCaching = booleanOption(
    input.negativeCaching,
    `${path}negativeCaching`,
    base?.negativeCaching ?? true,
  );
  let tags = base?.tags;
  if (input.tags !== undefined) {
    if (!Array.isArray(input.tags) || !input.tags.every((t) => typeof t === 'string' && t.length > 0)) {
      throw new InvalidOptionError(`${path}tags`, 'an array of non-empty strings', input.tags);
    }
    tags = Object.freeze([...input.tags]);
  }
  return Object.freeze({
    ttl,
    jitter,
    grace,
    ...resolveFailSafe(input.failSafe, base, path),
    ...resolveTimeouts(input.timeouts, base, path),
    negativeCaching,
    tags,
    refreshAhead: resolveRefreshAhead(input.refreshAhead, base, path),
  });
}

function resolveRefreshAhead(input: unknown, base: ResolvedEntryOptions | undefined, path: string): number {
  if (input === undefined) return base?.refreshAhead ?? 0;
  if (typeof input === 'boolean') return input ? 1 : 0;
  if (!isObject(input)) throw new InvalidOptionError(`${path}refreshAhead`, 'a boolean or { beta }', input);
  checkKnownKeys(input, ['beta'], `${path}refreshAhead.`);
  const beta = input.beta ?? 1;
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta <= 0) {
    throw new InvalidOptionError(`${path}refreshAhead.beta`, 'a finite number > 0', input.beta);
  }
  return beta;
}

function resolveFailSafe(
  input: unknown,
  base: ResolvedEntryOptions | undefined,
  path: string,
): Pick<ResolvedEntryOptions, 'failSafe' | 'failSafeThrottle'> {
  const failSafeThrottle = base?.failSafeThrottle ?? DEFAULT_THROTTLE;
  if (input === undefined) return { failSafe: base?.failSafe ?? false, failSafeThrottle };
  if (typeof input === 'boolean') return { failSafe: input, failSafeThrottle };
  if (!isObject(input)) throw new InvalidOptionError(`${path}failSafe`, 'a boolean or { throttle }', input);
  checkKnownKeys(input, ['throttle'], `${path}failSafe.`);
  return {
    failSafe: true,
    failSafeThrottle:
      input.throttle === undefined
        ? failSafeThrottle
        : parseDuration(input.throttle, `${path}failSafe.throttle`),
  };
}

function resolveTimeouts(
  input: unknown,
  base: ResolvedEntryOptions | undefined,
  path: string,
): Pick<ResolvedEntryOptions, 'softTimeout' | 'hardTimeout'> {
  let softTimeout = base?.softTimeout ?? 0;
  let hardTimeout = base?.hardTimeout ?? 0;
  if (input !== undefined) {
    if (!isObject(input))
      throw new InvalidOptionError(`${path}timeouts`, 'an object { soft?, hard? }', input);
    checkKnownKeys(input, ['soft', 'hard'], `${path}timeouts.`);
    if (input.soft !== undefined) softTimeout = parseDuration(input.soft, `${path}timeouts.soft`, true);
    if (input.hard !== undefined) hardTimeout = parseDuration(input.hard, `${path}timeouts.hard`);
  }
  if (hardTimeout > 0 && softTimeout >= hardTimeout) {
    throw new InvalidOptionError(
      `${path}timeouts.soft`,
      `less than timeouts.hard (${hardTimeout} ms)`,
      softTimeout,
    );
  }
  return { softTimeout, hardTimeout };
}
