import { type Cluster, Redis } from 'ioredis';
import {
  type BusHealth,
  type BusListener,
  type BusMessage,
  busChannel,
  type InvalidationBus,
} from '../bus/bus.js';
import { busHealth } from '../bus/message.js';
import { InvalidOptionError, TierCacheError } from '../errors.js';
import { msOption } from '../options/validators.js';
import { checkRedisConnection, openRedisClient, quitClient, redisClientOptions } from './client.js';
import {
  openClusterSubscriber,
  type PubSubCommands,
  type PubSubMode,
  pubSubCommands,
} from './cluster-link.js';
import { redisEndpoint } from './endpoint.js';
import { SubscriberHeartbeat } from './heartbeat.js';
import { isCluster } from './slots.js';
import { encodeBusMessage, OWN_MESSAGE, originPrefix, readBusMessage } from './wire.js';

/** Options of {@link redisBus}. Give exactly one of `client` or `url`. */
export interface RedisBusOptions {
  /**
   * A client of your own: it publishes, and is duplicated (as ioredis requires) for the
   * subscriber connection, which the bus owns. `close()` leaves it open.
   *
   * An ioredis `Cluster` publishes through the cluster, and the bus opens its subscriber
   * on the master that owns the channel's slot, following it through failovers (see
   * `pubsub`).
   */
  readonly client?: Redis | Cluster;
  /** A Redis URL: the bus opens a publisher and a subscriber and quits both on `close()`. */
  readonly url?: string;
  /**
   * How often the subscriber connection is PINGed, in ms; `0` turns the heartbeat off.
   * Default 300: with the default deadline a dead link is detected within ~700 ms,
   * even when its socket never errors (a hung server, a silent partition).
   */
  readonly heartbeatMs?: number;
  /** How long a PING may go unanswered before the link is declared down, in ms. Default 400. */
  readonly heartbeatTimeoutMs?: number;
  /** How long `start()` waits for the first subscription before rejecting, in ms. Default 5000. */
  readonly startTimeoutMs?: number;
  /**
   * The subscriber connection's name in `CLIENT LIST` (`CLIENT SETNAME`), to tell
   * instances apart. Default {@link BUS_SUBSCRIBER_NAME}. Letters, digits, `-_.:` only.
   */
  readonly subscriberName?: string;
  /**
   * `'sharded'` (`SPUBLISH`/`SSUBSCRIBE`, Redis 7: on a cluster a message stays within
   * the shard owning the channel) or `'classic'` (`PUBLISH`/`SUBSCRIBE`: on a cluster
   * every message is broadcast to every node). Default `'sharded'` on a `Cluster`,
   * `'classic'` otherwise. See `docs/architecture.md` for the trade.
   */
  readonly pubsub?: PubSubMode;
}

/** Counters of a {@link RedisBus}, since it started. */
export interface RedisBusStats {
  /** Messages published. */
  readonly published: number;
  /** Messages from other instances delivered to the listener. */
  readonly delivered: number;
  /** Messages from this instance, dropped. */
  readonly ownDropped: number;
  /** Messages that did not decode to a bus message, dropped. */
  readonly undecodable: number;
  /** Times the listener was told to resync (link dropped, found dead, or back). */
  readonly resyncs: number;
}

/** A Redis pub/sub invalidation bus, as returned by {@link redisBus}. */
export interface RedisBus extends InvalidationBus {
  readonly name: 'redis';
  /** The bus's counters. */
  stats(): RedisBusStats;
}

/** The name the subscriber connection carries in `CLIENT LIST`. */
export const BUS_SUBSCRIBER_NAME = 'tiercache-bus-sub';

/** Every option of {@link redisBus}, for the unknown-option check. */
const REDIS_BUS_OPTIONS = [
  'client',
  'url',
  'heartbeatMs',
  'heartbeatTimeoutMs',
  'startTimeoutMs',
  'subscriberName',
  'pubsub',
];

/**
 * The invalidation bus on Redis pub/sub: messages `{ origin, op, keys }` in msgpack on
 * the channel `tiercache:v1:<namespace>`, received on a dedicated subscriber connection
 * (`CLIENT SETNAME tiercache-bus-sub`).
 *
 * Lost messages are never silent: when the subscriber connection drops, or a heartbeat
 * PING goes unanswered past its deadline, the status turns `down` and the listener's
 * `onResync()` and `onLinkChange(false)` run at once; when the link is back and
 * subscribed again, `onResync()` and `onLinkChange(true)`, since entries loaded while
 * the link was down may have missed an invalidation.
 * Undecodable messages are dropped and counted, never thrown.
 *
 * @throws InvalidOptionError when neither or both of `client` and `url` are given, or a
 *   timing option is not a finite number in range.
 * @example
 * ```ts
 * import { redisBus, redisStore } from 'tiercache/redis';
 * const url = 'redis://127.0.0.1:6379';
 * const cache = new TieredCache({ namespace: 'app', stores: [redisStore({ url })], bus: redisBus({ url }) });
 * ```
 */
export function redisBus(options: RedisBusOptions): RedisBus {
  checkRedisConnection(options, 'redisBus', 'duplicate', REDIS_BUS_OPTIONS);
  const { client, url, subscriberName = BUS_SUBSCRIBER_NAME } = options;
  const heartbeatMs = msOption(options.heartbeatMs, 'heartbeatMs', true, 300);
  const heartbeatTimeoutMs = msOption(options.heartbeatTimeoutMs, 'heartbeatTimeoutMs', false, 400);
  const startTimeoutMs = msOption(options.startTimeoutMs, 'startTimeoutMs', false, 5_000);
  // CLIENT SETNAME refuses spaces; keep names greppable in CLIENT LIST.
  if (typeof subscriberName !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(subscriberName)) {
    throw new InvalidOptionError(
      'subscriberName',
      'a name of 1-128 characters from [A-Za-z0-9_.:-]',
      subscriberName,
    );
  }
  const pubsub = pubSubCommands(options.pubsub, isCluster(client));
  return new RedisPubSubBus({
    client,
    url,
    heartbeatMs,
    heartbeatTimeoutMs,
    startTimeoutMs,
    subscriberName,
    pubsub,
  });
}

interface Resolved {
  readonly client: Redis | Cluster | undefined;
  readonly url: string | undefined;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly subscriberName: string;
  readonly pubsub: PubSubCommands;
}

/** The {@link RedisBus} behind {@link redisBus}. */
class RedisPubSubBus implements RedisBus {
  readonly name = 'redis' as const;
  readonly #options: Resolved;
  #publisher: Redis | Cluster | undefined;
  #ownPublisher = false;
  #subscriber: Redis | undefined;
  #heartbeat: SubscriberHeartbeat | undefined;
  #channel: string | undefined;
  #channelBytes: Buffer | undefined;
  #instanceId = '';
  /** How this instance's own messages start (see `fromOrigin`). */
  #ownPrefix: Buffer = Buffer.alloc(0);
  #listener: BusListener | undefined;
  #status: BusHealth['status'] = 'connecting';
  #lastMessageAt: number | undefined;
  /** The last moment the link was known to deliver: a subscription made, or the send time of a PING answered. */
  #knownGoodAt = 0;
  #lastError: string | undefined;
  #everUp = false;
  #closed = false;
  #started: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #stats = { published: 0, delivered: 0, ownDropped: 0, undecodable: 0, resyncs: 0 };

  constructor(options: Resolved) {
    this.#options = options;
  }

  get endpoint(): string | undefined {
    const client = this.#publisher ?? this.#options.client;
    return client === undefined ? undefined : redisEndpoint(client);
  }

  start(namespace: string, instanceId: string, listener: BusListener): Promise<void> {
    if (this.#closed) return Promise.reject(new TierCacheError('Cannot start a closed redisBus'));
    if (this.#subscriber !== undefined) {
      return Promise.reject(
        new TierCacheError('redisBus.start() was already called: a bus serves one cache'),
      );
    }
    this.#channel = busChannel(namespace);
    this.#channelBytes = Buffer.from(this.#channel);
    this.#instanceId = instanceId;
    this.#ownPrefix = originPrefix(instanceId);
    this.#listener = listener;
    const subscriber = this.#openConnections();
    const heartbeat = new SubscriberHeartbeat(
      subscriber,
      this.#options.heartbeatMs,
      this.#options.heartbeatTimeoutMs,
      {
        status: () => this.#status,
        closed: () => this.#closed,
        dead: (reason) => this.#markDown(reason),
        alive: () => this.#markUp(),
        heard: (sentAt) => {
          this.#knownGoodAt = Math.max(this.#knownGoodAt, sentAt);
        },
      },
    );
    this.#heartbeat = heartbeat;
    subscriber.on('ready', () => void this.#onReady(subscriber, heartbeat));
    subscriber.on('close', () => this.#markDown('subscriber connection closed'));
    subscriber.on('error', (error: Error) => {
      this.#lastError = error.message;
    });
    subscriber.on(this.#options.pubsub.messageEvent, (channel: Buffer, message: Buffer) =>
      this.#onMessage(channel, message),
    );
    // The channel's slot moved (a failover, a reshard): the server unsubscribed us, or
    // refused the subscription. Reconnect, to the slot's new master on a cluster.
    subscriber.on('moved', () => {
      this.#markDown("the channel's slot moved");
      subscriber.disconnect(true);
    });
    heartbeat.start();
    return this.#firstSubscription();
  }

  async publish(message: BusMessage): Promise<void> {
    if (this.#closed) throw new TierCacheError('redisBus.publish() called after close()');
    if (this.#publisher === undefined || this.#channel === undefined) {
      throw new TierCacheError('redisBus.publish() called before start()');
    }
    await this.#options.pubsub.publish(this.#publisher, this.#channel, encodeBusMessage(message));
    this.#stats.published++;
  }

  health(): BusHealth {
    return busHealth(this.#status, this.#lastMessageAt, this.#lastError);
  }

  stats(): RedisBusStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat?.stop();
    this.#status = 'down';
    const closing: Array<Promise<void>> = [];
    if (this.#subscriber !== undefined) closing.push(quitClient(this.#subscriber));
    // An own publisher is always a Redis of our own (opened from `url`).
    if (this.#publisher !== undefined && this.#ownPublisher)
      closing.push(quitClient(this.#publisher as Redis));
    await Promise.all(closing);
  }

  /** Sets up the publisher (given or own) and opens the subscriber connection, which the bus owns. */
  #openConnections(): Redis {
    const { client, url } = this.#options;
    const subscriberOptions = {
      ...redisClientOptions(),
      connectionName: this.#options.subscriberName,
      lazyConnect: false,
      // The bus subscribes itself on every `ready`, so it knows when the subscription
      // (not just the socket) is back before it reports `up`.
      autoResubscribe: false,
      // Commands in flight when the link drops reject at once: a PING never outlives its connection.
      maxRetriesPerRequest: 0,
      // Backs the heartbeat: a socket that stays silent this long after a PING is
      // destroyed and replaced, even if the kernel never reports it dead.
      socketTimeout: this.#options.heartbeatMs > 0 ? this.#options.heartbeatTimeoutMs * 3 : undefined,
    };
    if (isCluster(client)) {
      this.#publisher = client;
      this.#subscriber = openClusterSubscriber(client, this.#channel as string, subscriberOptions);
      return this.#subscriber;
    }
    if (client !== undefined) {
      this.#publisher = client;
      this.#subscriber = client.duplicate(subscriberOptions);
      return this.#subscriber;
    }
    // A publish while Redis is unreachable rejects at once rather than waiting in the
    // offline queue for the whole outage (the cache counts it as a bus error).
    this.#publisher = openRedisClient(url as string, 'tiercache-bus-pub', (error) => {
      this.#lastError = `publisher: ${error.message}`;
    });
    this.#ownPublisher = true;
    this.#subscriber = new Redis(url as string, subscriberOptions);
    return this.#subscriber;
  }

  /** Resolves on the first subscription; rejects after `startTimeoutMs` without one. */
  #firstSubscription(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#started = undefined;
        // No invalidation can reach the cache until subscribed: it bypasses L1 meanwhile,
        // and the late first subscription resyncs and reports the link up.
        this.#everUp = true;
        this.#status = 'down';
        try {
          // Never subscribed: nothing held was ever known current through this link.
          this.#listener?.onLinkChange?.(false);
        } catch {}
        reject(
          new TierCacheError(
            `redisBus could not subscribe to ${this.#channel} within ${this.#options.startTimeoutMs} ms` +
              `${this.#lastError ? `: ${this.#lastError}` : ''}; it keeps retrying in the background`,
          ),
        );
      }, this.#options.startTimeoutMs);
      timer.unref();
      this.#started = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject,
      };
    });
  }

  async #onReady(subscriber: Redis, heartbeat: SubscriberHeartbeat): Promise<void> {
    const connection = heartbeat.newConnection();
    const sentAt = Date.now();
    try {
      await this.#options.pubsub.subscribe(subscriber, this.#channel as string);
    } catch (error) {
      // The connection dropped again before the subscription landed: the next `ready` retries.
      this.#lastError = `subscribe: ${(error as Error).message}`;
      return;
    }
    if (this.#closed || !heartbeat.isCurrent(connection)) return;
    this.#knownGoodAt = Math.max(this.#knownGoodAt, sentAt);
    this.#markUp();
  }

  #onMessage(channel: Buffer, bytes: Buffer): void {
    if (this.#closed || !channel.equals(this.#channelBytes as Buffer)) return;
    const message = readBusMessage(bytes, this.#ownPrefix, this.#instanceId);
    if (message === undefined) {
      this.#stats.undecodable++;
      return;
    }
    this.#lastMessageAt = Date.now();
    if (message === OWN_MESSAGE) {
      this.#stats.ownDropped++;
      return;
    }
    this.#stats.delivered++;
    try {
      this.#listener?.onMessage(message);
    } catch (error) {
      this.#lastError = `listener.onMessage threw: ${(error as Error)?.message ?? String(error)}`;
    }
  }

  #markUp(): void {
    if (this.#closed || this.#status === 'up') return;
    this.#status = 'up';
    if (this.#started !== undefined) {
      this.#started.resolve();
      this.#started = undefined;
    }
    // The first subscription has nothing to make up for; every later one does.
    if (this.#everUp) this.#linkChanged(true);
    this.#everUp = true;
  }

  #markDown(reason: string): void {
    if (this.#closed) return;
    this.#lastError = reason;
    if (this.#status !== 'up') return;
    this.#status = 'down';
    this.#linkChanged(false);
  }

  /**
   * Tells the listener on both edges (see `BusListener.onLinkChange`): going down, the
   * link state (with the last moment it was known good) then a resync; coming up, a
   * resync then the link state.
   */
  #linkChanged(up: boolean): void {
    this.#stats.resyncs++;
    const listener = this.#listener;
    try {
      if (!up) listener?.onLinkChange?.(false, this.#knownGoodAt);
      listener?.onResync();
      if (up) listener?.onLinkChange?.(true);
    } catch (error) {
      this.#lastError = `listener threw: ${(error as Error)?.message ?? String(error)}`;
    }
  }
}
