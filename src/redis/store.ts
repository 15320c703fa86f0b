import type { Cluster, Redis } from 'ioredis';
import { isVersion } from '../entry/version.js';
import { InvalidOptionError, StoreDataError, TierCacheError } from '../errors.js';
import { msOption } from '../options/validators.js';
import type { LeaseRelease, LeaseStore } from '../stores/lease.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';
import { checkRedisConnection, openRedisClient, quitClient } from './client.js';
import { type RedisClusterStore, RedisClusterStoreTier } from './cluster-store.js';
import { writeCoalescer } from './coalesce.js';
import { ConnectionWatch } from './endpoint.js';
import { redisLeases } from './lease.js';
import { isCluster } from './slots.js';
import { type ClearUpTo, defineClearUpTo, defineSetIfNewer, type SetIfNewer, unframe } from './versioned.js';

/** Options of {@link redisStore}. Give exactly one of `client` or `url`. */
export interface RedisStoreOptions {
  /**
   * A client of your own. The store uses it as is and leaves it open on `close()`.
   * Configure it to fail fast while disconnected (see {@link redisClientOptions}),
   * or a Redis outage turns into commands queued until the guard times them out.
   * The store defines its scripts on it as the commands `tiercacheSetIfNewer` (writes),
   * `tiercacheSetAndRelease` (a load's write with its lease's release),
   * `tiercacheClearUpTo` (`clear` up to a version) and the `tiercacheLease*` commands.
   *
   * An ioredis `Cluster` makes a {@link RedisClusterStore}: multi-key operations are
   * grouped by slot and pipelined per node, `clear` scans every master.
   */
  readonly client?: Redis | Cluster;
  /**
   * A Redis URL (`redis://host:port/db`, `rediss://` for TLS). The store opens its own
   * client, configured to fail fast while disconnected, and quits it on `close()`.
   */
  readonly url?: string;
  /**
   * Prepended to every key. The store reads, writes, scans and deletes only keys that
   * start with it. Default `''`: keys are the cache's `namespace:key` as is.
   */
  readonly prefix?: string;
  /** The guard timeout for this store unless the cache sets one, in ms. Default 50. */
  readonly timeoutMs?: number;
}

/** A Redis L2 store, as returned by {@link redisStore}. */
export interface RedisStore extends StoreTier {
  readonly name: 'redis';
  readonly defaultTimeoutMs: number;
  /** The store's own key prefix. */
  readonly prefix: string;
  /** The client the store talks through (its own when made from `url`). */
  readonly client: Redis;
  /** Hosts the cache's leases (one load per key across instances; see `lease` in the cache options). */
  readonly leases: LeaseStore;
}

/** Keys per UNLINK, MGET or script call: bounds one command's time on the server. */
export const KEYS_PER_COMMAND = 1_000;
/** SCAN's COUNT hint during `clear`: ~500 keys inspected per round trip. */
export const SCAN_COUNT = 500;

/** Every option of {@link redisStore}, for the unknown-option check. */
const REDIS_STORE_OPTIONS = ['client', 'url', 'prefix', 'timeoutMs'];

/**
 * The SCAN pattern of `clear` for the keys under `prefix` (store prefix included).
 * @throws TierCacheError when `upTo` is given and is not a version: the script compares
 *   versions in Lua as three numbers, and a malformed one would not compare at all.
 */
export function clearMatch(prefix: string, upTo: string | undefined): string {
  if (upTo !== undefined && !isVersion(upTo)) {
    throw new TierCacheError(
      `redisStore.clear: upTo ${JSON.stringify(upTo)} is not 24 lowercase hex characters`,
    );
  }
  return `${escapeGlob(prefix)}*`;
}

/** Escapes Redis glob metacharacters so a prefix matches itself and nothing else. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The L2 store on Redis (ioredis): GET/MGET for reads; for writes a Lua script that
 * keeps, per key, only the write with the greatest version (`SET ... PXAT` with the
 * entry's absolute expiry, one script call per 1,000 keys, a pipeline for more); UNLINK
 * for deletes, and `SCAN MATCH` + UNLINK for `clear` (never KEYS or FLUSHDB); with
 * `upTo`, each batch the SCAN returns goes to a script that unlinks only the keys whose
 * version is not above it. Values are bytes end to end, stored behind their 24-byte
 * version (see `versioned.ts`); reads return exactly the bytes written.
 *
 * The scripts are defined on the client as the commands `tiercacheSetIfNewer`,
 * `tiercacheSetAndRelease`, `tiercacheClearUpTo` and `tiercacheLease*` (ioredis
 * `defineCommand`), also on a client you pass in. While commands are in flight, those
 * issued in one tick leave in one socket write (corked until `process.nextTick`); a
 * command on an idle connection leaves at once.
 *
 * @throws InvalidOptionError when neither or both of `client` and `url` are given, or
 *   `prefix` / `timeoutMs` are ill-typed.
 * @example
 * ```ts
 * import { redisStore } from 'tiercache/redis';
 * const cache = new TieredCache({ namespace: 'app', stores: [redisStore({ url: 'redis://127.0.0.1:6379' })] });
 * ```
 */
export function redisStore(options: RedisStoreOptions & { readonly client: Cluster }): RedisClusterStore;
export function redisStore(options: RedisStoreOptions): RedisStore;
export function redisStore(options: RedisStoreOptions): RedisStore | RedisClusterStore {
  checkRedisConnection(options, 'redisStore', 'getBuffer', REDIS_STORE_OPTIONS);
  const { client: given, url, prefix = '' } = options;
  // ioredis prefixes command keys but not SCAN patterns or the keys SCAN returns, so
  // `clear` would unlink doubly prefixed keys: the store's own `prefix` does this right.
  const keyPrefix = isCluster(given) ? clusterKeyPrefix(given) : given?.options?.keyPrefix;
  if (keyPrefix) {
    throw new InvalidOptionError(
      'client',
      "a client without ioredis' keyPrefix (use the store's `prefix` option instead)",
      `a client with keyPrefix ${JSON.stringify(keyPrefix)}`,
    );
  }
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'a string', prefix);
  const timeoutMs = msOption(options.timeoutMs, 'timeoutMs', false, 50);
  if (isCluster(given)) return new RedisClusterStoreTier(given, prefix, timeoutMs);
  // An owned client's connection errors surface as failed commands (counted by the guard).
  const client = given ?? openRedisClient(url as string, 'tiercache-store');
  return new RedisStoreTier(client, given === undefined, prefix, timeoutMs);
}

/** A Cluster's key prefix, given on it or on the options of its nodes. */
function clusterKeyPrefix(cluster: Cluster): string | undefined {
  return cluster.options.keyPrefix || cluster.options.redisOptions?.keyPrefix;
}

/** The {@link RedisStore} behind {@link redisStore}. */
class RedisStoreTier implements RedisStore {
  readonly name = 'redis' as const;
  readonly system = 'redis';
  readonly defaultTimeoutMs: number;
  readonly prefix: string;
  readonly client: Redis;
  readonly leases: LeaseStore;
  readonly #owned: boolean;
  readonly #setIfNewer: SetIfNewer;
  readonly #clearUpTo: ClearUpTo;
  #closed = false;
  readonly #watch: ConnectionWatch;
  readonly #coalesce: () => void;

  constructor(client: Redis, owned: boolean, prefix: string, timeoutMs: number) {
    this.client = client;
    this.#watch = new ConnectionWatch(client);
    this.#coalesce = writeCoalescer(client);
    this.#setIfNewer = defineSetIfNewer(client);
    this.#clearUpTo = defineClearUpTo(client);
    const leases = redisLeases(client, prefix, this.#coalesce);
    this.leases = { ...leases, writeAndRelease: (writes, release) => this.#writeAndRelease(writes, release) };
    this.#owned = owned;
    this.prefix = prefix;
    this.defaultTimeoutMs = timeoutMs;
  }

  get endpoint(): string {
    return this.#watch.endpoint;
  }

  connectionError(): Error | undefined {
    return this.#watch.error;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    let stored: Buffer | null;
    try {
      this.#coalesce();
      stored = await this.client.getBuffer(this.prefix + key);
    } catch (error) {
      // A key of another type (a hash someone wrote there): the server is fine.
      if (isWrongType(error))
        throw new StoreDataError('redis', key, (error as Error).message, { cause: error });
      throw error;
    }
    return stored === null ? undefined : unframe(stored);
  }

  onReady(listener: () => void): () => void {
    this.client.on('ready', listener);
    return () => this.client.off('ready', listener);
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return [];
    const full = keys.map((key) => this.prefix + key);
    if (full.length <= KEYS_PER_COMMAND) {
      this.#coalesce();
      return toBytes(await this.client.mgetBuffer(full));
    }
    const pipeline = this.client.pipeline();
    for (let i = 0; i < full.length; i += KEYS_PER_COMMAND) {
      pipeline.mgetBuffer(full.slice(i, i + KEYS_PER_COMMAND));
    }
    const out: Array<Uint8Array | undefined> = [];
    for (const reply of unwrap(await pipeline.exec())) out.push(...toBytes(reply as Array<Buffer | null>));
    return out;
  }

  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const now = Date.now();
    // The fast path: one EVALSHA for up to KEYS_PER_COMMAND writes.
    if (writes.length <= KEYS_PER_COMMAND) {
      this.#coalesce();
      await this.#setIfNewer.call(writes, this.prefix, now);
      return;
    }
    // A plain pipeline, not MULTI: one round trip, and each script call is atomic on its own.
    const pipeline = this.client.pipeline();
    for (let i = 0; i < writes.length; i += KEYS_PER_COMMAND) {
      this.#setIfNewer.queue(pipeline, writes.slice(i, i + KEYS_PER_COMMAND), this.prefix, now);
    }
    unwrap(await pipeline.exec());
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#unlink(keys.map((key) => this.prefix + key));
  }

  async clear(prefix: string, upTo?: string): Promise<void> {
    const match = clearMatch(this.prefix + prefix, upTo);
    let cursor = '0';
    do {
      // scanBuffer: keys come back as bytes and are unlinked as bytes, so a key that is
      // not valid UTF-8 is still deleted exactly.
      const [next, keys] = await this.client.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      if (keys.length === 0) continue;
      if (upTo === undefined) await this.#unlink(keys);
      else await this.#unlinkUpTo(keys, upTo);
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await quitClient(this.client);
  }

  /** The write of a load with its lease's release: one script call, or (past one call's keys) two steps. */
  async #writeAndRelease(writes: readonly StoreWrite[], release: LeaseRelease): Promise<void> {
    if (writes.length === 0 || writes.length > KEYS_PER_COMMAND) {
      await this.setMany(writes);
      await this.leases.release(release.key, release.token, release.next, release.nextMs);
      return;
    }
    this.#coalesce();
    await this.#setIfNewer.callAndRelease(writes, this.prefix, Date.now(), release);
  }

  /** Unlinks those of `keys` holding no version or one `<= upTo`, each checked atomically. */
  async #unlinkUpTo(keys: readonly Buffer[], upTo: string): Promise<void> {
    // SCAN's COUNT is a hint: a batch may exceed it, so it is cut like any other.
    for (let i = 0; i < keys.length; i += KEYS_PER_COMMAND) {
      await this.#clearUpTo(keys.slice(i, i + KEYS_PER_COMMAND), upTo);
    }
  }

  async #unlink(keys: ReadonlyArray<string | Buffer>): Promise<void> {
    if (keys.length <= KEYS_PER_COMMAND) {
      this.#coalesce();
      await this.client.unlink(...keys);
      return;
    }
    const pipeline = this.client.pipeline();
    for (let i = 0; i < keys.length; i += KEYS_PER_COMMAND)
      pipeline.unlink(...keys.slice(i, i + KEYS_PER_COMMAND));
    unwrap(await pipeline.exec());
  }
}

/** Whether Redis refused a command for the type of the key it named (`WRONGTYPE`). */
function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

function toBytes(replies: Array<Buffer | null>): Array<Uint8Array | undefined> {
  return replies.map((reply) => (reply === null ? undefined : unframe(reply)));
}

/** A pipeline's results, throwing the first command error (ioredis reports them per command). */
function unwrap(results: Array<[error: Error | null, result: unknown]> | null): unknown[] {
  if (results === null) throw new Error('Redis pipeline was discarded');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}
