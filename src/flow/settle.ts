import { type Entry, newer } from '../entry/entry.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import type { FenceToken } from './fences.js';
import type { Flight } from './flight.js';
import type { Stack } from './stack.js';
import type { Found } from './walk.js';

/**
 * Settles a flight on what the store walk found for its key: a fresh entry answers it;
 * else the newest stale entry is kept, and answers it while the key is under a
 * fail-safe throttle. Returns whether the flight is settled (no load needed).
 */
export function settleWalked(stack: Stack, flight: Flight, local: string, found: Found | undefined): boolean {
  if (found?.fresh !== undefined) {
    flight.found = found.fresh;
    flight.resolveWalked();
    flight.resolveLoaded(found.fresh);
    return true;
  }
  flight.stale = newer(flight.stale, found?.stale);
  flight.resolveWalked();
  if (flight.stale !== undefined && stack.throttle.holds(local, stack.now())) {
    // Fail-safe throttle, with the stale value found in a store (L1 off or evicted).
    flight.resolveLoaded(flight.stale);
    return true;
  }
  return false;
}

/**
 * The loader failed: with fail-safe on and a stale value still within its life, answer
 * the flight with it and return true (the caller reports the error); else return false
 * (the caller rejects the flight).
 */
export function serveFailSafe(
  stack: Stack,
  flight: Flight,
  local: string,
  token: FenceToken,
  options: ResolvedEntryOptions,
): boolean {
  const stale = flight.stale;
  const now = stack.now();
  if (!options.failSafe || stale === undefined || now >= stale.expiresAt) return false;
  stack.recorder.loader('failSafe', local);
  // Keep serving the stale value without calling the loader for the throttle window -
  // never past the entry's own expiry. The entry stays stale: get() and has() must not
  // take it for fresh.
  if (stack.fences.holds(token)) {
    stack.throttle.start(local, Math.min(now + options.failSafeThrottle, stale.expiresAt));
    stack.l1?.set(local, stale);
  }
  flight.resolveLoaded(stale);
  return true;
}

/**
 * One waiter of a flight: the value it gets, under its own soft timeout and stale
 * handling. `l1Stale` is the stale L1 entry this caller found, if any.
 */
export async function awaitFlight(
  stack: Stack,
  flight: Flight,
  l1Stale: Entry | undefined,
  options: ResolvedEntryOptions,
): Promise<unknown> {
  const { recorder } = stack;
  // Stale-while-revalidate: with a stale L1 value and no soft timeout, answer now.
  if (l1Stale !== undefined && options.softTimeout === 0) {
    recorder.staleHit(recorder.l1);
    return l1Stale.value;
  }
  await flight.walked;
  if (flight.found !== undefined) return flight.found.value;
  let stale = newer(l1Stale, flight.stale);
  // The flight's stale value was read when it started: a caller joining a long load may
  // come after that value's expiresAt, and must not be served it.
  if (stale !== undefined && stack.now() >= stale.expiresAt) stale = undefined;
  if (stale === undefined) return (await flight.loaded).value;
  if (options.softTimeout === 0) {
    recorder.staleHit(recorder.l1);
    return stale.value;
  }
  let timer: NodeJS.Timeout | undefined;
  const soft = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, options.softTimeout, undefined);
  });
  try {
    const loaded = await Promise.race([flight.loaded, soft]);
    if (loaded !== undefined) return loaded.value;
    // The stale value may have expired while this caller waited.
    if (stack.now() >= stale.expiresAt) return (await flight.loaded).value;
    recorder.staleHit(recorder.l1);
    return stale.value;
  } finally {
    clearTimeout(timer);
  }
}
