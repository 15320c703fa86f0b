/** A source of time in ms since the epoch. Inject a fake one in tests. */
export interface Clock {
  now(): number;
}

// `Date.now()` costs about as much as an L1 get, so the hit path reads a value refreshed
// at most once a millisecond (lru-cache's `ttlResolution` idea). A timer clears it; a
// call budget bounds how stale it can get inside one long synchronous run, where no
// timer fires.
let cached = 0;
let calls = 0;
let pending = false;
const BUDGET = 1024;

function expire(): void {
  pending = false;
  cached = 0;
}

/**
 * The default clock: `Date.now()` read at most once a millisecond or once every 1,024
 * calls, whichever comes first. Freshness decisions are at most ~1 ms late.
 */
export const coarseClock: Clock = {
  now(): number {
    if (cached !== 0 && ++calls < BUDGET) return cached;
    cached = Date.now();
    calls = 0;
    if (!pending) {
      pending = true;
      setTimeout(expire, 1).unref();
    }
    return cached;
  },
};
