import { BusUnavailableError } from '../errors.js';
import type { Recorder } from '../observability/recorder.js';
import type { BusOp, InvalidationBus } from './bus.js';

/** Keys and their versions queued for one message of this tick. */
interface Batch {
  readonly op: BusOp;
  readonly keys: string[];
  readonly versions: string[] | undefined;
  readonly partial: boolean;
}

/**
 * The cache's side of publishing: keys published in the same tick share one message per
 * op, and a caller never waits on a hung link for longer than `waitMs`.
 */
export class PublishBatcher {
  readonly #bus: InvalidationBus;
  readonly #origin: string;
  readonly #waitMs: number;
  readonly #recorder: Recorder;
  /** Keys and their versions queued for this tick's message, per op. */
  readonly #queued = new Map<string, Batch>();
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

  /**
   * Queues `keys` under `op` for this tick's message, each at its version (`versions`
   * aligned with `keys`, or one version for all; `undefined`: a message without versions,
   * whose receivers drop their copies whatever their version); `partial` when the write
   * missed a store (its own message: see `BusMessage.partial`); resolves once sent or
   * `waitMs` passed.
   */
  publish(
    op: BusOp,
    keys: readonly string[],
    versions: string | readonly string[] | undefined,
    partial = false,
  ): Promise<void> {
    const slot = versions === undefined ? 'unversioned' : partial ? `${op}!` : op;
    let queue = this.#queued.get(slot);
    if (queue === undefined) {
      queue = { op, keys: [], versions: versions === undefined ? undefined : [], partial };
      this.#queued.set(slot, queue);
    }
    for (let i = 0; i < keys.length; i++) {
      queue.keys.push(keys[i] as string);
      queue.versions?.push(typeof versions === 'string' ? versions : (versions?.[i] as string));
    }
    this.#flush ??= new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.#flush = undefined;
        const batches = [...this.#queued];
        this.#queued.clear();
        // A hung or reconnecting link (a paused Redis, an offline queue) would hold every
        // write and every load for the whole outage: callers wait at most #waitMs, and
        // not at all while the bus reports its link down (blind mode: no one would hear).
        // The message still goes out if the link answers later; a late failure is counted.
        const sent = Promise.all(batches.map(([, batch]) => this.#send(batch)));
        if (this.#bus.health().status === 'down') {
          resolve();
          return;
        }
        const waited = setTimeout(resolve, this.#waitMs);
        sent.then(() => {
          clearTimeout(waited);
          resolve();
        });
      });
    });
    return this.#flush;
  }

  async #send({ op, keys, versions, partial }: Batch): Promise<void> {
    try {
      await this.#bus.publish({
        origin: this.#origin,
        op,
        keys,
        ...(versions !== undefined ? { versions } : {}),
        ...(partial ? { partial } : {}),
      });
      this.#recorder.bus('published');
    } catch (error) {
      this.#recorder.bus('errors');
      const bus = this.#bus;
      const reason = (error as Error | undefined)?.message ?? String(error);
      this.#recorder.error(
        new BusUnavailableError(bus.name, `publish failed: ${reason}`, {
          cause: error,
          endpoint: bus.endpoint,
        }),
        'bus',
      );
    }
  }
}
