import pg from 'pg';
import type { BusHealth, BusListener, BusMessage, InvalidationBus } from '../bus/bus.js';
import { InvalidOptionError, TierCacheError } from '../errors.js';
import { integerOption } from '../options/validators.js';
import { pgEndpoint } from './endpoint.js';
import { decodePayload, encodePayloads, postgresChannel } from './payload.js';
import { checkPgConnection, openPgPool } from './pool.js';

/**
 * Options of {@link postgresBus}. Give either `pool` or `connectionString`.
 *
 * A pool passed in stays the caller's (attach `pool.on('error', ...)` to it yourself);
 * the bus publishes through it and opens one extra connection of its own, with the
 * pool's connection settings, to LISTEN on.
 */
export interface PostgresBusOptions {
  /** A pg pool to publish through; its `options` also configure the listening connection. */
  readonly pool?: pg.Pool;
  /** A connection string; the bus then creates, owns and (on `close()`) ends its pool. */
  readonly connectionString?: string;
  /**
   * How often the listening connection is probed with `SELECT 1`, in ms. Default 300.
   * A hung link (a network partition, a frozen server) sends no error: only a probe
   * that does not answer reveals it.
   */
  readonly heartbeatMs?: number;
  /**
   * How long a probe may take before the link is declared dead, in ms. Default 600, so
   * a hung link is detected within `heartbeatMs + heartbeatTimeoutMs` (under 1 s).
   */
  readonly heartbeatTimeoutMs?: number;
  /** First reconnect delay bound in ms (doubling per failed attempt, full jitter). Default 50. */
  readonly reconnectMinMs?: number;
  /** Largest reconnect delay bound in ms. Default 5000. */
  readonly reconnectMaxMs?: number;
  /** Longest one attempt to connect and LISTEN may take, in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
}

/** Every option of {@link postgresBus}, for the unknown-option check. */
const POSTGRES_BUS_OPTIONS = [
  'pool',
  'connectionString',
  'heartbeatMs',
  'heartbeatTimeoutMs',
  'reconnectMinMs',
  'reconnectMaxMs',
  'connectTimeoutMs',
];

/**
 * An {@link InvalidationBus} over Postgres LISTEN/NOTIFY, for deployments with Postgres
 * and no Redis (or to keep invalidation off Redis).
 *
 * - Listens on one dedicated connection (`application_name` `tiercache-bus`), never a
 *   pooled one: a LISTEN belongs to its session, and a pool would hand that session to
 *   other queries or close it when idle.
 * - Publishes with `SELECT pg_notify($1, payload)` through the pool, every chunk of a
 *   message in one statement (so one transaction: delivered together, in order).
 * - Heartbeat: a `SELECT 1` on the listening connection every `heartbeatMs`; no answer
 *   within `heartbeatTimeoutMs`, an error, or the connection ending marks the link
 *   `down` and calls `onResync()` at once (messages may be lost from that moment), then
 *   reconnects with exponential backoff and full jitter, LISTENs again and calls
 *   `onResync()` once more (messages sent while down were lost).
 * - Payloads are JSON text, split to stay under the 8000-byte NOTIFY limit.
 *
 * `start()` rejects (a `TierCacheError`) if the first connection fails, reports the link
 * down (`onLinkChange(false)`) and keeps trying in the background: once connected it
 * reports `onResync()` and the link up, like any reconnect. One attempt to connect and
 * LISTEN is cut off after `connectTimeoutMs`.
 *
 * The listening connection keeps the process alive until `close()`, as any open
 * subscription does; the heartbeat and reconnect timers do not.
 *
 * @throws InvalidOptionError naming the option when an option is invalid.
 * @example
 * ```ts
 * import { TieredCache } from 'tiercache';
 * import { postgresBus, postgresStore } from 'tiercache/postgres';
 *
 * const cache = new TieredCache({
 *   namespace: 'app',
 *   stores: [postgresStore({ connectionString })],
 *   bus: postgresBus({ connectionString }),
 * });
 * ```
 */
export function postgresBus(options: PostgresBusOptions): InvalidationBus {
  return new PostgresNotifyBus(options);
}

interface Resolved {
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly connectTimeoutMs: number;
}

/** A whole number of ms > 0, or `fallback` when absent. */
function positive(option: string, value: unknown, fallback: number): number {
  return integerOption(value, option, 1, fallback, 'an integer > 0 (ms)');
}

function resolve(options: PostgresBusOptions): Resolved {
  checkPgConnection(options, 'postgresBus', POSTGRES_BUS_OPTIONS);
  const reconnectMinMs = positive('reconnectMinMs', options.reconnectMinMs, 50);
  const reconnectMaxMs = positive('reconnectMaxMs', options.reconnectMaxMs, 5000);
  if (reconnectMaxMs < reconnectMinMs) {
    throw new InvalidOptionError(
      'reconnectMaxMs',
      `an integer >= reconnectMinMs (${reconnectMinMs})`,
      reconnectMaxMs,
    );
  }
  return Object.freeze({
    heartbeatMs: positive('heartbeatMs', options.heartbeatMs, 300),
    heartbeatTimeoutMs: positive('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 600),
    reconnectMinMs,
    reconnectMaxMs,
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 5000),
  });
}

/** The bus behind {@link postgresBus}. */
class PostgresNotifyBus implements InvalidationBus {
  readonly name = 'postgres';
  readonly endpoint: string;

  readonly #options: Resolved;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #clientConfig: pg.ClientConfig;

  #channel = '';
  #instanceId = '';
  #listener: BusListener | undefined;
  #client: pg.Client | undefined;
  #status: BusHealth['status'] = 'down';
  #lastMessageAt: number | undefined;
  #lastError: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #probing = false;
  /** The last moment the link was known to deliver: LISTEN sent on a connection that took it, or a heartbeat answered. */
  #knownGoodAt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempts = 0;
  #closed = false;

  constructor(options: PostgresBusOptions) {
    this.#options = resolve(options);
    const { pool, owned } = openPgPool(options);
    this.#pool = pool;
    this.#ownsPool = owned;
    this.endpoint = pgEndpoint(pool);
    this.#clientConfig = owned
      ? { connectionString: options.connectionString }
      : { ...(pool.options as pg.ClientConfig) };
    // keepAlive: let the OS notice a dead peer too, between heartbeats.
    this.#clientConfig = { ...this.#clientConfig, application_name: 'tiercache-bus', keepAlive: true };
  }

  async start(namespace: string, instanceId: string, listener: BusListener): Promise<void> {
    if (this.#listener !== undefined) {
      throw new TierCacheError('postgresBus: start() was already called; a bus serves one cache');
    }
    if (this.#closed) throw new TierCacheError('postgresBus: start() after close()');
    this.#channel = postgresChannel(namespace);
    this.#instanceId = instanceId;
    this.#listener = listener;
    try {
      await this.#connect();
    } catch (error) {
      // Keep trying in the background. Until the link is up no invalidation can arrive,
      // so tell the cache the link is down (it bypasses L1); the first successful
      // connection reports onResync and the link up, as any reconnect does.
      this.#scheduleReconnect();
      try {
        listener.onLinkChange?.(false);
      } catch {}
      throw new TierCacheError(
        `postgresBus could not listen on ${this.#channel}: ${errorText(error)}; it keeps retrying in the background`,
        { cause: error },
      );
    }
  }

  async publish(message: BusMessage): Promise<void> {
    if (this.#closed) throw new TierCacheError('postgresBus.publish() called after close()');
    if (this.#listener === undefined) throw new TierCacheError('postgresBus.publish() called before start()');
    const payloads = encodePayloads(message);
    await this.#pool.query(
      'SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i',
      [this.#channel, payloads],
    );
  }

  health(): BusHealth {
    return { status: this.#status, lastMessageAt: this.#lastMessageAt, lastError: this.#lastError };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#status = 'down';
    this.#stopHeartbeat();
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await this.#endClient(client, true);
    if (this.#ownsPool) await this.#pool.end();
  }

  /** Opens the listening connection, LISTENs, and marks the link up. */
  async #connect(): Promise<void> {
    this.#status = 'connecting';
    const client = new pg.Client(this.#clientConfig);
    this.#client = client;
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the listening connection ended')));
    client.on('notification', (notification) => this.#receive(notification));
    // A server that accepts the TCP connection and then says nothing would hang connect()
    // or LISTEN for the OS's TCP timeout: cut it off.
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      streamOf(client)?.destroy();
    }, this.#options.connectTimeoutMs);
    deadline.unref();
    let listenSentAt = 0;
    try {
      await client.connect();
      listenSentAt = Date.now();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.#channel)}`);
    } catch (error) {
      if (this.#client === client) this.#client = undefined;
      this.#status = 'down';
      const failure = timedOut
        ? new Error(`connecting and LISTEN took over ${this.#options.connectTimeoutMs} ms`, { cause: error })
        : error;
      this.#lastError = errorText(failure);
      await this.#endClient(client, false);
      throw failure;
    } finally {
      clearTimeout(deadline);
    }
    if (this.#client !== client || this.#closed) {
      // Lost or closed while connecting: lost() or close() has taken over.
      await this.#endClient(client, false);
      return;
    }
    this.#status = 'up';
    this.#knownGoodAt = Math.max(this.#knownGoodAt, listenSentAt);
    this.#attempts = 0;
    this.#startHeartbeat(client);
  }

  #receive(notification: pg.Notification): void {
    if (notification.channel !== this.#channel || notification.payload === undefined) return;
    const message = decodePayload(notification.payload);
    if (message === undefined) {
      this.#lastError = `ignored a malformed bus payload: ${notification.payload.slice(0, 80)}`;
      return;
    }
    this.#lastMessageAt = Date.now();
    if (message.origin === this.#instanceId) return;
    try {
      this.#listener?.onMessage(message);
    } catch (error) {
      // A throwing listener must not break the connection's event handling.
      this.#lastError = errorText(error);
    }
  }

  #startHeartbeat(client: pg.Client): void {
    this.#stopHeartbeat();
    this.#heartbeat = setInterval(() => this.#probe(client), this.#options.heartbeatMs);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#probing = false;
  }

  #probe(client: pg.Client): void {
    if (this.#probing || this.#client !== client) return;
    this.#probing = true;
    const deadline = setTimeout(
      () =>
        this.#lost(client, new Error(`heartbeat: no answer within ${this.#options.heartbeatTimeoutMs} ms`)),
      this.#options.heartbeatTimeoutMs,
    );
    deadline.unref();
    const sentAt = Date.now();
    client.query('SELECT 1').then(
      () => {
        clearTimeout(deadline);
        if (this.#client !== client) return;
        this.#probing = false;
        this.#knownGoodAt = Math.max(this.#knownGoodAt, sentAt);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        this.#lost(client, error);
      },
    );
  }

  /** The link through `client` is gone (error, end, or a silent heartbeat). Idempotent per client. */
  #lost(client: pg.Client, error: unknown): void {
    // While connecting, the pending connect() or LISTEN rejects and connect() cleans up.
    if (this.#client !== client || this.#closed || this.#status !== 'up') return;
    this.#client = undefined;
    this.#stopHeartbeat();
    this.#status = 'down';
    this.#lastError = errorText(error);
    void this.#endClient(client, false);
    this.#notifyResync(false);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined) return;
    const { reconnectMinMs, reconnectMaxMs } = this.#options;
    const bound = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(this.#attempts, 30));
    this.#attempts++;
    // Full jitter: instances that lost the server together do not all return at once.
    const delay = Math.round(Math.random() * bound);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          if (this.#status === 'up') this.#notifyResync(true);
        },
        () => this.#scheduleReconnect(),
      );
    }, delay);
    this.#reconnectTimer.unref();
  }

  #notifyResync(up: boolean): void {
    const listener = this.#listener;
    if (listener === undefined) return;
    try {
      // Going down: the link state (since when messages may be lost) then a resync;
      // coming up: a resync then the link state (see `BusListener.onLinkChange`).
      if (!up) listener.onLinkChange?.(false, this.#knownGoodAt);
      listener.onResync();
      if (up) listener.onLinkChange?.(true);
    } catch (error) {
      this.#lastError = errorText(error);
    }
  }

  /** Ends a client without waiting on a hung link: `gracefully` tries UNLISTEN and a clean end first. */
  async #endClient(client: pg.Client, gracefully: boolean): Promise<void> {
    client.removeAllListeners('notification');
    // Errors after we let go of a client are expected (the socket is being torn down).
    client.on('error', () => {});
    if (gracefully) {
      const ended = client.end().then(
        () => true,
        () => false,
      );
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref());
      if (await Promise.race([ended, timeout])) return;
    }
    // A hung link never answers a Terminate message: drop the socket.
    streamOf(client)?.destroy();
    client.end().catch(() => {});
  }
}

/** The client's socket; pg does not expose it, and only destroying it unblocks a hung link. */
function streamOf(client: pg.Client): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
