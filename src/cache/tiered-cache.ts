import { type Entry, isFresh } from '../entry/entry.js';
import { InvalidOptionError, MAX_KEY_LENGTH } from '../errors.js';
import { readThroughMany } from '../flow/batch.js';
import { expireKeys } from '../flow/expire.js';
import { readThrough } from '../flow/read-through.js';
import { readStores } from '../flow/reads.js';
import { refreshAheadArmed, refreshEarly } from '../flow/refresh-ahead.js';
import { Stack } from '../flow/stack.js';
import { checkTags, deleteTags } from '../flow/tags.js';
import { walkStores } from '../flow/walk.js';
import { clearPrefix, deleteKeys, writeEntries } from '../flow/writes.js';
import { traceOperation } from '../observability/channels.js';
import type { CacheEventHandler, CacheEventName } from '../observability/events.js';
import { CACHE_INFO, type CacheInfo } from '../observability/info.js';
import type { CacheStats } from '../observability/stats.js';
import { resolveOptions, type TieredCacheOptions } from '../options/cache-options.js';
import { type Duration, parseDuration } from '../options/duration.js';
import { type EntryOptions, resolveEntryOptions } from '../options/entry-options.js';
import { cacheHealth } from './health.js';
import { checkKey, checkKeys } from './keys.js';
import type { BatchLoader, CacheHealth, Loader, PerCall, SetManyItem, WrapOptions } from './types.js';
import { ViewSeed } from './view-seed.js';
import { wrapFunction } from './wrap.js';

/**
 * A tiered cache: an in-process L1 (LRU) in front of shared stores (Redis L2,
 * Postgres L3, ...), with read-through loads, single-flight, TTL jitter, grace,
 * fail-safe and per-tier stats. Every tier holds the same entry envelope, so a value
 * found in any tier carries the freshness it was written with.
 *
 * This class is the facade: it validates arguments, answers fresh L1 hits, and hands
 * everything else to the flows in `flow/`.
 *
 * @example
 * ```ts
 * const cache = new TieredCache<User>({ namespace: 'users', ttl: '5m', grace: '1h' });
 * const user = await cache.getOrSet(`user:${id}`, ({ signal }) => db.findUser(id, { signal }));
 * ```
 */
export class TieredCache<V = unknown> {
  readonly #stack: Stack;
  /** The view's key prefix within the namespace (`''` for the root). */
  readonly #prefix: string;

  /**
   * @throws InvalidOptionError naming the first option that is unknown, ill-typed or out of range.
   */
  constructor(options: TieredCacheOptions) {
    if (options instanceof ViewSeed) {
      this.#stack = options.stack;
      this.#prefix = options.prefix;
    } else {
      this.#stack = new Stack(resolveOptions(options));
      this.#prefix = '';
    }
  }

  // ---- reads ------------------------------------------------------------------------

  /**
   * The value of `key` if a tier holds it fresh, else `undefined` (stale values are not
   * returned: use `getOrSet` for grace). A hit below L1 backfills the tiers above.
   * @throws InvalidKeyError, CacheClosedError; StoreUnavailableError in strict mode.
   */
  async get<T extends V = V>(key: string): Promise<T | undefined> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen('get');
    checkKey(key);
    const local = this.#local(key);
    const now = stack.now();
    const held = stack.l1?.peek(local, now);
    if (this.#countL1(held, now, local)) return held?.value as T;
    // The walk awaited here: each async helper between caller and store is a promise hop.
    const [found] = await this.#trace('get', [local], () => walkStores(stack, [local], undefined, true));
    if (found?.fresh === undefined) stack.recorder.plainMiss();
    return found?.fresh?.value as T | undefined;
  }

  /**
   * The values of `keys`, in order (`undefined` where no tier holds a fresh value). One
   * round trip per store for all keys L1 missed.
   */
  async getMany<T extends V = V>(keys: readonly string[]): Promise<Array<T | undefined>> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen('getMany');
    checkKeys(keys, 'keys');
    const results = new Array<T | undefined>(keys.length);
    const missing: number[] = [];
    const now = stack.now();
    for (let i = 0; i < keys.length; i++) {
      const entry = stack.l1?.peek(this.#local(keys[i] as string), now);
      if (this.#countL1(entry, now, this.#local(keys[i] as string))) results[i] = entry?.value as T;
      else missing.push(i);
    }
    if (missing.length > 0) {
      const locals = missing.map((i) => this.#local(keys[i] as string));
      const found = await this.#trace('getMany', locals, () => readStores(stack, locals, false));
      missing.forEach((index, j) => {
        const entry = found[j];
        if (entry === undefined) stack.recorder.plainMiss();
        results[index] = entry?.value as T | undefined;
      });
    }
    return results;
  }

  /** Whether a tier holds a fresh value for `key` (also true for a cached `undefined`). */
  async has(key: string): Promise<boolean> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen('has');
    checkKey(key);
    const local = this.#local(key);
    const now = stack.now();
    const entry = stack.l1?.peek(local, now);
    if (entry !== undefined && isFresh(entry, now)) return true;
    return (await readStores(stack, [local], true))[0] !== undefined;
  }

  /**
   * The fresh L1 value of `key`, synchronously, or `undefined`. No I/O: for hot paths
   * that can do without the shared tiers.
   */
  getLocal<T extends V = V>(key: string): T | undefined {
    const stack = this.#stack;
    const l1 = stack.l1;
    if (l1 === undefined) return undefined;
    const entry = l1.get(this.#prefix === '' ? key : this.#prefix + key);
    if (entry !== undefined && stack.clock.now() < entry.staleAt) {
      stack.recorder.l1Hit(key, this.#prefix);
      return entry.value as T;
    }
    stack.recorder.miss(stack.recorder.l1, this.#local(key));
    return undefined;
  }

  /**
   * Read-through: the cached value of `key`, or the loader's result, cached in every
   * tier. Concurrent calls for one key share one loader call (single-flight). A stale
   * value within grace is returned at once and refreshed in the background (or after
   * `timeouts.soft`); with `failSafe`, a stale value is served when the loader fails.
   *
   * An L1 hit does no I/O and awaits nothing.
   *
   * @throws the loader's error (when no stale value can be served), LoaderTimeoutError,
   *   InvalidKeyError, InvalidOptionError, CacheClosedError.
   * @example
   * ```ts
   * const product = await cache.getOrSet(`product:${id}`, () => repo.find(id), { ttl: '10m' });
   * ```
   */
  getOrSet<T extends V = V>(key: string, loader: PerCall<V, Loader<T>>, options?: EntryOptions): Promise<T> {
    const stack = this.#stack;
    const l1 = stack.l1;
    // The hot path: a fresh L1 hit returns without entering async code.
    if (
      l1 !== undefined &&
      typeof key === 'string' &&
      key.length !== 0 &&
      key.length <= MAX_KEY_LENGTH &&
      !stack.lifecycle.closed
    ) {
      const entry = l1.get(this.#prefix === '' ? key : this.#prefix + key);
      if (entry !== undefined && stack.clock.now() < entry.staleAt) {
        stack.recorder.l1Hit(key, this.#prefix);
        // Refresh-ahead (XFetch), only once some value was loaded with it.
        if (refreshAheadArmed.on) refreshEarly(stack, key, this.#local(key), entry, loader, options);
        return Promise.resolve(entry.value as T);
      }
    }
    return this.#getOrSetSlow(key, loader as Loader<T>, options);
  }

  async #getOrSetSlow<T>(key: string, loader: Loader<T>, options: EntryOptions | undefined): Promise<T> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen('getOrSet');
    checkKey(key);
    if (typeof loader !== 'function') throw new InvalidOptionError('loader', 'a function', loader);
    const resolved = resolveEntryOptions(options, stack.options.entry);
    const local = this.#local(key);
    const now = stack.now();
    const entry = stack.l1?.peek(local, now);
    if (this.#countL1(entry, now, local)) return entry?.value as T;
    return (await this.#trace('getOrSet', [local], () =>
      readThrough(stack, key, local, entry, loader as Loader<unknown>, resolved),
    )) as T;
  }

  /**
   * Read-through for many keys with one loader call for all the keys no tier holds (the
   * DataLoader pattern). Keys already loading join their load; values come back in order.
   *
   * @example
   * ```ts
   * const users = await cache.getOrSetMany(ids.map(String), (missing) => db.usersByIds(missing));
   * ```
   */
  async getOrSetMany<T extends V = V>(
    keys: readonly string[],
    loader: PerCall<V, BatchLoader<T>>,
    options?: EntryOptions,
  ): Promise<T[]> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen('getOrSetMany');
    checkKeys(keys, 'keys');
    if (typeof loader !== 'function') throw new InvalidOptionError('loader', 'a function', loader);
    const resolved = resolveEntryOptions(options, stack.options.entry);
    const locals = keys.map((key) => this.#local(key));
    return (await this.#trace('getOrSetMany', locals, () =>
      readThroughMany(stack, keys, locals, loader as BatchLoader<T>, resolved),
    )) as T[];
  }

  /**
   * Wraps a function so its results are cached under `options.key(...args)`.
   * @example
   * ```ts
   * const findUser = cache.wrap((id: number) => db.findUser(id), { key: (id) => `user:${id}` });
   * ```
   */
  wrap<A extends unknown[], T extends V = V>(
    fn: (...args: A) => PerCall<V, Promise<T> | T>,
    options: WrapOptions<A>,
  ): (...args: A) => Promise<T> {
    return wrapFunction<V, A, T>(this, this.#stack.options.entry, fn, options);
  }

  // ---- writes -----------------------------------------------------------------------

  /**
   * Writes `value` into every tier, then tells other instances to drop their L1 copy.
   * A load of the key in flight will not overwrite it.
   */
  async set<T extends V = V>(key: string, value: T, options?: EntryOptions): Promise<void> {
    await this.#setMany([{ key, value, ...(options !== undefined ? { options } : {}) }], 'set');
  }

  /** Writes many entries: one round trip per store, one bus message. */
  setMany<T extends V = V>(items: ReadonlyArray<SetManyItem<T>>): Promise<void> {
    return this.#setMany(items, 'setMany');
  }

  async #setMany(items: ReadonlyArray<SetManyItem<V>>, method: string): Promise<void> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen(method);
    if (!Array.isArray(items))
      throw new InvalidOptionError('items', 'an array of { key, value, options? }', items);
    const entries = items.map((item, i) => {
      if (item === null || typeof item !== 'object')
        throw new InvalidOptionError(`items[${i}]`, 'an object { key, value }', item);
      checkKey(item.key);
      return {
        local: this.#local(item.key),
        entry: stack.makeEntry(item.value, resolveEntryOptions(item.options, stack.options.entry)),
      };
    });
    const locals = entries.map((e) => e.local);
    if (entries.length > 0) await this.#trace(method, locals, () => writeEntries(stack, entries));
  }

  /** Deletes `key` from every tier and every instance's L1. */
  async delete(key: string): Promise<void> {
    await this.#deleteMany([key], 'delete');
  }

  /** Deletes many keys: one round trip per store, one bus message. */
  deleteMany(keys: readonly string[]): Promise<void> {
    return this.#deleteMany(keys, 'deleteMany');
  }

  async #deleteMany(keys: readonly string[], method: string): Promise<void> {
    const stack = this.#stack;
    stack.lifecycle.assertOpen(method);
    checkKeys(keys, 'keys');
    const locals = keys.map((key) => this.#local(key));
    if (keys.length > 0) await this.#trace(method, locals, () => deleteKeys(stack, locals));
  }

  /** Deletes every key of this namespace (or view) from every tier and every instance's L1. */
  async clear(): Promise<void> {
    this.#stack.lifecycle.assertOpen('clear');
    await this.#trace('clear', undefined, () => clearPrefix(this.#stack, this.#prefix));
  }

  /**
   * Invalidates every entry written with one of `tags` (the `tags` option, or the
   * loader's `setTags`) before this call: a miss in every tier and every instance
   * afterwards. Tags span the namespace (views included). No store is scanned: each tag
   * gets a generation that reads check (see docs/tags.md for the cost).
   * @throws InvalidOptionError unless a tag or an array of non-empty strings.
   */
  async deleteByTag(tags: string | readonly string[]): Promise<void> {
    this.#stack.lifecycle.assertOpen('deleteByTag');
    await deleteTags(this.#stack, [...new Set(checkTags(tags, 'tags'))]);
  }

  /**
   * Marks the value of `key` stale in every tier and every instance without removing
   * it: the next read serves it within its grace (or fail-safe) while one refresh runs.
   */
  async expire(key: string): Promise<void> {
    this.#stack.lifecycle.assertOpen('expire');
    checkKey(key);
    await expireKeys(this.#stack, [this.#local(key)]);
  }

  // ---- views, stats, lifecycle ------------------------------------------------------

  /**
   * A view whose keys live under `name:` within this cache's namespace. It shares the
   * tiers, the bus, single-flight and stats; its `clear()` clears only its own keys.
   */
  namespace(name: string): TieredCache<V> {
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.\-/]{1,128}$/.test(name)) {
      throw new InvalidOptionError('name', 'a string of 1-128 characters from [A-Za-z0-9_.-/]', name);
    }
    const seed = new ViewSeed(this.#stack, `${this.#prefix}${name}:`);
    // The view's reads below L1 must know when it was last cleared, by any instance.
    this.#stack.epochs.track(seed.prefix);
    return new TieredCache<V>(seed as unknown as TieredCacheOptions);
  }

  /**
   * Calls `handler` on each `event` ({@link CacheEvents}; a throwing handler is caught and
   * reported); returns a function that removes it. Views share their cache's events.
   * @throws InvalidOptionError for an unknown event or a handler that is not a function.
   * @example `const off = cache.on('loadError', ({ key, error }) => log.warn({ key, err: error }))`
   */
  on<E extends CacheEventName>(event: E, handler: CacheEventHandler<E>): () => void {
    return this.#stack.recorder.events.on(event, handler);
  }

  /** For `tiercache/prometheus` and `tiercache/opentelemetry`. @internal */
  get [CACHE_INFO](): CacheInfo {
    return this.#stack.recorder.info(this.#stack.options, this.#prefix);
  }

  /** A snapshot of the counters of every tier, the loader and the bus. */
  stats(): CacheStats {
    return this.#stack.recorder.snapshot();
  }

  /** Sets every counter back to zero. */
  resetStats(): void {
    this.#stack.recorder.reset();
  }

  /**
   * Health of each tier (breaker state, last error, latency) and of the bus, for a
   * service's own health endpoint. `status` is `down` only if every store is down.
   */
  health(): CacheHealth {
    return cacheHealth(this.#stack);
  }

  /**
   * Resolves once the bus (if any) is subscribed; operations do not need to wait for it.
   * @throws the bus's error when it cannot subscribe within its start timeout (the cache
   *   still works, without hearing other instances' invalidations).
   */
  ready(): Promise<void> {
    return this.#stack.ready;
  }

  /**
   * Waits for background work (refreshes, backfills), then closes the stores and the
   * bus (each closes only clients it created). Further calls reject with
   * CacheClosedError. Closing a view closes the whole cache.
   *
   * @param options.timeout how long loads in flight may still run before they are
   *   aborted (their signal fires, their callers reject with CacheClosedError). Default
   *   5 s; `0` aborts them at once.
   */
  async close(options?: { timeout?: Duration }): Promise<void> {
    const timeout =
      options?.timeout === undefined ? 5_000 : parseDuration(options.timeout, 'close(options.timeout)', true);
    return this.#stack.close(timeout);
  }

  // ---- internals --------------------------------------------------------------------

  /** `run` as a `tiercache:operation` call while the channel has subscribers (see `observability/channels.ts`). */
  #trace<T>(operation: string, locals: readonly string[] | undefined, run: () => Promise<T>): Promise<T> {
    return traceOperation(this.#stack.options.namespace, operation, locals, run);
  }

  #local(key: string): string {
    return this.#prefix === '' ? key : this.#prefix + key;
  }

  /** Whether the L1 `entry` is fresh at `now`: counted as an L1 hit if so, else as an L1 miss (when there is an L1). */
  #countL1(entry: Entry | undefined, now: number, key: string): boolean {
    const { recorder, l1 } = this.#stack;
    if (entry !== undefined && isFresh(entry, now)) {
      recorder.hit(recorder.l1, key);
      return true;
    }
    if (l1 !== undefined) recorder.miss(recorder.l1, key);
    return false;
  }
}
