/**
 * The calls started in one turn of the event loop: `at` is when that turn ended (NaN
 * until then), the moment their commands could first be on the wire.
 */
interface Turn {
  at: number;
}

/** One call waiting on its deadline; `expire` is cleared once it settles. */
export interface PendingCall {
  /** When it started (performance.now() ms). */
  readonly start: number;
  /** The turn of the event loop it started in. */
  readonly turn: Turn;
  /** When it times out whatever the store answers meanwhile. */
  readonly limit: number;
  expire: (() => void) | undefined;
}

/**
 * How many plain timeouts a call may wait in all while the store keeps answering other
 * calls (a burst queued in the client or the pool, not an outage).
 */
export const BUSY_TIMEOUTS = 10;

/**
 * Timeouts for a guard's calls that measure the store, not the queue in front of it.
 *
 * A call times out when the store has answered nothing for the timeout: neither it nor
 * any other call since the later of the end of the event-loop turn it started in (a
 * burst's own synchronous work, encoding 1,000 values, is ours, not the store's) and
 * the last answer (`progress`). While
 * answers keep coming, a call queued behind a burst (1,000 concurrent writes on one
 * connection, a pool's waiting list) waits up to {@link BUSY_TIMEOUTS} timeouts instead
 * of failing as if the store were down; a paused or unreachable store answers nothing,
 * so every call still times out after one timeout. And a deadline is checked after the
 * event loop has read the sockets (`setImmediate` from the timer): answers already
 * received while the loop was busy elsewhere are taken first, not counted as timeouts.
 *
 * Without a timer per call (a `setTimeout` plus a `Promise.race` cost more than a Redis
 * GET's own client work): calls with the plain timeout join a queue in start order,
 * which is deadline order, watched by one timer armed for the oldest unsettled call.
 * Calls with a scaled timeout (large batches, rare) get a timer of their own.
 *
 * A settled call leaves the queue as soon as every call ahead of it has settled too
 * (answers come in order on a connection), not when the timer next fires: held until
 * then, every call of the last timeout (15,000 at 15,000 calls/s and a 1 s timeout)
 * outlived the young generation, and the garbage collector copied and promoted them all.
 */
export class Deadlines {
  #queue: Array<PendingCall | undefined> = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #plain = -1;
  /** When the store last answered a call (performance.now() ms). */
  #progress = Number.NEGATIVE_INFINITY;
  /** The current turn of the event loop, until its end is recorded. */
  #turn: Turn | undefined;

  add(timeoutMs: number, now: number, expire: () => void): PendingCall {
    if (this.#plain === -1) this.#plain = timeoutMs;
    let turn = this.#turn;
    if (turn === undefined) {
      turn = { at: Number.NaN };
      this.#turn = turn;
      setImmediate(this.#endTurn);
    }
    const call: PendingCall = { start: now, turn, limit: now + timeoutMs * BUSY_TIMEOUTS, expire };
    if (timeoutMs !== this.#plain) {
      const timer = setTimeout(() => setImmediate(() => this.#expire(call)), timeoutMs);
      timer.unref();
      return call;
    }
    this.#queue.push(call);
    if (this.#timer === undefined) this.#arm(now + timeoutMs);
    return call;
  }

  readonly #endTurn = (): void => {
    const turn = this.#turn;
    this.#turn = undefined;
    if (turn !== undefined) turn.at = performance.now();
  };

  /**
   * Marks the call settled; false if its deadline already passed (it was failed). `now`
   * (performance.now()), when given, records that the store answered: calls queued
   * behind it get their time from here.
   */
  settle(call: PendingCall, now?: number): boolean {
    if (now !== undefined && now > this.#progress) this.#progress = now;
    if (call.expire === undefined) return false;
    call.expire = undefined;
    if (this.#queue[this.#head] === call) this.#dropSettled();
    return true;
  }

  /** Calls waiting on the plain timeout, settled ones behind an unsettled call included. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Drops the settled calls at the head of the queue (the timer, still armed, finds the rest). */
  #dropSettled(): void {
    const queue = this.#queue;
    let head = this.#head;
    while (head < queue.length && (queue[head] as PendingCall).expire === undefined)
      queue[head++] = undefined;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    this.#head = head;
  }

  /** When `call` times out, as things stand. */
  #due(call: PendingCall): number {
    const sent = Number.isNaN(call.turn.at) ? call.start : call.turn.at;
    return Math.min(call.limit, Math.max(sent, this.#progress) + this.#plain);
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

  // After the poll phase: answers the socket already holds settle their calls first.
  readonly #fire = (): void => {
    setImmediate(this.#check);
  };

  readonly #check = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const call = queue[this.#head] as PendingCall;
      // Dues keep start order (starts, turns and limits do; progress is common to all).
      if (call.expire !== undefined && this.#due(call) > now) break;
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
    this.#arm(this.#due(this.#queue[this.#head] as PendingCall));
  };
}
