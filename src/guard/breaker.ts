import type { Clock } from '../options/clock.js';

/** A breaker's state, as reported by `health()`. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker: closed -> open after `failureThreshold` consecutive failures ->
 * half-open once `cooldownMs` has passed, letting one probe through at a time -> closed
 * on the probe's success, open again on its failure.
 */
export class Breaker {
  readonly #clock: Clock;
  readonly #failureThreshold: number;
  readonly #cooldownMs: number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  readonly #onChange: ((state: BreakerState, previous: BreakerState) => void) | undefined;

  /** @param onChange told of each change of state (for events and logs). */
  constructor(
    clock: Clock,
    failureThreshold: number,
    cooldownMs: number,
    onChange?: (state: BreakerState, previous: BreakerState) => void,
  ) {
    this.#clock = clock;
    this.#failureThreshold = failureThreshold;
    this.#cooldownMs = cooldownMs;
    this.#onChange = onChange;
  }

  #set(state: BreakerState): void {
    const previous = this.#state;
    this.#state = state;
    if (previous !== state) this.#onChange?.(state, previous);
  }

  /** The state as a caller would find it now (an open breaker past its cool-down is half-open). */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#cooldownMs) {
      return 'half-open';
    }
    return this.#state;
  }

  /** Consecutive failures so far (0 after a success). */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Lets a call through, or names why not: `'open'` within the cool-down, `'probing'`
   * while half-open with a probe in flight. A call let through half-open is the probe.
   */
  admit(): 'ok' | 'open' | 'probing' {
    if (this.#state === 'closed') return 'ok';
    if (this.#state === 'open') {
      if (this.#clock.now() - this.#openedAt < this.#cooldownMs) return 'open';
      this.#set('half-open');
    }
    // half-open: one probe at a time; the rest are turned away until it settles.
    if (this.#probing) return 'probing';
    this.#probing = true;
    return 'ok';
  }

  succeeded(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  failed(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.#failureThreshold) {
      this.#openedAt = this.#clock.now();
      this.#set('open');
    }
  }
}
