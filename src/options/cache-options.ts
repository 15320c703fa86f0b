import type { InvalidationBus } from '../bus/bus.js';
import { msgpackCodec, type ValueCodec } from '../entry/codec.js';
import { InvalidOptionError } from '../errors.js';
import { MAX_SKETCH_ENTRIES } from '../l1/frequency-sketch.js';
import type { CacheLogger } from '../observability/logger.js';
import type { StoreTier } from '../stores/store.js';
import { type Clock, coarseClock } from './clock.js';
import { type Duration, parseDuration } from './duration.js';
import {
  ENTRY_KEY_NAMES,
  type EntryOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from './entry-options.js';
import { type LeaseOptions, type ResolvedLease, resolveLease } from './lease-options.js';
import {
  booleanOption,
  checkKnownKeys,
  clockOption,
  functionOption,
  integerOption,
  isObject,
  positiveIntOption,
  withMethods,
} from './validators.js';

/** L1 (in-process LRU) settings. */
export interface L1Options {
  /** Most entries held. Required: an unbounded L1 is a memory leak. */
  max: number;
  /** Most total size, as measured by `sizeCalculation`. */
  maxSize?: number;
  /**
   * The size of one value (for `maxSize`); must return a positive integer (else the write
   * that would hold the value in L1 rejects with InvalidOptionError naming this option).
   */
  sizeCalculation?: (value: unknown, key: string) => number;
  /**
   * Admission policy. `'w-tinylfu'`: a frequency sketch decides whether a new key may
   * push out an older one, behind a small LRU window sized by a hill climber (Caffeine's
   * design); it wins on traffic where frequency or loops matter and stays within about a
   * point of LRU on recency-skewed traffic (1.3 at worst on the bench's traces). Costs
   * `8 × nextPowerOfTwo(max)` bytes for the sketch and about 125 bytes per entry for the
   * policy (nodes, ghost lists). With it, `max` is at most 8,388,608 (2^23: the largest
   * the sketch is sized for). Default `false`: plain LRU.
   */
  admission?: 'w-tinylfu' | false;
  /**
   * Blind mode: while the bus link is down no invalidation can reach this instance, so
   * an L1 entry is served as fresh for at most this long after it was last known
   * current (put in L1, or the last moment the link was known to deliver), then it is
   * stale: reloaded once per key (single-flight), or served by grace and fail-safe as
   * any stale entry is. When the link is back, L1 is dropped (it may have missed
   * invalidations). `0`: nothing in L1 is fresh while the link is down. Default `'1s'`:
   * the staleness a link failure adds stays within about what its detection already
   * costs (heartbeat, under 1 s), and the source sees at most one load per hot key per
   * second per instance instead of every read.
   */
  blindMaxAge?: Duration;
}

/** {@link L1Options} as resolved: `blindMaxAge` in ms. */
export interface ResolvedL1Options extends Omit<L1Options, 'blindMaxAge'> {
  readonly blindMaxAge: number;
}

/** Default {@link L1Options.blindMaxAge}, in ms. */
export const DEFAULT_BLIND_MAX_AGE_MS = 1_000;

/** The guard every store call goes through: a timeout and a circuit breaker. */
export interface GuardOptions {
  /** Timeout of one store call. Default: the store's own `defaultTimeoutMs` (Redis 50 ms, Postgres 200 ms), else 100 ms. */
  timeout?: Duration;
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long an open breaker waits before letting one probe through. Default 5 s. */
  cooldown?: Duration;
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
  /**
   * Most loader calls running at once in this process (a bulkhead for the origin).
   * Default unlimited. A load's hard timeout counts the time it waits for a slot.
   */
  maxConcurrentLoads?: number;
  /**
   * Most loads waiting for a slot of the bulkhead; one more is turned away at once with
   * `BulkheadFullError` (served stale with `failSafe` where a stale value exists).
   * Default unlimited; requires `maxConcurrentLoads`.
   */
  maxQueuedLoads?: number;
  /** Value codec for the shared tiers. Default msgpackr. */
  codec?: ValueCodec;
  /** Store guard settings. */
  guard?: GuardOptions;
  /** Throw `StoreUnavailableError` when a store fails, instead of skipping it. Default false. */
  strict?: boolean;
  /** Called with every store or bus failure that was skipped (for logging). */
  onError?: (error: Error) => void;
  /**
   * A pino-shaped logger (`debug/info/warn/error(object, message)`: pino, Fastify's
   * `app.log`, console). Store and bus failures, breaker changes, resyncs and blind mode
   * are logged once per change, not per call. Without a logger and without `onError`,
   * the first failure of each store per change goes to `process.emitWarning`.
   */
  logger?: CacheLogger;
  /** Time source. Default: `Date.now()` at 1 ms resolution. */
  clock?: Clock;
  /** Random source in [0, 1) for jitter and refresh-ahead. Default `Math.random`. */
  random?: () => number;
  /**
   * One load per key across every instance: a miss that reaches the loader first takes a
   * short lease on the key in a store that hosts leases (the Redis store), and other
   * instances wait for its value instead of loading too. Costs one more store round trip
   * before each load (and one after it, off the caller's path). Default: on when a store
   * hosts leases; `false` turns it off. See {@link LeaseOptions}.
   */
  lease?: boolean | LeaseOptions;
}

export interface ResolvedOptions {
  readonly namespace: string;
  readonly l1: ResolvedL1Options | false;
  readonly stores: readonly StoreTier[];
  readonly bus: InvalidationBus | undefined;
  readonly maxConcurrentLoads: number;
  readonly maxQueuedLoads: number;
  readonly codec: ValueCodec;
  readonly guard: {
    readonly timeout: number | undefined;
    readonly failureThreshold: number;
    readonly cooldown: number;
  };
  readonly strict: boolean;
  readonly onError: ((error: Error) => void) | undefined;
  readonly logger: CacheLogger | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly entry: ResolvedEntryOptions;
  readonly lease: ResolvedLease;
}

const NAMESPACE = /^[A-Za-z0-9_.\-/]{1,128}$/;

/** Every top-level option name of {@link TieredCacheOptions} (the README documents each). */
export const OPTION_NAMES: readonly string[] = [
  ...ENTRY_KEY_NAMES,
  'namespace',
  'l1',
  'stores',
  'bus',
  'maxConcurrentLoads',
  'maxQueuedLoads',
  'codec',
  'guard',
  'strict',
  'onError',
  'logger',
  'clock',
  'random',
  'lease',
];

function pickEntryOptions(input: TieredCacheOptions): EntryOptions {
  const picked: Record<string, unknown> = {};
  for (const key of ENTRY_KEY_NAMES) {
    const value = (input as unknown as Record<string, unknown>)[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

/** Validates the constructor's options once, into a frozen resolved object. */
export function resolveOptions(input: TieredCacheOptions): ResolvedOptions {
  if (!isObject(input)) throw new InvalidOptionError('options', 'an object', input);
  checkKnownKeys(input, OPTION_NAMES);
  if (typeof input.namespace !== 'string' || !NAMESPACE.test(input.namespace)) {
    throw new InvalidOptionError(
      'namespace',
      'a string of 1-128 characters from [A-Za-z0-9_.-/]',
      input.namespace,
    );
  }
  const stores = resolveStores(input.stores);
  const bus =
    input.bus === undefined
      ? undefined
      : withMethods<InvalidationBus>(
          input.bus,
          'bus',
          ['start', 'publish'],
          'an InvalidationBus (start, publish, health, close)',
        );
  return Object.freeze({
    namespace: input.namespace,
    l1: resolveL1(input.l1),
    stores,
    bus,
    maxConcurrentLoads:
      positiveIntOption(input.maxConcurrentLoads, 'maxConcurrentLoads', true) ?? Number.POSITIVE_INFINITY,
    maxQueuedLoads: resolveMaxQueued(input),
    codec: withMethods<ValueCodec>(
      input.codec ?? msgpackCodec(),
      'codec',
      ['encode', 'decode'],
      'an object { encode(value), decode(bytes) }',
    ),
    guard: resolveGuard(input.guard),
    strict: booleanOption(input.strict, 'strict', false),
    onError: functionOption<(error: Error) => void>(input.onError, 'onError'),
    logger:
      input.logger === undefined
        ? undefined
        : withMethods<CacheLogger>(
            input.logger,
            'logger',
            ['debug', 'info', 'warn', 'error'],
            'a logger with debug, info, warn and error methods (pino, console, ...)',
          ),
    clock: clockOption(input.clock, 'clock', coarseClock),
    random: functionOption<() => number>(input.random, 'random') ?? Math.random,
    entry: resolveEntryOptions(pickEntryOptions(input), undefined),
    lease: resolveLeaseFor(input.lease, stores),
  });
}

function resolveMaxQueued(input: TieredCacheOptions): number {
  const max = integerOption(input.maxQueuedLoads, 'maxQueuedLoads', 0, undefined);
  if (max === undefined) return Number.POSITIVE_INFINITY;
  if (input.maxConcurrentLoads === undefined) {
    throw new InvalidOptionError('maxQueuedLoads', 'to be given together with maxConcurrentLoads', max);
  }
  return max;
}

function resolveL1(input: unknown): ResolvedL1Options | false {
  if (input === false) return false;
  if (input === undefined) return { max: 10_000, blindMaxAge: DEFAULT_BLIND_MAX_AGE_MS };
  if (!isObject(input))
    throw new InvalidOptionError(
      'l1',
      'an object { max, maxSize?, sizeCalculation?, admission?, blindMaxAge? } or false',
      input,
    );
  checkKnownKeys(input, ['max', 'maxSize', 'sizeCalculation', 'admission', 'blindMaxAge'], 'l1.');
  const max = positiveIntOption(input.max, 'l1.max');
  if (max === undefined) throw new InvalidOptionError('l1.max', 'a positive integer', undefined);
  const maxSize = positiveIntOption(input.maxSize, 'l1.maxSize');
  const sizeCalculation = functionOption<L1Options['sizeCalculation']>(
    input.sizeCalculation,
    'l1.sizeCalculation',
  );
  if ((maxSize === undefined) !== (sizeCalculation === undefined)) {
    throw new InvalidOptionError(
      'l1.sizeCalculation',
      'to be given together with l1.maxSize',
      input.sizeCalculation,
    );
  }
  const admission = input.admission === undefined ? false : input.admission;
  if (admission !== false && admission !== 'w-tinylfu') {
    throw new InvalidOptionError('l1.admission', "'w-tinylfu' or false", input.admission);
  }
  // Past this the sketch cannot be sized for `max`, and the policy's tables (allocated for
  // `max` at construction) would take seconds and gigabytes, or exhaust the heap outright.
  if (admission === 'w-tinylfu' && max > MAX_SKETCH_ENTRIES) {
    throw new InvalidOptionError(
      'l1.max',
      `at most ${MAX_SKETCH_ENTRIES} with l1.admission 'w-tinylfu' (admission false takes any max)`,
      max,
    );
  }
  const blindMaxAge =
    input.blindMaxAge === undefined
      ? DEFAULT_BLIND_MAX_AGE_MS
      : parseDuration(input.blindMaxAge, 'l1.blindMaxAge', true);
  return Object.freeze({ max, maxSize, sizeCalculation, admission, blindMaxAge });
}

const STORE_METHODS = ['get', 'getMany', 'setMany', 'deleteMany', 'clear', 'close'];

function resolveStores(input: unknown): readonly StoreTier[] {
  const stores = input ?? [];
  if (!Array.isArray(stores)) throw new InvalidOptionError('stores', 'an array of stores', stores);
  const names = new Set<string>();
  stores.forEach((store: unknown, i) => {
    const s = withMethods<StoreTier>(
      store,
      `stores[${i}]`,
      STORE_METHODS,
      `a StoreTier (name, ${STORE_METHODS.join(', ')})`,
    );
    if (typeof s.name !== 'string') {
      throw new InvalidOptionError(`stores[${i}]`, `a StoreTier (name, ${STORE_METHODS.join(', ')})`, store);
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
  return Object.freeze([...stores]);
}

function resolveGuard(input: unknown): ResolvedOptions['guard'] {
  if (input === undefined) return Object.freeze({ timeout: undefined, failureThreshold: 5, cooldown: 5_000 });
  if (!isObject(input)) {
    throw new InvalidOptionError('guard', 'an object { timeout?, failureThreshold?, cooldown? }', input);
  }
  checkKnownKeys(input, ['timeout', 'failureThreshold', 'cooldown'], 'guard.');
  return Object.freeze({
    timeout: input.timeout === undefined ? undefined : parseDuration(input.timeout, 'guard.timeout'),
    failureThreshold: positiveIntOption(input.failureThreshold, 'guard.failureThreshold') ?? 5,
    cooldown: input.cooldown === undefined ? 5_000 : parseDuration(input.cooldown, 'guard.cooldown'),
  });
}

function resolveLeaseFor(input: unknown, stores: readonly StoreTier[]): ResolvedLease {
  const lease = resolveLease(input);
  if (lease !== false && lease.required && !stores.some((store) => store.leases !== undefined)) {
    throw new InvalidOptionError(
      'lease',
      'a store that hosts leases (such as redisStore) in `stores`',
      input,
    );
  }
  return lease;
}
