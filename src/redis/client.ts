import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { checkFactoryOptions } from '../options/validators.js';

/** The connection options {@link redisStore} and {@link redisBus} share: exactly one of them. */
export interface RedisConnectionOptions {
  /** An ioredis `Redis`, or a `Cluster` where the factory supports one. */
  readonly client?: Redis | Cluster;
  readonly url?: string;
}

// Reconnect attempts at most this far apart: Redis back from a restart is in use again
// within about half a second (a refused connection costs the server next to nothing).
const RETRY_CAP_MS = 500;

/**
 * ioredis options for a cache's client: one retry per command, and reconnects with
 * exponential backoff plus jitter capped at 500 ms, so a fleet does not reconnect in
 * lockstep and is back within about half a second of Redis. The store uses them for the client it opens from `url`, and turns the
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
 * Validates a factory's options object and its `client` / `url` pair: an object, exactly
 * one of the two, a `client` that looks like an ioredis instance (it has `method`, the
 * one the factory relies on), a `url` with a Redis scheme.
 *
 * @param factory the factory's name, for the message when `options` is not an object.
 * @throws InvalidOptionError naming the option at fault.
 */
export function checkRedisConnection(
  options: RedisConnectionOptions,
  factory: string,
  method: 'getBuffer' | 'duplicate',
  known: readonly string[],
): void {
  checkFactoryOptions(options, factory, 'an object with `client` or `url`', known);
  const { client, url } = options;
  if ((client === undefined) === (url === undefined)) {
    throw new InvalidOptionError('client', 'exactly one of `client` or `url`', client ?? url);
  }
  if (client !== undefined && (typeof client !== 'object' || typeof client[method] !== 'function')) {
    throw new InvalidOptionError('client', 'an ioredis Redis instance', client);
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new InvalidOptionError('url', "a Redis URL ('redis://…' or 'rediss://…')", url);
  }
}

/**
 * Opens a client of our own from `url`, named `connectionName` in `CLIENT LIST`, that
 * fails fast once first ready (see {@link failFastOnceReady}). Its connection errors go
 * to `onError`: they surface as failed commands anyway, and without a listener ioredis
 * would log each one as unhandled.
 */
export function openRedisClient(
  url: string,
  connectionName: string,
  onError: (error: Error) => void = () => {},
): Redis {
  const client = new Redis(url, { ...redisClientOptions(), connectionName });
  failFastOnceReady(client);
  client.on('error', onError);
  return client;
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

// Longest a QUIT waits for its reply before the socket is dropped.
const QUIT_TIMEOUT_MS = 1_000;

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
  // QUIT waits for its reply: a paused server never sends it, so after a second the
  // socket is dropped instead (what is left to say to a server that does not answer?).
  let quitTimer: NodeJS.Timeout | undefined;
  const quitGiveUp = new Promise<'late'>((resolve) => {
    quitTimer = setTimeout(resolve, QUIT_TIMEOUT_MS, 'late');
    quitTimer.unref();
  });
  try {
    if ((await Promise.race([client.quit(), quitGiveUp])) === 'late') client.disconnect();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(quitTimer);
  }
  await ended;
}
