import type { InvalidationBus } from '../bus/bus.js';
import { msgpackCodec, type ValueCodec } from '../entry/codec.js';
import { InvalidOptionError } from '../errors.js';
import type { StoreTier } from '../stores/store.js';
import type { Clock } from './clock.js';
import { coarseClock } from './clock.js';
import { type Duration, parseDuration } from './duration.js';

/** L1 (in-process lru-cache) settings. */
export interface L1Options {
  /** Most entries held. Required: an unbounded L1 is a memory leak. */
  max: number;
  /** Most total size, as measured by `sizeCalculation`. */
  maxSize?: number;
  /** The size of one value (for `maxSize`); must return a positive integer. */
  sizeCalculation?: (value: unknown, key: string) => number;
}

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

/** The guard every store call goes through: a timeout and a circuit breaker. */
export interface GuardOptions {
  /** Timeout of one store call. Default: the store's own `defaultTimeoutMs` (Redis 50 ms, Postgres 200 ms), else 100 ms. */
  timeout?: Duration;
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long an open breaker waits before letting one probe through. Default 5 s. */
  cooldown?: Duration;
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
}

/** Options of {@link TieredCache}. */
export interface TieredCacheOptions extends EntryOptions {
  /** Key prefix in every tier (`namespace:key`) and the bus channel. Required. */
  namespace: string;
  /** The in-process L1, or `false` for none. Default `{ max: 10_000 }`. */
  l1?: L1Options | false;
  /** Shared tiers below L1, in lookup order (L2, L3, ...). Default none. */
  stores?: readonly StoreTier[];
  /** Carries invalidations between instances; without one, other instances' L1 copies live until their TTL. */
  bus?: InvalidationBus;
  /** Most loader calls running at once in this process (a bulkhead for the origin). Default unlimited. */
  maxConcurrentLoads?: number;
  /** Value codec for the shared tiers. Default msgpackr. */
  codec?: ValueCodec;
  /** Store guard settings. */
  guard?: GuardOptions;
  /** Throw `StoreUnavailableError` when a store fails, instead of skipping it. Default false. */
  strict?: boolean;
  /** Called with every store or bus failure that was skipped (for logging). */
  onError?: (error: Error) => void;
  /** Time source. Default: `Date.now()` at 1 ms resolution. */
  clock?: Clock;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
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
}

export interface ResolvedOptions {
  readonly namespace: string;
  readonly l1: L1Options | false;
  readonly stores: readonly StoreTier[];
  readonly bus: InvalidationBus | undefined;
  readonly maxConcurrentLoads: number;
  readonly codec: ValueCodec;
  readonly guard: {
    readonly timeout: number | undefined;
    readonly failureThreshold: number;
    readonly cooldown: number;
  };
  readonly strict: boolean;
  readonly onError: ((error: Error) => void) | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly entry: ResolvedEntryOptions;
}

const DEFAULT_TTL = 60_000;
const DEFAULT_THROTTLE = 10_000;
const NAMESPACE = /^[A-Za-z0-9_.\-/]{1,128}$/;

const ENTRY_KEYS = ['ttl', 'jitter', 'grace', 'failSafe', 'timeouts', 'negativeCaching', 'tags'];
/** Every top-level option name of {@link TieredCacheOptions} (the README documents each). */
export const OPTION_NAMES: readonly string[] = [
  ...ENTRY_KEYS,
  'namespace',
  'l1',
  'stores',
  'bus',
  'maxConcurrentLoads',
  'codec',
  'guard',
  'strict',
  'onError',
  'clock',
  'random',
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw InvalidOptionError.unknown(`${path}${key}`, allowed, value[key]);
    }
  }
}

function checkBoolean(value: unknown, option: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, 'a boolean', value);
  return value;
}

function checkFunction<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidOptionError(option, 'a function', value);
  return value as F;
}

function checkPositiveInt(value: unknown, option: string, allowInfinity = false): number | undefined {
  if (value === undefined) return undefined;
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(option, `a positive integer${allowInfinity ? ' or Infinity' : ''}`, value);
  }
  return value;
}

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
  checkKeys(input, ENTRY_KEYS, path);
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
  let failSafe = base?.failSafe ?? false;
  let failSafeThrottle = base?.failSafeThrottle ?? DEFAULT_THROTTLE;
  if (input.failSafe !== undefined) {
    if (typeof input.failSafe === 'boolean') failSafe = input.failSafe;
    else if (isObject(input.failSafe)) {
      checkKeys(input.failSafe, ['throttle'], `${path}failSafe.`);
      failSafe = true;
      if (input.failSafe.throttle !== undefined) {
        failSafeThrottle = parseDuration(input.failSafe.throttle, `${path}failSafe.throttle`);
      }
    } else throw new InvalidOptionError(`${path}failSafe`, 'a boolean or { throttle }', input.failSafe);
  }
  let softTimeout = base?.softTimeout ?? 0;
  let hardTimeout = base?.hardTimeout ?? 0;
  if (input.timeouts !== undefined) {
    if (!isObject(input.timeouts))
      throw new InvalidOptionError(`${path}timeouts`, 'an object { soft?, hard? }', input.timeouts);
    checkKeys(input.timeouts, ['soft', 'hard'], `${path}timeouts.`);
    if (input.timeouts.soft !== undefined)
      softTimeout = parseDuration(input.timeouts.soft, `${path}timeouts.soft`, true);
    if (input.timeouts.hard !== undefined)
      hardTimeout = parseDuration(input.timeouts.hard, `${path}timeouts.hard`);
  }
  if (hardTimeout > 0 && softTimeout >= hardTimeout) {
    throw new InvalidOptionError(
      `${path}timeouts.soft`,
      `less than timeouts.hard (${hardTimeout} ms)`,
      softTimeout,
    );
  }
  const negativeCaching =
    checkBoolean(input.negativeCaching, `${path}negativeCaching`) ?? base?.negativeCaching ?? true;
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
    failSafe,
    failSafeThrottle,
    softTimeout,
    hardTimeout,
    negativeCaching,
    tags,
  });
}

function pickEntryOptions(input: TieredCacheOptions): EntryOptions {
  const picked: Record<string, unknown> = {};
  for (const key of ENTRY_KEYS) {
    const value = (input as unknown as Record<string, unknown>)[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

/** Validates the constructor's options once, into a frozen resolved object. */
export function resolveOptions(input: TieredCacheOptions): ResolvedOptions {
  if (!isObject(input)) throw new InvalidOptionError('options', 'an object', input);
  checkKeys(input, OPTION_NAMES, '');
  if (typeof input.namespace !== 'string' || !NAMESPACE.test(input.namespace)) {
    throw new InvalidOptionError(
      'namespace',
      'a string of 1-128 characters from [A-Za-z0-9_.-/]',
      input.namespace,
    );
  }
  let l1: L1Options | false = { max: 10_000 };
  if (input.l1 === false) l1 = false;
  else if (input.l1 !== undefined) {
    if (!isObject(input.l1))
      throw new InvalidOptionError('l1', 'an object { max, maxSize?, sizeCalculation? } or false', input.l1);
    checkKeys(input.l1, ['max', 'maxSize', 'sizeCalculation'], 'l1.');
    const max = checkPositiveInt(input.l1.max, 'l1.max');
    if (max === undefined) throw new InvalidOptionError('l1.max', 'a positive integer', undefined);
    const maxSize = checkPositiveInt(input.l1.maxSize, 'l1.maxSize');
    const sizeCalculation = checkFunction<L1Options['sizeCalculation']>(
      input.l1.sizeCalculation,
      'l1.sizeCalculation',
    );
    if ((maxSize === undefined) !== (sizeCalculation === undefined)) {
      throw new InvalidOptionError(
        'l1.sizeCalculation',
        'to be given together with l1.maxSize',
        input.l1.sizeCalculation,
      );
    }
    l1 = Object.freeze({ max, maxSize, sizeCalculation });
  }
  const stores = input.stores ?? [];
  if (!Array.isArray(stores)) throw new InvalidOptionError('stores', 'an array of stores', stores);
  const names = new Set<string>();
  stores.forEach((store: unknown, i) => {
    const s = store as Partial<StoreTier> | null;
    const methods = ['get', 'getMany', 'setMany', 'deleteMany', 'clear', 'close'] as const;
    if (!isObject(s) || typeof s.name !== 'string' || methods.some((m) => typeof s[m] !== 'function')) {
      throw new InvalidOptionError(`stores[${i}]`, `a StoreTier (name, ${methods.join(', ')})`, store);
    }
    if (names.has(s.name) || s.name === 'l1') {
      throw new InvalidOptionError(
        `stores[${i}].name`,
        'a name unique among the stores and not "l1"',
        s.name,
      );
    }
    names.add(s.name);
  });
  const bus = input.bus;
  if (bus !== undefined) {
    const b = bus as Partial<InvalidationBus>;
    if (!isObject(b) || typeof b.start !== 'function' || typeof b.publish !== 'function') {
      throw new InvalidOptionError('bus', 'an InvalidationBus (start, publish, health, close)', bus);
    }
  }
  const codec = input.codec ?? msgpackCodec();
  if (!isObject(codec) || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new InvalidOptionError('codec', 'an object { encode(value), decode(bytes) }', codec);
  }
  let guard = { timeout: undefined as number | undefined, failureThreshold: 5, cooldown: 5_000 };
  if (input.guard !== undefined) {
    if (!isObject(input.guard))
      throw new InvalidOptionError(
        'guard',
        'an object { timeout?, failureThreshold?, cooldown? }',
        input.guard,
      );
    checkKeys(input.guard, ['timeout', 'failureThreshold', 'cooldown'], 'guard.');
    guard = {
      timeout:
        input.guard.timeout === undefined ? undefined : parseDuration(input.guard.timeout, 'guard.timeout'),
      failureThreshold: checkPositiveInt(input.guard.failureThreshold, 'guard.failureThreshold') ?? 5,
      cooldown:
        input.guard.cooldown === undefined ? 5_000 : parseDuration(input.guard.cooldown, 'guard.cooldown'),
    };
  }
  const clock = input.clock ?? coarseClock;
  if (!isObject(clock) || typeof clock.now !== 'function') {
    throw new InvalidOptionError('clock', 'an object { now(): number }', clock);
  }
  return Object.freeze({
    namespace: input.namespace,
    l1,
    stores: Object.freeze([...stores]),
    bus,
    maxConcurrentLoads:
      checkPositiveInt(input.maxConcurrentLoads, 'maxConcurrentLoads', true) ?? Number.POSITIVE_INFINITY,
    codec,
    guard: Object.freeze(guard),
    strict: checkBoolean(input.strict, 'strict') ?? false,
    onError: checkFunction<(error: Error) => void>(input.onError, 'onError'),
    clock,
    random: checkFunction<() => number>(input.random, 'random') ?? Math.random,
    entry: resolveEntryOptions(pickEntryOptions(input), undefined),
  });
}
