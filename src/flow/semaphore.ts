/**
 * A counting semaphore: the bulkhead behind `maxConcurrentLoads`. Waiters are served
 * in arrival order.
 */
export class Semaphore {
  #available: number;
  readonly #waiters: Array<() => void> = [];

  constructor(permits: number) {
    this.#available = permits;
  }

  /** `undefined` when a permit was free (no await needed), else a promise of one. */
  acquire(): Promise<void> | undefined {
    if (this.#available > 0) {
      this.#available--;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) next();
    else this.#available++;
  }
}
