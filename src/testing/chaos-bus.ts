import type { BusHealth, BusListener, BusMessage, InvalidationBus } from '../bus/bus.js';
import { ChaosControls } from './chaos-controls.js';

/**
 * What a {@link ChaosBus} can disturb: `publish` (this instance's outgoing messages) and
 * `deliver` (messages from other instances on their way to this instance's listener).
 */
export type ChaosBusOp = 'publish' | 'deliver';

const BOTH: readonly ChaosBusOp[] = ['publish', 'deliver'];

/**
 * An {@link InvalidationBus} wrapper that fails, drops or holds messages on command, for
 * deterministic tests of what a cache does when invalidations are late, lost or refused
 * (no randomness, no timers). Wraps any bus: a {@link MemoryBus}, or a real one.
 * Commands apply until changed.
 *
 * - `fail(['publish'])`: `publish()` rejects at once with an Error, nothing is sent
 *   (`fail` does not apply to `deliver`: a receiver cannot refuse a message);
 * - `drop(ops)`: publishes resolve but are never sent (lost on the wire); deliveries are
 *   silently discarded (lost on the way in);
 * - `hold(op, when)`: the next publish or delivery waits until the gate is released. A
 *   publish held `'before'` reaches the inner bus on release; `'after'` reaches it at
 *   once and its promise settles on release. A held delivery reaches the listener on
 *   release, while later messages pass it (a message delayed on the wire);
 * - `linkDown()` / `linkUp()`: tells the listener the link went down or came back
 *   (`onResync()`, then `onLinkChange(up)`), reports `down` in `health()` meanwhile and
 *   discards deliveries, as a real bus does when its connection drops;
 * - `heal()`: stops failing and dropping.
 *
 * @example
 * ```ts
 * const hub = new MemoryBusHub();
 * const busA = new ChaosBus(hub.bus());
 * const a = new TieredCache({ namespace: 'app', bus: busA });
 * const b = new TieredCache({ namespace: 'app', bus: hub.bus() });
 * busA.drop(['publish']); // b never hears of a's writes
 * const gate = busA.hold('deliver'); // the next message for a waits
 * ```
 */
export class ChaosBus extends ChaosControls<ChaosBusOp, 'fail' | 'drop'> implements InvalidationBus {
  /** The wrapped bus. */
  readonly inner: InvalidationBus;
  readonly name: string;
  /** Every message given to `publish()`, failed, dropped or sent. */
  readonly published: BusMessage[] = [];
  /** Every message the inner bus delivered, before any disturbance. */
  readonly arrived: BusMessage[] = [];
  #listener: BusListener | undefined;
  #linkDown = false;

  /**
   * @param inner the bus to wrap (not started: start the wrapper instead).
   * @param options `name`: the bus's name (default the inner bus's).
   */
  constructor(inner: InvalidationBus, options: { name?: string } = {}) {
    super();
    this.inner = inner;
    this.name = options.name ?? inner.name;
  }

  /** `publish()` rejects at once until {@link heal}; `'deliver'` is ignored (see the class notes). */
  fail(ops: readonly ChaosBusOp[] = ['publish']): void {
    this.switches.set(
      'fail',
      ops.filter((op) => op === 'publish'),
    );
  }

  /** Messages of `ops` (default both) are lost until {@link heal}. */
  drop(ops: readonly ChaosBusOp[] = BOTH): void {
    this.switches.set('drop', ops);
  }

  /**
   * Reports the link down to the listener (once per change) and discards deliveries
   * until {@link linkUp}. `since`: the last moment the link was known to deliver, on the
   * cache's clock (default: none given, so the cache assumes the worst).
   */
  linkDown(since?: number): void {
    if (this.#linkDown) return;
    this.#linkDown = true;
    this.#linkChanged(false, since);
  }

  /** Reports the link back up to the listener (once per change). Messages lost meanwhile stay lost. */
  linkUp(): void {
    if (!this.#linkDown) return;
    this.#linkDown = false;
    this.#linkChanged(true);
  }

  /** Starts the inner bus with a listener that passes deliveries through the chaos. */
  start(namespace: string, instanceId: string, listener: BusListener): Promise<void> {
    this.#listener = listener;
    return this.inner.start(namespace, instanceId, {
      onMessage: (message) => this.#deliver(message),
      onResync: () => listener.onResync(),
      onLinkChange: (up, since) => listener.onLinkChange?.(up, since),
    });
  }

  /** Publishes through the inner bus, unless failing, dropping or holding says otherwise. */
  async publish(message: BusMessage): Promise<void> {
    this.published.push(message);
    const held = this.holds.next('publish');
    if (held?.when === 'before') {
      held.enter();
      await held.released;
    }
    if (this.switches.has('fail', 'publish')) throw new Error('chaos: publish failed on command');
    if (!this.switches.has('drop', 'publish')) await this.inner.publish(message);
    if (held?.when === 'after') {
      held.enter();
      await held.released;
    }
  }

  /** The inner bus's health, with status `down` while {@link linkDown} holds. */
  health(): BusHealth {
    const health = this.inner.health();
    return this.#linkDown ? { ...health, status: 'down' } : health;
  }

  /** Closes the inner bus (never disturbed). */
  close(): Promise<void> {
    return this.inner.close();
  }

  #deliver(message: BusMessage): void {
    this.arrived.push(message);
    if (this.#linkDown || this.switches.has('drop', 'deliver')) return;
    const held = this.holds.next('deliver');
    if (held === undefined) {
      this.#listener?.onMessage(message);
      return;
    }
    held.enter();
    void held.released.then(() => {
      // A delivery released after the link went down is lost with it.
      if (this.#linkDown) return;
      try {
        this.#listener?.onMessage(message);
      } catch {
        // As with the real buses, a throwing listener breaks nothing (the inner bus records it
        // for deliveries it makes itself; this one is made outside its call).
      }
    });
  }

  /** As the real buses do: the link state then a resync going down, a resync then the link state coming up. */
  #linkChanged(up: boolean, since?: number): void {
    if (!up) this.#listener?.onLinkChange?.(false, since);
    this.#listener?.onResync();
    if (up) this.#listener?.onLinkChange?.(true);
  }
}
