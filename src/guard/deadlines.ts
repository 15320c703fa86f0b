/** One call waiting on its deadline; `expire` is cleared once it settles. */
export interface PendingCall {
  readonly deadline: number;
  expire: (() => void) | undefined;
}

/**
 * Timeouts for a guard's calls without a timer per call: a per-call `setTimeout` plus a
 * `Promise.race` cost more than a Redis GET's own client work. Calls with the guard's
 * plain timeout join a queue in start order, which is deadline order, watched by one
 * timer armed for the oldest unsettled call; settled calls are dropped lazily. Calls
 * with a scaled timeout (large batches, rare) get a timer of their own.
 */
export class Deadlines {
  #queue: PendingCall[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #plain = -1;

  add(timeoutMs: number, now: number, expire: () => void): PendingCall {
    if (this.#plain === -1) this.#plain = timeoutMs;
    const call: PendingCall = { deadline: now + timeoutMs, expire };
    if (timeoutMs !== this.#plain) {
      const timer = setTimeout(() => this.#expire(call), timeoutMs);
      timer.unref();
      return call;
    }
    this.#queue.push(call);
    if (this.#timer === undefined) this.#arm(call.deadline);
    return call;
  }

  /** Marks the call settled; false if its deadline already passed (it was failed). */
  settle(call: PendingCall): boolean {
    if (call.expire === undefined) return false;
    call.expire = undefined;
    return true;
  }

  #expire(call: PendingCall): void {
    const expire = call.expire;
    call.expire = undefined;
    expire?.();
  }

  #arm(deadline: number): void {
    // +1: a timer may fire a fraction of a ms early relative to performance.now().
    this.#timer = setTimeout(this.#fire, Math.max(0, deadline - performance.now()) + 1);
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const call = queue[this.#head] as PendingCall;
      if (call.expire !== undefined && call.deadline > now) break;
      this.#head++;
      this.#expire(call);
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    this.#arm((this.#queue[this.#head] as PendingCall).deadline);
  };
}
