import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { AbstractConnector, type Cluster, Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { isCluster, refreshedSlots, slotOf } from './slots.js';

/**
 * How the bus talks pub/sub:
 *
 * - `'sharded'`: `SPUBLISH` / `SSUBSCRIBE` (Redis 7). On a cluster a message travels
 *   only within the shard that owns the channel's slot (its master and replicas), so
 *   pub/sub traffic grows with the shard, not the whole cluster; the subscriber is
 *   connected to that shard's master and must follow it through a failover. All of a
 *   namespace's messages go through that one shard (one channel per namespace).
 * - `'classic'`: `PUBLISH` / `SUBSCRIBE`. On a cluster every message is broadcast over
 *   the cluster bus to every node, whichever node it was published on: simplest, works
 *   on any Redis, but each message costs every node, which limits large clusters.
 */
export type PubSubMode = 'sharded' | 'classic';

/** The commands and event of one {@link PubSubMode}. */
export interface PubSubCommands {
  readonly mode: PubSubMode;
  /** The subscriber's event for a message, with channel and payload as bytes. */
  readonly messageEvent: 'messageBuffer' | 'smessageBuffer';
  subscribe(subscriber: Redis, channel: string): Promise<unknown>;
  publish(publisher: Redis | Cluster, channel: string, message: Buffer): Promise<unknown>;
}

const SHARDED: PubSubCommands = {
  mode: 'sharded',
  messageEvent: 'smessageBuffer',
  subscribe: (subscriber, channel) => subscriber.ssubscribe(channel),
  publish: (publisher, channel, message) => publisher.spublish(channel, message),
};

const CLASSIC: PubSubCommands = {
  mode: 'classic',
  messageEvent: 'messageBuffer',
  subscribe: (subscriber, channel) => subscriber.subscribe(channel),
  // A cluster sends a keyless PUBLISH to a random node, and messages published on two
  // nodes may cross on the cluster bus: published on one node (the channel slot's
  // master, where the subscriber is too), they arrive in order.
  publish: (publisher, channel, message) =>
    (isCluster(publisher) ? nodeOf(publisher, slotOf(channel)) : publisher).publish(channel, message),
};

/**
 * The commands of the bus's `pubsub` option: `'sharded'` by default on a cluster,
 * `'classic'` on a single node (sharded works there too, on Redis 7).
 *
 * @throws InvalidOptionError when `mode` is neither.
 */
export function pubSubCommands(mode: unknown, onCluster: boolean): PubSubCommands {
  const chosen = mode ?? (onCluster ? 'sharded' : 'classic');
  if (chosen === 'sharded') return SHARDED;
  if (chosen === 'classic') return CLASSIC;
  throw new InvalidOptionError('pubsub', "'sharded' or 'classic'", mode);
}

/**
 * The bus's subscriber on a cluster: a plain connection (subscriber mode needs one
 * socket) to the master that owns `channel`'s slot, found anew on every (re)connect.
 * So when that master fails and its replica takes over, the subscriber's next
 * reconnect lands on the new master; the bus subscribes again on its `ready` as on a
 * single node, and its heartbeat PINGs the shard the channel lives on.
 *
 * ioredis' own `shardedSubscribers` resubscribes behind the caller's back, with no
 * event saying when the subscription is back nor a way to PING that connection: the
 * bus would not know when to resync, so it keeps a connection of its own.
 */
export function openClusterSubscriber(cluster: Cluster, channel: string, options: RedisOptions): Redis {
  const slot = slotOf(channel);
  return new Redis({
    ...cluster.options.redisOptions,
    ...options,
    Connector: class extends ShardOwnerConnector {
      constructor(connectorOptions: unknown) {
        super(connectorOptions as RedisOptions, cluster, slot);
      }
    },
  });
}

/** Connects to the current master of one slot: the slot map refreshed first, briefly. */
class ShardOwnerConnector extends AbstractConnector {
  readonly #options: RedisOptions;
  readonly #cluster: Cluster;
  readonly #slot: number;

  constructor(options: RedisOptions, cluster: Cluster, slot: number) {
    super(options.disconnectTimeout ?? 0);
    this.#options = options;
    this.#cluster = cluster;
    this.#slot = slot;
  }

  async connect(): Promise<import('node:net').Socket> {
    this.connecting = true;
    await refreshedSlots(this.#cluster);
    // Rejecting would end the client for good (ioredis does not retry a connector that
    // fails): an address that turns out dead fails as a socket error and is retried.
    const { host, port } = ownerOf(this.#cluster, this.#slot);
    const tls = this.#options.tls;
    const stream = tls ? tlsConnect({ host, port, ...tls }) : createConnection({ host, port });
    stream.once('error', (error) => {
      this.firstError = error;
    });
    this.stream = stream;
    return stream;
  }
}

/** The cluster's connection to the master of `slot`, else to any master it knows, else the cluster itself. */
function nodeOf(cluster: Cluster, slot: number): Redis | Cluster {
  const owner = cluster.slots[slot]?.[0];
  const masters = cluster.nodes('master');
  return (
    masters.find((node) => `${node.options.host}:${node.options.port}` === owner) ?? masters[0] ?? cluster
  );
}

/** The master of `slot` in the cluster's map; else any node it knows; else its first startup node. */
function ownerOf(cluster: Cluster, slot: number): { host: string; port: number } {
  const owner = cluster.slots[slot]?.[0];
  if (owner !== undefined) {
    const at = owner.lastIndexOf(':');
    return { host: owner.slice(0, at), port: Number(owner.slice(at + 1)) };
  }
  const known = cluster.nodes('master')[0] ?? cluster.nodes()[0];
  if (known !== undefined)
    return { host: known.options.host ?? '127.0.0.1', port: known.options.port ?? 6379 };
  const [first] = (
    cluster as unknown as { startupNodes: Array<string | number | { host?: string; port?: number }> }
  ).startupNodes;
  if (typeof first === 'object') return { host: first.host ?? '127.0.0.1', port: first.port ?? 6379 };
  if (typeof first === 'number') return { host: '127.0.0.1', port: first };
  const url = new URL(String(first).includes('://') ? String(first) : `redis://${first}`);
  return { host: url.hostname, port: Number(url.port || 6379) };
}
