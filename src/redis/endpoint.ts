import type { Cluster, Redis } from 'ioredis';
import { isCluster } from './slots.js';

/**
 * Where a Redis client connects, and the last connection error it reported while it is
 * not connected: ioredis rejects a command issued while disconnected with an error of
 * its own that carries no code ("Stream isn't writeable ..."), while the socket's error
 * (`ECONNREFUSED`, `ENOTFOUND`, ...) only reaches the client's `error` event.
 */
export class ConnectionWatch {
  readonly endpoint: string;
  #error: Error | undefined;

  constructor(client: Redis) {
    this.endpoint = redisEndpoint(client);
    // A listener of ours also keeps ioredis from logging each reconnect failure as an
    // unhandled `error` event; the cache reports the failures itself.
    client.on('error', (error: Error) => {
      this.#error = error;
    });
    client.on('ready', () => {
      this.#error = undefined;
    });
  }

  /** The last connection error, unless the client is connected now. */
  get error(): Error | undefined {
    return this.#error;
  }
}

/** `host:port/db` (or the socket path) of a client's options; never its password. */
export function redisEndpoint(client: Redis | Cluster): string {
  if (isCluster(client)) {
    // A cluster: the nodes it was started from (never a password).
    const startup = (client as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
    const nodes = startup.map((node) => {
      if (typeof node !== 'object' || node === null) return String(node);
      const { host = 'localhost', port = 6379 } = node as { host?: string; port?: number };
      return `${host}:${port}`;
    });
    return `cluster ${nodes.join(',')}`;
  }
  const options = client.options ?? {};
  if (typeof options.path === 'string' && options.path !== '') return `${options.path}/${options.db ?? 0}`;
  return `${options.host ?? 'localhost'}:${options.port ?? 6379}/${options.db ?? 0}`;
}
