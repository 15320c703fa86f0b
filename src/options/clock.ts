/** A source of time in ms since the epoch. Inject a fake one in tests. */
export interface Clock {
  now(): number;
}

// `Date.now()` costs about as much as an L1 get, so the hit path reads a value kept until
// a 1 ms timer clears it (lru-cache's `ttlResolution`). No timer fires within a turn of
// the event loop, so a long turn decides freshness at the time it began: an entry that
// goes stale during the turn is served until the turn ends, as a read at its start would
// have served it. Entries made during the turn take its start as their creation time,
// so they go stale early, never late; versions are stamped with the exact clock (see
// Stack). Nothing is counted per call: a count would cost getLocal a fifth of a bare
// lru-cache get.
let cached = 0;

function expire(): void {
  cached = 0;
}

/**
 * The default clock: `Date.now()` read at most once a millisecond. Freshness decisions
 * are late by at most ~1 ms, or by the length of the turn of the event loop in progress
 * when that is longer.
 */
export const coarseClock: Clock = {
  now(): number {
    if (cached !== 0) return cached;
    cached = Date.now();
    setTimeout(expire, 1).unref();
    return cached;
  },
};
