/** What changed: keys carry no values, receivers only drop their L1 copies. */
export type BusOp = 'set' | 'delete' | 'clear';

/** One invalidation message. Keys are relative to the cache's namespace (as held in L1). */
export interface BusMessage {
  /** The sending instance's id; an instance ignores its own messages. */
  readonly origin: string;
  readonly op: BusOp;
  /** Affected keys; for `clear`, the key prefix cleared (`''` for the whole namespace). */
  readonly keys: readonly string[];
}

/** What a bus calls back into the cache. */
export interface BusListener {
  /** Another instance changed these keys: drop them from L1. */
  onMessage(message: BusMessage): void;
  /** Messages may have been lost (link dropped or detected dead): drop all of L1. */
  onResync(): void;
  /**
   * The link went down (`false`) or came back (`true`). While it is down the cache
   * bypasses L1, since no invalidation can reach it. A bus calls `onResync()` as well
   * on both edges.
   */
  onLinkChange?(up: boolean): void;
}

/** The bus's view of its own link, as reported by `health()`. */
export interface BusHealth {
  readonly status: 'up' | 'down' | 'connecting';
  /** ms since the epoch of the last message received, if any. */
  readonly lastMessageAt?: number;
  readonly lastError?: string;
}

/**
 * Carries invalidations between instances sharing a namespace. A bus is attached to
 * one cache; the Redis pub/sub and Postgres LISTEN/NOTIFY buses implement it.
 */
export interface InvalidationBus {
  readonly name: string;
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

const OPS: ReadonlySet<string> = new Set<BusOp>(['set', 'delete', 'clear']);

/**
 * A decoded wire value as a {@link BusMessage}, or `undefined` if it is not one. Buses
 * use it on whatever they receive: a malformed message is dropped, never thrown.
 */
export function toBusMessage(raw: unknown): BusMessage | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const { origin, op, keys } = raw as Record<string, unknown>;
  if (typeof origin !== 'string' || typeof op !== 'string' || !OPS.has(op) || !Array.isArray(keys)) {
    return undefined;
  }
  if (!keys.every((key) => typeof key === 'string')) return undefined;
  return { origin, op: op as BusOp, keys: keys as string[] };
}
