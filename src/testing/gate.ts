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
