import type { Recorder } from '../observability/recorder.js';
import type { BusOp, InvalidationBus } from './bus.js';

/**
 * The cache's side of publishing: keys published in the same tick share one message per
 * op, and a caller never waits on a hung link for longer than `waitMs`.
 */
export class PublishBatcher {
  readonly #bus: InvalidationBus;
  readonly #origin: string;
  readonly #waitMs: number;
  readonly #recorder: Recorder;
  readonly #queued = new Map<BusOp, string[]>();
  #flush: Promise<void> | undefined;

  /**
   * @param origin this instance's id, carried by every message.
   * @param waitMs longest a caller waits for a publish to be acknowledged.
   */
  constructor(bus: InvalidationBus, origin: string, waitMs: number, recorder: Recorder) {
    this.#bus = bus;
    this.#origin = origin;
    this.#waitMs = waitMs;
    this.#recorder = recorder;
  }

  /** The publish of the current tick, if one is queued (close() waits for it). */
  get pending(): Promise<void> | undefined {
    return this.#flush;
  }

  /** Queues `keys` under `op` for this tick's message; resolves once sent or `waitMs` passed. */
  publish(op: BusOp, keys: readonly string[]): Promise<void> {
    let queue = this.#queued.get(op);
    if (queue === undefined) {
      queue = [];
      this.#queued.set(op, queue);
    }
    for (const key of keys) queue.push(key);
    this.#flush ??= new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.#flush = undefined;
        const batches = [...this.#queued];
        this.#queued.clear();
        // A hung or reconnecting link (a paused Redis, an offline queue) would hold every
        // write and every load for the whole outage: callers wait at most #waitMs.
        // The message still goes out if the link answers later; a late failure is counted.
        const waited = setTimeout(resolve, this.#waitMs);
        Promise.all(batches.map(([batchOp, batchKeys]) => this.#send(batchOp, batchKeys))).then(() => {
          clearTimeout(waited);
          resolve();
        });
      });
    });
    return this.#flush;
  }

  async #send(op: BusOp, keys: string[]): Promise<void> {
    try {
      await this.#bus.publish({ origin: this.#origin, op, keys });
      this.#recorder.bus('published');
    } catch (error) {
      this.#recorder.bus('errors');
      this.#recorder.error(error);
    }
  }
}
