import { Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';

/** Options of {@link redisStore}. Give exactly one of `client` or `url`. */
export interface RedisStoreOptions {
  /**
   * A client of your own. The store uses it as is and leaves it open on `close()`.
   * Configure it to fail fast while disconnected (see {@link redisClientOptions}),
   * or a Redis outage turns into commands queued until the guard times them out.
   */
  readonly client?: Redis;
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
}

/** Keys per UNLINK or MGET command: bounds one command's time on the server. */
const KEYS_PER_COMMAND = 1_000;
/** SCAN's COUNT hint during `clear`: ~500 keys inspected per round trip. */
const SCAN_COUNT = 500;
const RETRY_CAP_MS = 2_000;

/**
 * ioredis options for a cache's client: one retry per command, and reconnects with
 * exponential backoff plus jitter capped at 2 s, so a fleet does not reconnect in
 * lockstep. The store uses them for the client it opens from `url`, and turns the
 * offline queue off once that client is first ready: the first commands of a fresh
 * process wait for the connection, later ones fail fast while Redis is unreachable.
 * For a client of your own, do the same (`client.options.enableOfflineQueue = false`
 * on `ready`), or pass `enableOfflineQueue: false` and wait for `ready` before use.
 */
export function redisClientOptions(random: () => number = Math.random): RedisOptions {
  return {
    maxRetriesPerRequest: 1,
    disconnectTimeout: 0, // a dropped socket is destroyed at once: a 2 s timer would hold the exit
    enableOfflineQueue: true,
    retryStrategy: (times) => {
      const base = Math.min(RETRY_CAP_MS, 50 * 2 ** Math.min(times, 10));
      // Full jitter on the upper half: spread reconnects, never below half the backoff.
      return Math.round(base / 2 + (random() * base) / 2);
    },
  };
}

/**
 * Turns the offline queue off once the client is first ready: from then on, a command
 * issued while disconnected rejects at once (the guard counts it and the breaker
 * opens) instead of piling up in memory for the length of the outage.
 */
export function failFastOnceReady(client: Redis): void {
  const off = () => {
    client.options.enableOfflineQueue = false;
  };
  if (client.status === 'ready') off();
  else client.once('ready', off);
}

/** Escapes Redis glob metacharacters so a prefix matches itself and nothing else. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** A Uint8Array as a Buffer over the same memory (ioredis would stringify a plain Uint8Array). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The L2 store on Redis (ioredis): GET/MGET for reads, `SET ... PXAT` with the entry's
 * absolute expiry for writes (a pipeline for several), UNLINK for deletes, and
 * `SCAN MATCH` + UNLINK for `clear` (never KEYS or FLUSHDB). Values are bytes end to end.
 *
 * @throws InvalidOptionError when neither or both of `client` and `url` are given, or
 *   `prefix` / `timeoutMs` are ill-typed.
 * @example
 * ```ts
 * import { redisStore } from 'tiercache/redis';
 * const cache = new TieredCache({ namespace: 'app', stores: [redisStore({ url: 'redis://127.0.0.1:6379' })] });
 * ```
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('redisStore options', 'an object with `client` or `url`', options);
  }
  const { client: given, url, prefix = '', timeoutMs = 50 } = options;
  if ((given === undefined) === (url === undefined)) {
    throw new InvalidOptionError('client', 'exactly one of `client` or `url`', given ?? url);
  }
  if (given !== undefined && (typeof given !== 'object' || typeof given.getBuffer !== 'function')) {
    throw new InvalidOptionError('client', 'an ioredis Redis instance', given);
  }
  // ioredis prefixes command keys but not SCAN patterns or the keys SCAN returns, so
  // `clear` would unlink doubly prefixed keys: the store's own `prefix` does this right.
  if (given?.options?.keyPrefix) {
    throw new InvalidOptionError(
      'client',
      "a client without ioredis' keyPrefix (use the store's `prefix` option instead)",
      `a client with keyPrefix ${JSON.stringify(given.options.keyPrefix)}`,
    );
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new InvalidOptionError('url', "a Redis URL ('redis://…' or 'rediss://…')", url);
  }
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'a string', prefix);
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidOptionError('timeoutMs', 'a finite number of ms > 0', timeoutMs);
  }
  const owned = given === undefined;
  let client: Redis;
  if (given !== undefined) client = given;
  else {
    client = new Redis(url as string, { ...redisClientOptions(), connectionName: 'tiercache-store' });
    failFastOnceReady(client);
    // An owned client's connection errors surface as failed commands (counted by the
    // guard); without a listener ioredis would log each one as unhandled.
    client.on('error', () => {});
  }
  return new RedisStoreImpl(client, owned, prefix, timeoutMs);
}

class RedisStoreImpl implements RedisStore {
  readonly name = 'redis' as const;
  readonly defaultTimeoutMs: number;
  readonly prefix: string;
  readonly client: Redis;
  readonly #owned: boolean;
  #closed = false;

  constructor(client: Redis, owned: boolean, prefix: string, timeoutMs: number) {
    this.client = client;
    this.#owned = owned;
    this.prefix = prefix;
    this.defaultTimeoutMs = timeoutMs;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.client.getBuffer(this.prefix + key)) ?? undefined;
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return [];
    const full = keys.map((key) => this.prefix + key);
    if (full.length <= KEYS_PER_COMMAND) return toBytes(await this.client.mgetBuffer(full));
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
    if (writes.length === 1) {
      const write = writes[0] as StoreWrite;
      if (write.expiresAt <= now) await this.client.unlink(this.prefix + write.key);
      else
        await this.client.set(
          this.prefix + write.key,
          asBuffer(write.value),
          'PXAT',
          Math.ceil(write.expiresAt),
        );
      return;
    }
    // A plain pipeline, not MULTI: one round trip, and no write depends on another.
    const pipeline = this.client.pipeline();
    for (const write of writes) {
      // An entry already past its expiry must not leave an older value readable.
      if (write.expiresAt <= now) pipeline.unlink(this.prefix + write.key);
      else pipeline.set(this.prefix + write.key, asBuffer(write.value), 'PXAT', Math.ceil(write.expiresAt));
    }
    unwrap(await pipeline.exec());
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#unlink(keys.map((key) => this.prefix + key));
  }

  async clear(prefix: string): Promise<void> {
    const match = `${escapeGlob(this.prefix + prefix)}*`;
    let cursor = '0';
    do {
      // scanBuffer: keys come back as bytes and are unlinked as bytes, so a key that is
      // not valid UTF-8 is still deleted exactly.
      const [next, keys] = await this.client.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      if (keys.length > 0) await this.#unlink(keys);
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await quitClient(this.client);
  }

  async #unlink(keys: ReadonlyArray<string | Buffer>): Promise<void> {
    if (keys.length <= KEYS_PER_COMMAND) {
      await this.client.unlink(...keys);
      return;
    }
    const pipeline = this.client.pipeline();
    for (let i = 0; i < keys.length; i += KEYS_PER_COMMAND)
      pipeline.unlink(...keys.slice(i, i + KEYS_PER_COMMAND));
    unwrap(await pipeline.exec());
  }
}

/**
 * Quits a client and resolves once its connection is closed (status `end`), so a
 * caller that closed the cache holds no socket. A client between connections
 * (`reconnecting`, `close`) has no socket to wait for: it only stops reconnecting.
 */
export async function quitClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'reconnecting' || client.status === 'close') {
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => {
    // Bounded: a socket that never reports its close must not hang close().
    const timer = setTimeout(resolve, 2_000);
    timer.unref();
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
  await ended;
}

function toBytes(replies: Array<Buffer | null>): Array<Uint8Array | undefined> {
  return replies.map((reply) => reply ?? undefined);
}

/** A pipeline's results, throwing the first command error (ioredis reports them per command). */
function unwrap(results: Array<[error: Error | null, result: unknown]> | null): unknown[] {
  if (results === null) throw new Error('Redis pipeline was discarded');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}
