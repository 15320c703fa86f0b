import type { Clock } from '../options/clock.js';

/**
 * A clock that moves only when a test says so. Pass it as the cache's `clock` option
 * (and to a {@link MemoryStore}); freshness and expiry then depend on `advance()`, never
 * on the wall clock. Timers are not faked: combine with `vi.useFakeTimers()` for those.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const cache = new TieredCache({ namespace: 'test', clock, ttl: '1m' });
 * clock.advance(61_000); // every entry is now expired
 * ```
 */
export class FakeClock implements Clock {
  #t: number;

  /** @param start the first time reported, in ms since the epoch. Default 1 700 000 000 000 (Nov 2023). */
  constructor(start = 1_700_000_000_000) {
    this.#t = start;
  }

  /** The current fake time, in ms since the epoch. */
  now(): number {
    return this.#t;
  }

  /**
   * Moves time forward by `ms` (never back: caches assume a monotonic clock).
   * @throws RangeError when `ms` is negative or NaN.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    this.#t += ms;
  }
}
