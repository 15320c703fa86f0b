/**
 * What changed: keys carry no values, receivers only drop their L1 copies. For `tag`,
 * the keys are tags invalidated by `deleteByTag` (each at its version).
 */
export type BusOp = 'set' | 'delete' | 'clear' | 'tag';

/** One invalidation message. Keys are relative to the cache's namespace (as held in L1). */
export interface BusMessage {
  /** The sending instance's id; an instance ignores its own messages. */
  readonly origin: string;
  readonly op: BusOp;
  /** Affected keys; for `clear`, the key prefix cleared (`''` for the whole namespace). */
  readonly keys: readonly string[];
  /**
   * The version of each key's write or delete (for `clear`, of each prefix's clear),
   * aligned with `keys`: a receiver drops only L1 copies older than it. Absent in
   * messages from tiercache releases before versions, and from outside tiercache: the
   * receiver then drops its L1 copies whatever their version.
   */
  readonly versions?: readonly string[];
  /**
   * Set by a publisher that is not a cache (a database trigger's NOTIFY, a script):
   * the keys changed at their source, so receivers delete them from every tier (the
   * stores too, by a tombstone at a version of their own), not only from L1.
   */
  readonly external?: boolean;
  /**
   * Set by a cache whose write or delete did not reach every store (a breaker open, a
   * call that failed or timed out): until it repairs them, a store it missed may still
   * hold older data, so receivers refuse store entries of these keys older than
   * `versions` (see `Floors`). Ignored by releases before it.
   */
  readonly partial?: boolean;
}

/** What a bus calls back into the cache. */
export interface BusListener {
  /** Another instance changed these keys: drop them from L1. */
  onMessage(message: BusMessage): void;
  /**
   * Messages may have been lost: drop all of L1 (while the link is down, L1 is blind
   * and bounds its own staleness, so the cache only re-reads what else it tracks).
   */
  onResync(): void;
  /**
   * The link went down (`false`) or came back (`true`). While it is down the cache's L1
   * is blind: each entry is served as fresh for at most `l1.blindMaxAge` after it was
   * last known current. On the down edge, `since` is the last moment (ms since the
   * epoch) the link was known to deliver: the send time of the last heartbeat answered
   * on it; messages published after it may be lost. Without it the cache assumes the
   * worst. A bus calls `onLinkChange(false, since)` then `onResync()` on the down edge,
   * and `onResync()` then `onLinkChange(true)` on the up edge.
   */
  onLinkChange?(up: boolean, since?: number): void;
}

/** The bus's view of its own link, as reported by `health()`. */
export interface BusHealth {
  readonly status: 'up' | 'down' | 'connecting';
  /** ms since the epoch of the last message received, if any. */
  readonly lastMessageAt?: number;
  readonly lastError?: string;
}

/**
 * The writing side of a bus: what a process needs to tell other instances that keys
 * changed. The Redis and Postgres buses learn their channel in `start()`, so with them a
 * publisher is started too; a bus of your own may publish without subscribing.
 */
export interface BusPublisher {
  /** A short name, used in health and error messages (for example `redis`). */
  readonly name: string;
  /** Publishes a message to every other instance on the namespace. */
  publish(message: BusMessage): Promise<void>;
  /** Releases what the bus opened itself; idempotent. A later `publish()` rejects. */
  close(): Promise<void>;
}

/** The listening side of a bus: delivers other instances' messages and reports the link. */
export interface BusSubscriber {
  /** A short name, used in health and error messages (for example `redis`). */
  readonly name: string;
  /**
   * Subscribes to the namespace's channel and starts delivering messages from other
   * instances to `listener`. Resolves once subscribed. A bus serves one cache: a second
   * call rejects.
   */
  start(namespace: string, instanceId: string, listener: BusListener): Promise<void>;
  /** The state of the link. */
  health(): BusHealth;
  /** Unsubscribes and releases what the bus opened itself; idempotent. No delivery after it. */
  close(): Promise<void>;
}

/**
 * Carries invalidations between instances sharing a namespace: both roles, a
 * {@link BusPublisher} and a {@link BusSubscriber}. A bus is attached to one cache; the
 * Redis pub/sub and Postgres LISTEN/NOTIFY buses implement it, and `tiercache/testing`
 * has an in-memory one.
 */
export interface InvalidationBus extends BusPublisher, BusSubscriber {
  readonly name: string;
  /** Where the bus connects (`host:port/db`; never a password), for error messages and logs. */
  readonly endpoint?: string;
  /**
   * Subscribes to the namespace's channel and starts delivering messages from other
   * instances to `listener`. Resolves once subscribed.
   */
  start(namespace: string, instanceId: string, listener: BusListener): Promise<void>;
  /** Publishes a message to every other instance. */
  publish(message: BusMessage): Promise<void>;
  /** The state of the link. */
  health(): BusHealth;
  /** Unsubscribes and releases what the bus opened itself. */
  close(): Promise<void>;
}

/** The channel name for a namespace: carries a wire version so two versions can run side by side. */
export function busChannel(namespace: string): string {
  return `tiercache:v1:${namespace}`;
}

// Validation of received messages lives in message.ts; re-exported for existing importers.
export { toBusMessage } from './message.js';
