import { EventEmitter } from 'node:events';
import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv';
import type { TieredCache } from '../cache/tiered-cache.js';
import { InvalidOptionError } from '../errors.js';
import type { EntryOptions } from '../options/entry-options.js';
import { booleanOption, checkKnownKeys, isObject } from '../options/validators.js';

/** Options of {@link KeyvTiercache}. */
export interface KeyvTiercacheOptions {
  /**
   * Whether `disconnect()` (called by `keyv.disconnect()`, cache-manager's `disconnect()`
   * and NestJS's `CacheModule` on shutdown) closes the cache. Default `true`. Set it to
   * `false` when the cache outlives the Keyv instance (you close it yourself).
   */
  closeOnDisconnect?: boolean;
}

/** What Keyv hands a store when it does not serialize (`serialize: undefined`). */
interface KeyvData {
  value?: unknown;
  expires?: number | null;
}

const OPTION_NAMES = ['closeOnDisconnect'] as const;

// Keyv's default serializer, as a Keyv made without options has it (so the adapter needs
// no dependency of its own on @keyv/serialize).
const keyvDefaults = new Keyv();
const defaultSerialize = keyvDefaults.serialize as (data: unknown) => string;
const defaultDeserialize = keyvDefaults.deserialize as (text: string) => unknown;

/**
 * A Keyv storage adapter over a {@link TieredCache} (or a view of one from
 * `cache.namespace(name)`): Keyv, cache-manager 7, cacheable and NestJS's `CacheModule`
 * read and write the cache's tiers through it.
 *
 * Values are stored as the cache's own entries, through its codec: Keyv's JSON envelope
 * is unwrapped on the way in (a Keyv made by {@link createKeyv} does not serialize at all;
 * a Keyv with its default serializer has its string parsed back), so an entry written
 * through Keyv is an ordinary entry that `getOrSet` serves with the cache's grace,
 * fail-safe and single-flight. Keyv's TTL (ms) becomes the entry's TTL, exactly (no
 * jitter); without one the cache's `ttl` applies.
 *
 * Keys are stored as Keyv passes them (`namespace:key` by default), so `clear()` under
 * a Keyv namespace clears the cache view of that name. A Keyv with a custom serializer
 * (strings Keyv's default serializer would not write) still works, its strings stored as
 * they come (wrapped twice, then): prefer `serialize: undefined`, the cache's codec
 * already round-trips Date, Map, Set, BigInt and Buffer.
 *
 * @example
 * ```ts
 * import { Keyv } from 'keyv';
 * const keyv = new Keyv({ store: new KeyvTiercache(cache), serialize: undefined, deserialize: undefined });
 * // or: const keyv = createKeyv(cache);
 * ```
 */
export class KeyvTiercache extends EventEmitter implements KeyvStoreAdapter {
  /** Keyv reads `opts` (its dialect) from every store. */
  readonly opts: { dialect: string; [option: string]: unknown } = { dialect: 'tiercache' };
  /** Set by Keyv to its namespace; `clear()` clears only the keys under it. */
  namespace?: string | undefined;
  readonly #cache: TieredCache;
  readonly #closeOnDisconnect: boolean;

  /**
   * @param cache the cache (or a view of it) the values go to.
   * @throws InvalidOptionError for a missing cache or an unknown or ill-typed option.
   */
  constructor(cache: TieredCache<unknown>, options: KeyvTiercacheOptions = {}) {
    super();
    if (cache === null || typeof cache !== 'object' || typeof cache.getOrSet !== 'function') {
      throw new InvalidOptionError('cache', 'a TieredCache (or a view from cache.namespace())', cache);
    }
    if (!isObject(options as unknown)) throw new InvalidOptionError('options', 'an object', options);
    checkKnownKeys(options, OPTION_NAMES);
    this.#cache = cache;
    this.#closeOnDisconnect = booleanOption(options.closeOnDisconnect, 'closeOnDisconnect', true);
  }

  /** The value of `key` as Keyv expects it (`{ value }`), or `undefined`. */
  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return fromStored(await this.#cache.get(key)) as StoredData<Value> | undefined;
  }

  /** The values of `keys`, in order: one round trip per tier. */
  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const values = await this.#cache.getMany(keys);
    return values.map((value) => fromStored(value) as StoredData<Value | undefined>);
  }

  /** Writes Keyv's value with Keyv's TTL (ms). */
  async set(key: string, data: unknown, ttl?: number): Promise<boolean> {
    await this.#cache.set(key, toStored(data), entryOptions(ttl));
    return true;
  }

  /**
   * Writes many entries: one round trip per tier, one bus message. Resolves to one `true`
   * per entry, which `keyv.setMany` returns (Keyv's type says `void`).
   */
  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    await this.#cache.setMany(
      entries.map(({ key, value, ttl }) => ({ key, value: toStored(value), options: entryOptions(ttl) })),
    );
    return entries.map(() => true) as unknown as undefined;
  }

  /** Whether a tier holds a fresh value for `key`. */
  has(key: string): Promise<boolean> {
    return this.#cache.has(key);
  }

  /** Whether a tier holds a fresh value for each of `keys`. */
  hasMany(keys: string[]): Promise<boolean[]> {
    return Promise.all(keys.map((key) => this.#cache.has(key)));
  }

  /** Deletes `key` from every tier (and every instance's L1); whether it was there. */
  async delete(key: string): Promise<boolean> {
    const existed = await this.#cache.has(key);
    await this.#cache.delete(key);
    return existed;
  }

  /** Deletes `keys` from every tier; whether any of them was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const existed = await this.hasMany(keys);
    await this.#cache.deleteMany(keys);
    return existed.some(Boolean);
  }

  /**
   * Deletes every key under Keyv's namespace (the cache view of that name), or every
   * key of the cache when Keyv has none.
   * @throws InvalidOptionError when the namespace is not a valid view name.
   */
  async clear(): Promise<void> {
    const namespace = this.namespace;
    if (namespace === undefined || namespace === '') return this.#cache.clear();
    let view: TieredCache;
    try {
      view = this.#cache.namespace(namespace);
    } catch {
      throw new InvalidOptionError(
        'namespace',
        'a Keyv namespace of 1-128 characters from [A-Za-z0-9_.-/]',
        namespace,
      );
    }
    return view.clear();
  }

  /** Closes the cache (unless `closeOnDisconnect: false`): Keyv, cache-manager and NestJS call it on shutdown. */
  async disconnect(): Promise<void> {
    if (this.#closeOnDisconnect) await this.#cache.close();
  }
}

/**
 * Marks a string from a custom Keyv serializer, stored as it came: the one shape of stored
 * value that is not Keyv's value itself. A value of that very shape is escaped.
 */
const VERBATIM = '__keyvSerialized';

/** Keyv's `{ value, expires }` (no serializer) or its serializer's string, as the value to cache. */
function toStored(data: unknown): unknown {
  if (typeof data === 'string') {
    let parsed: unknown;
    try {
      parsed = defaultDeserialize(data);
    } catch {
      parsed = undefined;
    }
    // What Keyv's default serializer wrote round-trips exactly: unwrap it (no JSON inside
    // the cache's codec). A custom serializer's string is kept as it came.
    if (isObject(parsed) && defaultSerialize(parsed) === data)
      return escapeMarker((parsed as KeyvData).value);
    return { [VERBATIM]: data };
  }
  if (isObject(data)) return escapeMarker((data as KeyvData).value);
  throw new InvalidOptionError('value', 'the { value, expires } object or string Keyv stores', data);
}

function escapeMarker(value: unknown): unknown {
  return isObject(value) && Object.hasOwn(value, VERBATIM) ? { [VERBATIM]: null, value } : value;
}

/** The stored value as Keyv reads it: `{ value }`, or a custom serializer's string. */
function fromStored(stored: unknown): unknown {
  if (stored === undefined) return undefined;
  if (isObject(stored) && Object.hasOwn(stored, VERBATIM)) {
    const verbatim = stored[VERBATIM];
    return typeof verbatim === 'string' ? verbatim : { value: stored.value };
  }
  return { value: stored };
}

function entryOptions(ttl: number | undefined): EntryOptions | undefined {
  if (ttl === undefined || ttl === null) return undefined;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new InvalidOptionError('ttl', 'a positive number of ms', ttl);
  }
  // Keyv's TTL is exact: no jitter (jitter only ever shortens a life, never by surprise here).
  return { ttl, jitter: 0 };
}
