// Most keys under a fail-safe throttle at once.
const MAX_THROTTLED = 10_000;

/**
 * The fail-safe throttle, by key: until when a stale value is served without calling
 * the loader again. Kept apart from the entry, so nothing mistakes that value for fresh.
 * Ended by a write, a delete, a clear or a successful load of the key.
 */
export class FailSafeThrottle {
  readonly #until = new Map<string, number>();

  /** Serves the stale value of `key` without loading until `until` (ms since the epoch). */
  start(key: string, until: number): void {
    // Bounded: forgetting throttles costs only extra loader calls.
    if (this.#until.size >= MAX_THROTTLED) this.#until.clear();
    this.#until.set(key, until);
  }

  /** A fresh value was stored, or the key was invalidated: its throttle is over. */
  end(key: string): void {
    this.#until.delete(key);
  }

  endAll(): void {
    this.#until.clear();
  }

  /** Whether a fail-safe activation still keeps loads of `key` away at `now`. */
  holds(key: string, now: number): boolean {
    if (this.#until.size === 0) return false;
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#until.delete(key);
    return false;
  }
}
