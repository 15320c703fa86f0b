/**
 * A held call: `entered` settles when the call arrives, `release()` lets it go on (to the
 * inner store or bus, or back to its caller). Returned by `ChaosStore.hold` and
 * `ChaosBus.hold`.
 */
export interface Gate {
  /** Settles when the held call arrives. */
  readonly entered: Promise<void>;
  /** Lets the held call go on. Idempotent. */
  release(): void;
}

/** The wrapper's side of a {@link Gate}: what it calls when the call arrives, and what it awaits. */
export interface HeldCall {
  /** Settles the gate's `entered`. */
  readonly enter: () => void;
  /** Settles when the test calls `release()`. */
  readonly released: Promise<void>;
}

/** A new gate: the test's side and the wrapper's side. */
export function openGate(): { gate: Gate; held: HeldCall } {
  let enter!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { gate: { entered, release }, held: { enter, released } };
}

/** The held calls a chaos wrapper has queued, per operation: one gate per `add`, taken in order. */
export class Holds<Op extends string> {
  readonly #queues = new Map<Op, Array<HeldCall & { when: 'before' | 'after' }>>();

  /** Queues a hold for the next call of `op`; the test keeps the gate. */
  add(op: Op, when: 'before' | 'after'): Gate {
    const { gate, held } = openGate();
    const queue = this.#queues.get(op) ?? [];
    queue.push({ ...held, when });
    this.#queues.set(op, queue);
    return gate;
  }

  /** The hold for the call of `op` arriving now, if one is queued. */
  next(op: Op): (HeldCall & { when: 'before' | 'after' }) | undefined {
    return this.#queues.get(op)?.shift();
  }
}

/** Which operations a chaos wrapper disturbs in which way (`fail`, `hang`, `drop`), until healed. */
export class Switches<Op extends string, Mode extends string> {
  #on = new Map<Mode, Set<Op>>();

  /** Turns `mode` on for `ops`. */
  set(mode: Mode, ops: readonly Op[]): void {
    const set = this.#on.get(mode) ?? new Set<Op>();
    for (const op of ops) set.add(op);
    this.#on.set(mode, set);
  }

  has(mode: Mode, op: Op): boolean {
    return this.#on.get(mode)?.has(op) ?? false;
  }

  /** Turns every mode off. */
  clear(): void {
    this.#on = new Map();
  }
}

/**
 * What {@link ChaosStore} and {@link ChaosBus} share: switches that disturb operations
 * until {@link heal}, and holds that stop the next call of an operation at a gate.
 */
export abstract class ChaosControls<Op extends string, Mode extends string> {
  /** Which operations are disturbed how; cleared by {@link heal}. */
  protected readonly switches = new Switches<Op, Mode>();
  /** Calls to stop at a gate, per operation. */
  protected readonly holds = new Holds<Op>();

  /** Stops every disturbance switched on (failing, hanging, dropping). Holds already set stay. */
  heal(): void {
    this.switches.clear();
  }

  /**
   * Holds the next call of `op` at a gate; several holds queue up, one per call.
   * `'before'` (default): the call waits before it reaches the inner store or bus, so it
   * lands on release. `'after'`: it lands at once, and its reply waits for release (a
   * reply slow on the wire). Each wrapper says what a hold means for its own operations.
   */
  hold(op: Op, when: 'before' | 'after' = 'before'): Gate {
    return this.holds.add(op, when);
  }
}
