import type { Clock } from '../../src/options/clock.js';

/**
 * A clock that moves only when a test says so. Pass it as the cache's `clock` option;
 * freshness and expiry then depend on `advance()`, never on the wall clock.
 */
export class FakeClock implements Clock {
  #t: number;

  constructor(start = 1_700_000_000_000) {
    this.#t = start;
  }

  now(): number {
    return this.#t;
  }

  /** Moves time forward by `ms` (never back: caches assume a monotonic clock). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    this.#t += ms;
  }
}
