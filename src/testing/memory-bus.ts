import type { BusHealth, BusListener, BusMessage, InvalidationBus } from '../bus/bus.js';
import { busHealth, checkOutgoingVersions } from '../bus/message.js';
import { TierCacheError } from '../errors.js';

/**
 * The shared medium of {@link MemoryBus}es: what a Redis server or a Postgres database is
 * to the real buses. Buses made from one hub reach each other; buses of different hubs
 * never do. One hub per test keeps tests apart.
 *
 * @example
 * ```ts
 * const hub = new MemoryBusHub();
 * const a = new TieredCache({ namespace: 'app', bus: hub.bus() });
 * const b = new TieredCache({ namespace: 'app', bus: hub.bus() });
 * await Promise.all([a.ready(), b.ready()]);
 * await a.set('k', 1); // b drops its L1 copy of `k`
 * hub.setLink(false); // a network partition: every bus reports the link down
 * ```
 */
export class MemoryBusHub {
  readonly #buses = new Set<MemoryBus>();

  /** A new bus on this hub, not started yet. Same as `new MemoryBus(hub)`. */
  bus(): MemoryBus {
    return new MemoryBus(this);
  }

  /** The buses started and not closed, in the order they started. */
  get buses(): readonly MemoryBus[] {
    return [...this.#buses];
  }

  /**
   * Takes every bus's link down (`false`) or back up (`true`), as an outage of the
   * server all of them talk through would. See {@link MemoryBus.setLink}.
   */
  setLink(up: boolean): void {
    for (const bus of this.#buses) bus.setLink(up);
  }

  /** @internal Called by a bus on `start()`. */
  join(bus: MemoryBus): void {
    this.#buses.add(bus);
  }

  /** @internal Called by a bus on `close()`. */
  leave(bus: MemoryBus): void {
    this.#buses.delete(bus);
  }

  /**
   * @internal Hands a message to every bus on `namespace`, the sender included: each
   * drops it if the origin is its own, as a real subscriber does. Delivery is a
   * microtask later, in publish order, never inside `publish()`.
   */
  broadcast(namespace: string, message: BusMessage): void {
    const receivers = [...this.#buses].filter((bus) => bus.namespace === namespace);
    queueMicrotask(() => {
      for (const bus of receivers) bus.receive(message);
    });
  }
}

/**
 * An in-memory {@link InvalidationBus} for tests of several caches in one process: every
 * bus made from one {@link MemoryBusHub} and started on the same namespace receives the
 * others' messages. It follows the real buses' contract (the bus conformance suite
 * checks both):
 *
 * - messages whose `origin` is the bus's own instance id are not delivered back;
 * - delivery is asynchronous (a microtask after `publish()`), in publish order, and each
 *   receiver gets its own copy of the keys;
 * - `start()` resolves with the link `up` and calls neither `onResync()` nor
 *   `onLinkChange()`; a second `start()`, or one after `close()`, rejects with a
 *   `TierCacheError`;
 * - `publish()` rejects with a `TierCacheError` before `start()`, after `close()`, and
 *   while the link is down (as a publish to an unreachable server fails);
 * - {@link setLink} takes the link down or back up: `onLinkChange(false, since)` then
 *   `onResync()` going down, `onResync()` then `onLinkChange(true)` coming up, and
 *   messages published while down are lost to it;
 * - a listener that throws is recorded in `health().lastError`, and delivery goes on;
 * - `close()` is idempotent and stops delivery at once.
 */
export class MemoryBus implements InvalidationBus {
  readonly name = 'memory';
  readonly #hub: MemoryBusHub;
  #namespace: string | undefined;
  #instanceId = '';
  #listener: BusListener | undefined;
  #status: BusHealth['status'] = 'connecting';
  #lastMessageAt: number | undefined;
  #lastError: string | undefined;
  #closed = false;

  /** @param hub the medium shared with the other buses (default: a hub of its own). */
  constructor(hub: MemoryBusHub = new MemoryBusHub()) {
    this.#hub = hub;
  }

  /** The namespace given to `start()`, or `undefined` before it. */
  get namespace(): string | undefined {
    return this.#namespace;
  }

  /** Subscribes to `namespace` on the hub; resolves with the link up. */
  async start(namespace: string, instanceId: string, listener: BusListener): Promise<void> {
    if (this.#closed) throw new TierCacheError('Cannot start a closed memoryBus');
    if (this.#listener !== undefined) {
      throw new TierCacheError('memoryBus.start() was already called: a bus serves one cache');
    }
    this.#namespace = namespace;
    this.#instanceId = instanceId;
    this.#listener = listener;
    this.#status = 'up';
    this.#hub.join(this);
  }

  /** Sends `message` to every bus on the namespace (see the class notes for when it rejects). */
  async publish(message: BusMessage): Promise<void> {
    if (this.#closed) throw new TierCacheError('memoryBus.publish() called after close()');
    if (this.#namespace === undefined) throw new TierCacheError('memoryBus.publish() called before start()');
    if (this.#status !== 'up') throw new TierCacheError('memoryBus.publish(): the link is down');
    // As the real wires do: versions not aligned with the keys would be dropped by every receiver.
    checkOutgoingVersions(message, 'memoryBus');
    // A copy: what the caller does with its array afterwards cannot change what is delivered.
    this.#hub.broadcast(this.#namespace, copyMessage(message));
  }

  /** The link's state: `connecting` before `start()`, `up`, or `down` (after `setLink(false)` or `close()`). */
  health(): BusHealth {
    return busHealth(this.#status, this.#lastMessageAt, this.#lastError);
  }

  /**
   * Takes this bus's link down (`false`) or back up (`true`), as a dropped and restored
   * connection would: on each actual change the listener is told (see the class notes).
   * While down, nothing is delivered to it and its publishes reject. A bus not started,
   * or closed, ignores it. `since`: going down, the last moment the link was known to
   * deliver, on the cache's clock (default: none given, so the cache assumes the worst).
   */
  setLink(up: boolean, since?: number): void {
    if (this.#closed || this.#listener === undefined) return;
    if (up === (this.#status === 'up')) return;
    this.#status = up ? 'up' : 'down';
    if (!up) this.#lastError = 'link taken down by setLink(false)';
    this.#call((listener) => {
      if (!up) listener.onLinkChange?.(false, since);
      listener.onResync();
      if (up) listener.onLinkChange?.(true);
    });
  }

  /** Leaves the hub; idempotent. Nothing is delivered after it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#status = 'down';
    this.#hub.leave(this);
  }

  /** @internal Called by the hub: one message from the namespace. */
  receive(message: BusMessage): void {
    if (this.#closed || this.#status !== 'up') return;
    this.#lastMessageAt = Date.now();
    if (message.origin === this.#instanceId) return;
    const copy = copyMessage(message);
    this.#call((listener) => listener.onMessage(copy));
  }

  /** Calls the listener; what it throws is recorded, never passed on to the hub or the publisher. */
  #call(action: (listener: BusListener) => void): void {
    const listener = this.#listener;
    if (listener === undefined) return;
    try {
      action(listener);
    } catch (error) {
      this.#lastError = `listener threw: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}

/** A copy of a message's arrays, `versions` only when it has them (a real wire's decoding does the same). */
function copyMessage(message: BusMessage): BusMessage {
  const { origin, op, keys, versions, external, partial } = message;
  // Every field a real wire carries: a `partial` lost here would leave receivers serving
  // what a store still holds from before a write that missed it (floors never raised).
  return {
    origin,
    op,
    keys: [...keys],
    ...(versions !== undefined ? { versions: [...versions] } : {}),
    ...(external === true ? { external } : {}),
    ...(partial === true ? { partial } : {}),
  };
}
