import { BulkheadFullError } from '../errors.js';

/** A place in the bulkhead's queue. */
export interface Waiter {
  /** Resolves when the permit is this caller's. */
  readonly granted: Promise<void>;
  /** Leaves the queue (a hard timeout, a close). A permit granted meanwhile is passed on to the next. */
  cancel(): void;
}

/**
 * A counting semaphore: the bulkhead behind `maxConcurrentLoads`, with an optional bound
 * on how many may wait (`maxQueuedLoads`). Waiters are served in arrival order; a
 * waiter that leaves (timed out) gives up its place, and a permit it was handed goes on
 * to the next.
 */
export class Semaphore {
  #available: number;
  readonly #maxQueued: number;
  readonly #queue: Array<() => void> = [];

  constructor(permits: number, maxQueued = Number.POSITIVE_INFINITY) {
    this.#available = permits;
    this.#maxQueued = maxQueued;
  }

  /** Takes a permit if one is free (no waiting needed). */
  tryAcquire(): boolean {
    if (this.#available === 0) return false;
    this.#available--;
    return true;
  }

  /**
   * Joins the queue for a permit.
   * @throws BulkheadFullError naming `key` when `maxQueuedLoads` callers already wait.
   */
  wait(key: string): Waiter {
    if (this.#queue.length >= this.#maxQueued) throw new BulkheadFullError(key, this.#maxQueued);
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = resolve;
    });
    let done = false;
    const place = () => {
      done = true;
      grant();
    };
    this.#queue.push(place);
    return {
      granted,
      cancel: () => {
        if (done) {
          // Granted in the same turn as the timeout: the permit is not used, pass it on.
          this.release();
          return;
        }
        const at = this.#queue.indexOf(place);
        if (at >= 0) this.#queue.splice(at, 1);
      },
    };
  }

  release(): void {
    const next = this.#queue.shift();
    if (next !== undefined) next();
    else this.#available++;
  }
}
