import type { BusHealth } from '../bus/bus.js';
import type { Entry } from '../entry/entry.js';
import { InvalidKeyError, InvalidOptionError, LoaderTimeoutError, MAX_KEY_LENGTH } from '../errors.js';
import { type FenceToken, Flight, noop } from '../flow/single-flight.js';
import { Core, newer } from '../flow/stack.js';
import type { StoreGuard, TierHealth } from '../guard/guard.js';
import type { CacheStats } from '../observability/stats.js';
import {
  type EntryOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
  resolveOptions,
  type TieredCacheOptions,
} from '../options/cache-options.js';
import { type Duration, parseDuration } from '../options/duration.js';
import type { StoreWrite } from '../stores/store.js';

/** What a loader receives. */
export interface LoaderContext<V> {
  /** The key being loaded (without the namespace). */
  readonly key: string;
  /** Fired when the hard timeout passes; pass it to fetch / your database driver. */
  readonly signal: AbortSignal;
  /** The stale value, if one is within grace (useful for conditional requests). */
  readonly staleValue: V | undefined;
  /** Whether `staleValue` holds a value (it may itself be `undefined`). */
  readonly hasStale: boolean;
  /** Sets this entry's TTL from the loaded data (adaptive caching). */
  setTtl(ttl: Duration): void;
  /** Returns the result to the callers without caching it. */
  noCache(): void;
}

/** Loads the value of one key on a miss. */
export type Loader<V> = (context: LoaderContext<V>) => Promise<V> | V;

/** What a batch loader receives. */
export interface BatchLoaderContext {
  /** Fired when the hard timeout passes. */
  readonly signal: AbortSignal;
}

/**
 * Loads the values of many keys in one call (the DataLoader pattern): return a Map by
 * key, or an array aligned with `keys`. A key left out loads as `undefined`.
 */
export type BatchLoader<V> = (
  keys: string[],
  context: BatchLoaderContext,
) => Promise<ReadonlyMap<string, V> | readonly V[]> | ReadonlyMap<string, V> | readonly V[];

/** One entry for {@link TieredCache.setMany}. */
export interface SetManyItem<V> {
  readonly key: string;
  readonly value: V;
  readonly options?: EntryOptions;
}

/** Options of {@link TieredCache.wrap}. */
export interface WrapOptions<A extends unknown[]> extends EntryOptions {
  /** The cache key for a call's arguments. */
  key: (...args: A) => string;
}

/** Health of every tier and the bus, from {@link TieredCache.health}. */
export interface CacheHealth {
  readonly status: 'up' | 'degraded' | 'down';
  readonly l1: TierHealth;
  readonly stores: Readonly<Record<string, TierHealth>>;
  readonly bus?: BusHealth;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new InvalidKeyError(key, 'keys must be strings');
  if (key.length === 0) throw new InvalidKeyError(key, 'keys must not be empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, `keys must be at most ${MAX_KEY_LENGTH} characters, got ${key.length}`);
  }
  // Stores see keys as UTF-8: a NUL is refused by Postgres, and a lone surrogate would
  // encode to U+FFFD, so two different keys would share one row or Redis key.
  if (key.includes('\u0000')) throw new InvalidKeyError(key, 'keys must not contain NUL characters');
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new InvalidKeyError(key, 'keys must be well-formed UTF-16 (no lone surrogates)');
  }
}

function checkKeys(keys: unknown, argument: string): asserts keys is readonly string[] {
  if (!Array.isArray(keys)) throw new InvalidOptionError(argument, 'an array of keys', keys);
  for (const key of keys) checkKey(key);
}

/**
 * A tiered cache: an in-process L1 (lru-cache) in front of shared stores (Redis L2,
 * Postgres L3, ...), with read-through loads, single-flight, TTL jitter, grace,
 * fail-safe and per-tier stats. Every tier holds the same entry envelope, so a value
 * found in any tier carries the freshness it was written with.
 *
 * @example
 * ```ts
 * const cache = new TieredCache<User>({ namespace: 'users', ttl: '5m', grace: '1h' });
 * const user = await cache.getOrSet(`user:${id}`, ({ signal }) => db.findUser(id, { signal }));
 * ```
 */
export class TieredCache<V = unknown> {
  readonly #core: Core;
  /** The view's key prefix within the namespace (`''` for the root). */
  readonly #prefix: string;

  /**
   * @throws InvalidOptionError naming the first option that is unknown, ill-typed or out of range.
   */
  constructor(options: TieredCacheOptions) {
    if (options instanceof ViewSeed) {
      this.#core = options.core;
      this.#prefix = options.prefix;
    } else {
      this.#core = new Core(resolveOptions(options));
      this.#prefix = '';
    }
  }

  // ---- reads ------------------------------------------------------------------------

  /**
   * The value of `key` if a tier holds it fresh, else `undefined` (stale values are not
   * returned: use `getOrSet` for grace). A hit below L1 backfills the tiers above.
   * @throws InvalidKeyError, CacheClosedError; StoreUnavailableError in strict mode.
   */
  async get(key: string): Promise<V | undefined> {
    const core = this.#core;
    core.assertOpen('get');
    checkKey(key);
    const local = this.#local(key);
    const entry = core.l1Peek(local, core.now());
    if (entry !== undefined && core.now() < entry.staleAt) {
      core.stats.l1.hits++;
      return entry.value as V;
    }
    if (core.l1 !== undefined) core.stats.l1.misses++;
    const found = await this.#walkOne(local);
    if (found === undefined) core.stats.plainMisses++;
    return found?.value as V | undefined;
  }

  /**
   * The values of `keys`, in order (`undefined` where no tier holds a fresh value). One
   * round trip per store for all keys L1 missed.
   */
  async getMany(keys: readonly string[]): Promise<Array<V | undefined>> {
    const core = this.#core;
    core.assertOpen('getMany');
    checkKeys(keys, 'keys');
    const results = new Array<V | undefined>(keys.length);
    const missing: number[] = [];
    const now = core.now();
    for (let i = 0; i < keys.length; i++) {
      const entry = core.l1Peek(this.#local(keys[i] as string), now);
      if (entry !== undefined && now < entry.staleAt) {
        core.stats.l1.hits++;
        results[i] = entry.value as V;
      } else {
        if (core.l1 !== undefined) core.stats.l1.misses++;
        missing.push(i);
      }
    }
    if (missing.length > 0) {
      const locals = missing.map((i) => this.#local(keys[i] as string));
      const found = await this.#walkMany(locals);
      missing.forEach((index, j) => {
        const entry = found[j];
        if (entry === undefined) core.stats.plainMisses++;
        results[index] = entry?.value as V | undefined;
      });
    }
    return results;
  }

  /** Whether a tier holds a fresh value for `key` (also true for a cached `undefined`). */
  async has(key: string): Promise<boolean> {
    const core = this.#core;
    core.assertOpen('has');
    checkKey(key);
    const local = this.#local(key);
    const entry = core.l1Peek(local, core.now());
    if (entry !== undefined && core.now() < entry.staleAt) return true;
    return (await this.#walkOne(local)) !== undefined;
  }

  /**
   * The fresh L1 value of `key`, synchronously, or `undefined`. No I/O: for hot paths
   * that can do without the shared tiers.
   */
  getLocal(key: string): V | undefined {
    const core = this.#core;
    const lru = core.l1;
    if (lru === undefined) return undefined;
    const entry = lru.get(this.#prefix === '' ? key : this.#prefix + key);
    if (entry !== undefined && core.clock.now() < entry.staleAt) {
      core.stats.l1.hits++;
      return entry.value as V;
    }
    core.stats.l1.misses++;
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
  getOrSet(key: string, loader: Loader<V>, options?: EntryOptions): Promise<V> {
    const core = this.#core;
    const lru = core.l1;
    // The hot path: a fresh L1 hit returns without entering async code.
    if (
      lru !== undefined &&
      typeof key === 'string' &&
      key.length !== 0 &&
      key.length <= MAX_KEY_LENGTH &&
      !core.closed
    ) {
      const entry = lru.get(this.#prefix === '' ? key : this.#prefix + key);
      if (entry !== undefined && core.clock.now() < entry.staleAt) {
        core.stats.l1.hits++;
        return Promise.resolve(entry.value as V);
      }
    }
    return this.#getOrSetSlow(key, loader, options);
  }

  async #getOrSetSlow(key: string, loader: Loader<V>, options: EntryOptions | undefined): Promise<V> {
    const core = this.#core;
    core.assertOpen('getOrSet');
    checkKey(key);
    if (typeof loader !== 'function') throw new InvalidOptionError('loader', 'a function', loader);
    const resolved = resolveEntryOptions(options, core.options.entry);
    const local = this.#local(key);
    const now = core.now();
    const entry = core.l1Peek(local, now);
    if (entry !== undefined && now < entry.staleAt) {
      core.stats.l1.hits++;
      return entry.value as V;
    }
    if (core.l1 !== undefined) core.stats.l1.misses++;
    // Fail-safe throttle: keep serving the stale value without calling the loader.
    if (entry !== undefined && core.throttled(local, now)) {
      core.stats.l1.staleHits++;
      return entry.value as V;
    }
    let flight = core.flights.get(local);
    if (flight !== undefined) core.stats.loader.coalesced++;
    else {
      flight = new Flight(entry);
      core.flights.set(local, flight);
      // Counted so close() waits for it: a refresh behind a stale answer has no caller awaiting it.
      core.beginLoad();
      this.#runFlight(flight, key, local, loader, resolved);
    }
    if (entry === undefined) {
      // The common case, inlined: no stale value, so wait for the walk; a store hit answers.
      await flight.walked;
      if (flight.found !== undefined) return flight.found.value as V;
    }
    return this.#await(flight, entry, resolved);
  }

  /** One waiter of a flight: applies its own soft timeout and stale handling. */
  async #await(flight: Flight, l1Stale: Entry | undefined, options: ResolvedEntryOptions): Promise<V> {
    const core = this.#core;
    // Stale-while-revalidate: with a stale L1 value and no soft timeout, answer now.
    if (l1Stale !== undefined && options.softTimeout === 0) {
      core.stats.l1.staleHits++;
      return l1Stale.value as V;
    }
    await flight.walked;
    if (flight.found !== undefined) return flight.found.value as V;
    let stale = newer(l1Stale, flight.stale);
    // The flight's stale value was read when it started: a caller joining a long load may
    // come after that value's expiresAt, and must not be served it.
    if (stale !== undefined && core.now() >= stale.expiresAt) stale = undefined;
    if (stale === undefined) return (await flight.loaded).value as V;
    if (options.softTimeout === 0) {
      core.stats.l1.staleHits++;
      return stale.value as V;
    }
    let timer: NodeJS.Timeout | undefined;
    const soft = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, options.softTimeout, undefined);
    });
    try {
      const loaded = await Promise.race([flight.loaded, soft]);
      if (loaded !== undefined) return loaded.value as V;
      // The stale value may have expired while this caller waited.
      if (core.now() >= stale.expiresAt) return (await flight.loaded).value as V;
      core.stats.l1.staleHits++;
      return stale.value as V;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Walks the stores, then loads; settles the flight's promises. Never rejects. */
  async #runFlight(
    flight: Flight,
    key: string,
    local: string,
    loader: Loader<V>,
    options: ResolvedEntryOptions,
  ): Promise<void> {
    const core = this.#core;
    const token = core.fences.acquire(local);
    try {
      let walk: Awaited<ReturnType<Core['walk']>>;
      try {
        walk = await core.walk(core.prefix + local);
      } catch (error) {
        // Strict mode: a store failure fails the load's callers.
        flight.resolveWalked();
        flight.rejectLoaded(error);
        return;
      }
      if (walk.fresh !== undefined) {
        flight.found = walk.fresh;
        core.backfill(local, walk.fresh, walk.at, undefined, token);
        flight.resolveWalked();
        flight.resolveLoaded(walk.fresh);
        return;
      }
      flight.stale = newer(flight.stale, walk.stale);
      flight.resolveWalked();
      if (flight.stale !== undefined && core.throttled(local, core.now())) {
        // Fail-safe throttle, with the stale value found in a store (L1 off or evicted).
        flight.resolveLoaded(flight.stale);
        return;
      }
      try {
        const stale = flight.stale;
        const { value, ttl, cache } = await this.#load(
          key,
          (signal) => {
            let ttlOverride: number | undefined;
            let skip = false;
            const context: LoaderContext<V> = {
              key,
              signal,
              staleValue: stale?.value as V | undefined,
              hasStale: stale !== undefined,
              setTtl: (ttl) => {
                ttlOverride = parseDuration(ttl, 'setTtl(ttl)');
              },
              noCache: () => {
                skip = true;
              },
            };
            return Promise.resolve()
              .then(() => loader(context))
              .then((value) => ({ value, ttl: ttlOverride, cache: !skip }));
          },
          options,
        );
        const entry = core.makeEntry(value, options, ttl);
        if (cache && (options.negativeCaching || (value !== null && value !== undefined))) {
          try {
            await core.store(local, entry, token);
          } catch (error) {
            // Strict mode: the value is loaded but could not be stored.
            flight.rejectLoaded(error);
            return;
          }
        }
        flight.resolveLoaded(entry);
      } catch (error) {
        const stale = flight.stale;
        if (options.failSafe && stale !== undefined && core.now() < stale.expiresAt) {
          core.stats.loader.failSafe++;
          core.report(error);
          // Serve the stale value, and keep serving it without calling the loader for
          // the throttle window - never past the entry's own expiry. The entry stays
          // stale: get() and has() must not take it for fresh.
          if (core.fences.holds(token)) {
            core.throttle(local, Math.min(core.now() + options.failSafeThrottle, stale.expiresAt));
            core.l1?.set(local, stale);
          }
          flight.resolveLoaded(stale);
        } else flight.rejectLoaded(error);
      }
    } catch (error) {
      // Never rejects: nobody awaits this promise. Anything unforeseen reaches the callers.
      flight.resolveWalked();
      flight.rejectLoaded(error);
      core.report(error);
    } finally {
      core.fences.release(token);
      core.flights.end(local, flight);
      core.endLoad();
    }
  }

  /** Runs a loader under the bulkhead and the hard timeout, counting it. */
  async #load<T>(
    key: string,
    run: (signal: AbortSignal) => Promise<T>,
    options: ResolvedEntryOptions,
  ): Promise<T> {
    const core = this.#core;
    const closing = core.closing.signal;
    const permit = core.loads?.acquire();
    if (permit !== undefined) await permit;
    const controller = new AbortController();
    let stop!: (error: unknown) => void;
    const stopped = new Promise<never>((_, reject) => {
      stop = reject;
    });
    stopped.catch(noop);
    const onClose = () => {
      controller.abort(closing.reason);
      stop(closing.reason);
    };
    let timer: NodeJS.Timeout | undefined;
    if (options.hardTimeout > 0) {
      timer = setTimeout(() => {
        const error = new LoaderTimeoutError(key, options.hardTimeout);
        core.stats.loader.timeouts++;
        controller.abort(error);
        stop(error);
      }, options.hardTimeout);
    }
    const started = performance.now();
    try {
      if (closing.aborted) throw closing.reason;
      closing.addEventListener('abort', onClose, { once: true });
      const result = await Promise.race([run(controller.signal), stopped]);
      core.stats.loader.ok++;
      return result;
    } catch (error) {
      core.stats.loader.failed++;
      throw error;
    } finally {
      clearTimeout(timer);
      closing.removeEventListener('abort', onClose);
      core.stats.loader.timeMs += performance.now() - started;
      core.loads?.release();
    }
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
  async getOrSetMany(keys: readonly string[], loader: BatchLoader<V>, options?: EntryOptions): Promise<V[]> {
    const core = this.#core;
    core.assertOpen('getOrSetMany');
    checkKeys(keys, 'keys');
    if (typeof loader !== 'function') throw new InvalidOptionError('loader', 'a function', loader);
    const resolved = resolveEntryOptions(options, core.options.entry);
    const now = core.now();
    const results = new Array<V>(keys.length);
    const waits: Promise<void>[] = [];
    const started = new Map<string, { key: string; flight: Flight; stale: Entry | undefined }>();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const local = this.#local(key);
      const entry = core.l1Peek(local, now);
      if (entry !== undefined && now < entry.staleAt) {
        core.stats.l1.hits++;
        results[i] = entry.value as V;
        continue;
      }
      if (entry !== undefined && core.throttled(local, now)) {
        core.stats.l1.staleHits++;
        results[i] = entry.value as V;
        continue;
      }
      let flight = started.get(local)?.flight ?? core.flights.get(local);
      if (flight === undefined) {
        if (core.l1 !== undefined) core.stats.l1.misses++;
        flight = new Flight(entry);
        core.flights.set(local, flight);
        started.set(local, { key, flight, stale: entry });
      } else if (!started.has(local)) core.stats.loader.coalesced++;
      waits.push(
        this.#await(flight, entry, resolved).then((value) => {
          results[i] = value;
        }),
      );
    }
    if (started.size > 0) {
      core.beginLoad();
      this.#runBatch(started, loader, resolved);
    }
    await Promise.all(waits);
    return results;
  }

  async #runBatch(
    batch: Map<string, { key: string; flight: Flight; stale: Entry | undefined }>,
    loader: BatchLoader<V>,
    options: ResolvedEntryOptions,
  ): Promise<void> {
    const core = this.#core;
    const locals = [...batch.keys()];
    const flights = locals.map((local) => batch.get(local)?.flight as Flight);
    const tokens = locals.map((local) => core.fences.acquire(local));
    try {
      let found: Array<{ fresh?: Entry; stale?: Entry } | undefined>;
      try {
        found = await this.#walkManyRaw(locals, tokens);
      } catch (error) {
        for (const flight of flights) {
          flight.resolveWalked();
          flight.rejectLoaded(error);
        }
        return;
      }
      const toLoad: number[] = [];
      for (let i = 0; i < flights.length; i++) {
        const flight = flights[i] as Flight;
        const hit = found[i];
        if (hit?.fresh !== undefined) {
          flight.found = hit.fresh;
          flight.resolveWalked();
          flight.resolveLoaded(hit.fresh);
          continue;
        }
        flight.stale = newer(flight.stale, hit?.stale);
        flight.resolveWalked();
        if (flight.stale !== undefined && core.throttled(locals[i] as string, core.now())) {
          flight.resolveLoaded(flight.stale);
          continue;
        }
        toLoad.push(i);
      }
      if (toLoad.length === 0) return;
      const loadKeys = toLoad.map((i) => batch.get(locals[i] as string)?.key as string);
      let values: Map<string, unknown>;
      try {
        const raw = await this.#load(
          loadKeys.join(','),
          (signal) => Promise.resolve(loader(loadKeys, { signal })),
          options,
        );
        values = toMap(loadKeys, raw);
      } catch (error) {
        for (const i of toLoad) {
          const flight = flights[i] as Flight;
          const stale = flight.stale;
          if (options.failSafe && stale !== undefined && core.now() < stale.expiresAt) {
            core.stats.loader.failSafe++;
            const local = locals[i] as string;
            if (core.fences.holds(tokens[i] as FenceToken)) {
              core.throttle(local, Math.min(core.now() + options.failSafeThrottle, stale.expiresAt));
              core.l1?.set(local, stale);
            }
            flight.resolveLoaded(stale);
          } else flight.rejectLoaded(error);
        }
        core.report(error);
        return;
      }
      const writes: StoreWrite[] = [];
      const published: string[] = [];
      const stored: Array<{ local: string; entry: Entry; token: FenceToken }> = [];
      toLoad.forEach((i, j) => {
        const local = locals[i] as string;
        const value = values.get(loadKeys[j] as string);
        const entry = core.makeEntry(value, options);
        const token = tokens[i] as FenceToken;
        const cacheable = options.negativeCaching || (value !== null && value !== undefined);
        if (cacheable && core.fences.holds(token)) {
          core.unthrottle(local);
          core.l1?.set(local, entry);
          core.stats.l1.sets++;
          writes.push({
            key: core.prefix + local,
            value: core.codec.encode(entry),
            expiresAt: entry.expiresAt,
          });
          stored.push({ local, entry, token });
          published.push(local);
        }
        (flights[i] as Flight).resolveLoaded(entry);
      });
      try {
        await core.writeStores(writes);
        const undo = stored.filter((s) => !core.fences.holds(s.token));
        if (undo.length > 0) {
          for (const s of undo)
            if (core.memory?.lru.peek(s.local) === s.entry) core.memory.lru.delete(s.local);
          await core.deleteStores(undo.map((s) => core.prefix + s.local));
        }
        await core.publish(
          'set',
          published.filter((local) => !undo.some((s) => s.local === local)),
        );
      } catch (error) {
        core.report(error);
      }
    } catch (error) {
      // Never rejects: nobody awaits this promise. Anything unforeseen reaches the callers.
      for (const flight of flights) {
        flight.resolveWalked();
        flight.rejectLoaded(error);
      }
      core.report(error);
    } finally {
      for (const token of tokens) core.fences.release(token);
      locals.forEach((local, i) => {
        core.flights.end(local, flights[i] as Flight);
      });
      core.endLoad();
    }
  }

  /**
   * Wraps a function so its results are cached under `options.key(...args)`.
   * @example
   * ```ts
   * const findUser = cache.wrap((id: number) => db.findUser(id), { key: (id) => `user:${id}` });
   * ```
   */
  wrap<A extends unknown[]>(
    fn: (...args: A) => Promise<V> | V,
    options: WrapOptions<A>,
  ): (...args: A) => Promise<V> {
    if (typeof fn !== 'function') throw new InvalidOptionError('fn', 'a function', fn);
    if (options === null || typeof options !== 'object' || typeof options.key !== 'function') {
      throw new InvalidOptionError(
        'key',
        'a function of the arguments returning the cache key',
        options?.key,
      );
    }
    const { key, ...rest } = options;
    const entryOptions = Object.keys(rest).length > 0 ? rest : undefined;
    // Validate once, now, so a bad option fails at wrap time rather than on a miss.
    if (entryOptions !== undefined) resolveEntryOptions(entryOptions, this.#core.options.entry);
    return (...args: A) => {
      let cacheKey: string;
      try {
        cacheKey = key(...args);
      } catch (error) {
        // The wrapped function returns a promise: a failing key function rejects it, like any other failure.
        return Promise.reject(error);
      }
      return this.getOrSet(cacheKey, () => fn(...args), entryOptions);
    };
  }

  // ---- writes -----------------------------------------------------------------------

  /**
   * Writes `value` into every tier, then tells other instances to drop their L1 copy.
   * A load of the key in flight will not overwrite it.
   */
  async set(key: string, value: V, options?: EntryOptions): Promise<void> {
    await this.#setMany([{ key, value, ...(options !== undefined ? { options } : {}) }], 'set');
  }

  /** Writes many entries: one round trip per store, one bus message. */
  setMany(items: ReadonlyArray<SetManyItem<V>>): Promise<void> {
    return this.#setMany(items, 'setMany');
  }

  async #setMany(items: ReadonlyArray<SetManyItem<V>>, method: string): Promise<void> {
    const core = this.#core;
    core.assertOpen(method);
    if (!Array.isArray(items))
      throw new InvalidOptionError('items', 'an array of { key, value, options? }', items);
    const entries = items.map((item, i) => {
      if (item === null || typeof item !== 'object')
        throw new InvalidOptionError(`items[${i}]`, 'an object { key, value }', item);
      checkKey(item.key);
      return {
        local: this.#local(item.key),
        entry: core.makeEntry(item.value, resolveEntryOptions(item.options, core.options.entry)),
      };
    });
    if (entries.length === 0) return;
    const locals = entries.map((e) => e.local);
    core.invalidateLocal(locals);
    const lru = core.l1;
    if (lru !== undefined) {
      for (const { local, entry } of entries) lru.set(local, entry);
      core.stats.l1.sets += entries.length;
    }
    await core.writeStores(
      entries.map(({ local, entry }) => ({
        key: core.prefix + local,
        value: core.codec.encode(entry),
        expiresAt: entry.expiresAt,
      })),
    );
    // Reads that started while the write was on the wire saw the old value.
    for (const local of locals) core.fences.bump(local);
    await core.publish('set', locals);
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
    const core = this.#core;
    core.assertOpen(method);
    checkKeys(keys, 'keys');
    if (keys.length === 0) return;
    const locals = keys.map((key) => this.#local(key));
    core.invalidateLocal(locals);
    if (core.memory !== undefined) core.stats.l1.deletes += locals.length;
    await core.deleteStores(locals.map((local) => core.prefix + local));
    core.invalidateLocal(locals);
    await core.publish('delete', locals);
  }

  /** Deletes every key of this namespace (or view) from every tier and every instance's L1. */
  async clear(): Promise<void> {
    const core = this.#core;
    core.assertOpen('clear');
    core.invalidatePrefix(this.#prefix);
    await core.clearStores(core.prefix + this.#prefix);
    core.invalidatePrefix(this.#prefix);
    await core.publish('clear', [this.#prefix]);
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
    const seed = new ViewSeed(this.#core, `${this.#prefix}${name}:`);
    return new TieredCache<V>(seed as unknown as TieredCacheOptions);
  }

  /** A snapshot of the counters of every tier, the loader and the bus. */
  stats(): CacheStats {
    return this.#core.stats.snapshot();
  }

  /** Sets every counter back to zero. */
  resetStats(): void {
    this.#core.stats.reset();
  }

  /**
   * Health of each tier (breaker state, last error, latency) and of the bus, for a
   * service's own health endpoint. `status` is `down` only if every store is down.
   */
  health(): CacheHealth {
    const core = this.#core;
    const stores: Record<string, TierHealth> = {};
    for (const guard of core.guards) stores[guard.store.name] = guard.health();
    const bus = core.options.bus?.health();
    const storeStates = Object.values(stores).map((s) => s.status);
    const degraded = storeStates.some((s) => s !== 'up') || (bus !== undefined && bus.status !== 'up');
    const down =
      storeStates.length > 0 && storeStates.every((s) => s === 'down') && core.memory === undefined;
    return {
      status: down ? 'down' : degraded ? 'degraded' : 'up',
      l1: {
        status: core.l1 === undefined && core.memory !== undefined ? 'degraded' : 'up',
        breaker: 'closed',
      },
      stores,
      ...(bus !== undefined ? { bus } : {}),
    };
  }

  /** Resolves once the bus (if any) is subscribed; operations do not need to wait for it. */
  ready(): Promise<void> {
    return this.#core.ready;
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
    return this.#core.close(timeout);
  }

  // ---- internals --------------------------------------------------------------------

  #local(key: string): string {
    return this.#prefix === '' ? key : this.#prefix + key;
  }

  async #walkOne(local: string): Promise<Entry | undefined> {
    const core = this.#core;
    if (core.guards.length === 0) return undefined;
    const token = core.fences.acquire(local);
    try {
      const walk = await core.walk(core.prefix + local);
      if (walk.fresh === undefined) return undefined;
      core.backfill(local, walk.fresh, walk.at, undefined, token);
      return walk.fresh;
    } finally {
      core.fences.release(token);
    }
  }

  async #walkMany(locals: readonly string[]): Promise<Array<Entry | undefined>> {
    const core = this.#core;
    if (core.guards.length === 0) return locals.map(() => undefined);
    const tokens = locals.map((local) => core.fences.acquire(local));
    try {
      return (await this.#walkManyRaw(locals, tokens)).map((hit) => hit?.fresh);
    } finally {
      for (const token of tokens) core.fences.release(token);
    }
  }

  /** Walks the stores for many keys, one getMany per store for the keys still missing, backfilling hits. */
  async #walkManyRaw(
    locals: readonly string[],
    tokens: readonly FenceToken[],
  ): Promise<Array<{ fresh?: Entry; stale?: Entry } | undefined>> {
    const core = this.#core;
    const out: Array<{ fresh?: Entry; stale?: Entry } | undefined> = locals.map(() => undefined);
    let pending = locals.map((_, i) => i);
    for (let at = 0; at < core.guards.length && pending.length > 0; at++) {
      const guard = core.guards[at] as StoreGuard;
      const counters = core.stats.store(guard.store.name);
      let found: Array<Uint8Array | undefined>;
      const keys = pending.map((i) => core.prefix + locals[i]);
      try {
        found = await guard.read((store) => store.getMany(keys), keys.length);
      } catch (error) {
        core.storeFailed(error);
        continue;
      }
      const next: number[] = [];
      const now = core.now();
      pending.forEach((i, j) => {
        const bytes = found[j];
        const entry = core.decode(bytes, counters);
        if (entry !== undefined && now < entry.staleAt) {
          counters.hits++;
          out[i] = { fresh: entry };
          core.backfill(locals[i] as string, entry, at, bytes, tokens[i] as FenceToken);
          return;
        }
        counters.misses++;
        if (entry !== undefined && now < entry.expiresAt)
          out[i] = { stale: newer(out[i]?.stale, entry) as Entry };
        next.push(i);
      });
      pending = next;
    }
    return out;
  }
}

function toMap(
  keys: readonly string[],
  raw: ReadonlyMap<string, unknown> | readonly unknown[],
): Map<string, unknown> {
  if (raw instanceof Map) return raw as Map<string, unknown>;
  if (Array.isArray(raw)) {
    if (raw.length !== keys.length) {
      throw new InvalidOptionError(
        'batch loader result',
        `an array of ${keys.length} values aligned with the keys, or a Map`,
        raw,
      );
    }
    return new Map(keys.map((key, i) => [key, raw[i]]));
  }
  throw new InvalidOptionError('batch loader result', 'a Map by key or an array aligned with the keys', raw);
}

/** How `namespace()` builds a view through the constructor: private fields need it. */
class ViewSeed {
  constructor(
    readonly core: Core,
    readonly prefix: string,
  ) {}
}
