import type { InvalidationBus } from '../bus/bus.js';
import { checkKey, checkKeys } from '../cache/keys.js';
import { InvalidOptionError } from '../errors.js';
import { expireKeys } from '../flow/expire.js';
import { Stack } from '../flow/stack.js';
import { checkTags, deleteTags } from '../flow/tags.js';
import { clearPrefix, deleteKeys } from '../flow/writes.js';
import { resolveOptions } from '../options/cache-options.js';
import type { Clock } from '../options/clock.js';
import type { Duration } from '../options/duration.js';
import { checkKnownKeys, isObject } from '../options/validators.js';
import type { StoreTier } from '../stores/store.js';

/** Options of {@link Invalidator}. */
export interface InvalidatorOptions {
  /** The namespace of the caches to invalidate (their `namespace` option). Required. */
  namespace: string;
  /** The caches' shared stores (L2, L3, ...): deletions are written there as versioned tombstones. */
  stores?: readonly StoreTier[];
  /** The caches' bus: every instance on it drops its L1 copies. Without one, L1 copies live until their TTL. */
  bus?: InvalidationBus;
  /**
   * The longest `ttl` of the caches it invalidates: a tombstone lives at least
   * `ttl + grace` (and at least a minute), so no write older than the delete lands after
   * it. Default 1 minute.
   */
  ttl?: Duration;
  /** The longest `grace` of the caches it invalidates (see `ttl`). Default 0. */
  grace?: Duration;
  /** Store guard settings, as the cache's. */
  guard?: { timeout?: number; failureThreshold?: number; cooldown?: Duration };
  /** Reject when a store fails, instead of skipping it (and reporting it to `onError`). Default false. */
  strict?: boolean;
  /** Called with every store or bus failure that was skipped. */
  onError?: (error: Error) => void;
  /** Time source. Default `Date.now()`. */
  clock?: Clock;
}

const INVALIDATOR_OPTIONS = [
  'namespace',
  'stores',
  'bus',
  'ttl',
  'grace',
  'guard',
  'strict',
  'onError',
  'clock',
];

/**
 * Invalidation for processes that write but do not read through the cache (command
 * handlers, workers, migrations): no L1, no loader, only the writes of a cache. Each
 * call is versioned like the cache's own: it takes a version newer than any load in
 * flight anywhere that started before it, so such a load's result loses in every tier,
 * whatever order they land in; the stores keep a tombstone (or a generation), and the
 * bus tells every instance to drop its L1 copies.
 *
 * @throws InvalidOptionError naming the first unknown or invalid option.
 * @example
 * ```ts
 * const invalidator = new Invalidator({ namespace: 'app', stores: [redisStore(...), postgresStore(...)], bus: redisBus(...) });
 * await invalidator.delete(`order:${id}`);
 * await invalidator.deleteByTag(`customer:${customerId}`);
 * ```
 */
export class Invalidator {
  readonly #stack: Stack;

  constructor(options: InvalidatorOptions) {
    if (!isObject(options))
      throw new InvalidOptionError('options', 'an object { namespace, stores?, bus? }', options);
    checkKnownKeys(options, INVALIDATOR_OPTIONS);
    this.#stack = new Stack(resolveOptions({ ...options, l1: false }));
  }

  /**
   * Deletes `keys` from every store (versioned tombstones) and every instance's L1.
   * @throws InvalidKeyError for the first bad key; StoreUnavailableError in strict mode.
   */
  async delete(keys: string | readonly string[]): Promise<void> {
    this.#stack.lifecycle.assertOpen('delete');
    const list = typeof keys === 'string' ? [keys] : keys;
    checkKeys(list, 'keys');
    if (list.length > 0) await deleteKeys(this.#stack, [...list]);
  }

  /**
   * Invalidates every entry written with one of `tags` before this call, in every tier
   * and instance (see `TieredCache.deleteByTag`).
   */
  async deleteByTag(tags: string | readonly string[]): Promise<void> {
    this.#stack.lifecycle.assertOpen('deleteByTag');
    await deleteTags(this.#stack, [...new Set(checkTags(tags, 'tags'))]);
  }

  /** Deletes every key of the namespace from every tier and instance (an epoch; see `TieredCache.clear`). */
  async clear(): Promise<void> {
    this.#stack.lifecycle.assertOpen('clear');
    await clearPrefix(this.#stack, '');
  }

  /** Marks `key` stale everywhere without removing it (see `TieredCache.expire`). */
  async expire(key: string): Promise<void> {
    this.#stack.lifecycle.assertOpen('expire');
    checkKey(key);
    await expireKeys(this.#stack, [key]);
  }

  /** Resolves once the bus (if any) is subscribed; publishing does not need to wait for it. */
  ready(): Promise<void> {
    return this.#stack.ready;
  }

  /** Waits for background work, then closes the stores and the bus (each closes only clients it created). */
  close(): Promise<void> {
    return this.#stack.close(5_000);
  }
}
