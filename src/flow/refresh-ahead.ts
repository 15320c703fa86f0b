import type { LoaderContext } from '../cache/types.js';
import type { Entry } from '../entry/entry.js';
import {
  type EntryOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from '../options/entry-options.js';
import { commit } from './commit.js';
import { Flight } from './flight.js';
import { type HeldLease, Leases } from './lease.js';
import { runLoader } from './load.js';
import { callLoader } from './read-through.js';
import type { Stack } from './stack.js';

type AnyLoader = (context: LoaderContext<unknown>) => unknown;

/**
 * XFetch windows (δ × β, in ms: the measured load time times β) of the entries this
 * process loaded with `refreshAhead`, by entry: gone with the entry, and never on an
 * entry object itself (the L1 hit path sees one shape of entry).
 */
const windows = new WeakMap<Entry, number>();

/**
 * Whether any entry ever got a window: until then an L1 hit reads this one field and
 * skips refresh-ahead entirely.
 */
export const refreshAheadArmed = { on: false };

/** A load of `entry` took `loadMs` (on the cache's clock): with `refreshAhead`, keep its window. */
export function noteLoadTime(entry: Entry, options: ResolvedEntryOptions, loadMs: number): void {
  if (options.refreshAhead === 0) return;
  // A load measured at 0 ms (a coarse clock) still gets a window of one ms times β.
  windows.set(entry, Math.max(1, loadMs) * options.refreshAhead);
  refreshAheadArmed.on = true;
}

/**
 * An L1 hit on a fresh `entry` by `getOrSet`: with refresh-ahead, XFetch decides whether
 * to refresh it now, in the background. It refreshes when
 * `now - δβ·ln(U) >= staleAt` for `U` uniform in (0, 1]: the chance rises as `staleAt`
 * nears, the sooner the longer the load. An entry triggers at most once (its window is
 * dropped), so a refresh that another instance is already running costs one lease call.
 */
export function refreshEarly(
  stack: Stack,
  key: string,
  local: string,
  entry: Entry,
  loader: unknown,
  perCall: EntryOptions | undefined,
): void {
  const window = windows.get(entry);
  if (window === undefined) return;
  if (stack.now() - window * Math.log(1 - stack.options.random()) < entry.staleAt) return;
  windows.delete(entry);
  if (stack.flights.get(local) !== undefined) return;
  let options: ResolvedEntryOptions;
  try {
    options = resolveEntryOptions(perCall, stack.options.entry);
  } catch (error) {
    stack.recorder.error(error);
    return;
  }
  // A flight of its own, so a caller that misses L1 meanwhile joins the refresh.
  const flight = new Flight(entry);
  flight.resolveWalked();
  stack.flights.set(local, flight);
  stack.lifecycle.beginLoad();
  void refresh(stack, flight, key, local, entry, loader as AnyLoader, options);
}

/** Loads `local` again and commits it, under the key's lease; never rejects. */
async function refresh(
  stack: Stack,
  flight: Flight,
  key: string,
  local: string,
  current: Entry,
  loader: AnyLoader,
  options: ResolvedEntryOptions,
): Promise<void> {
  const token = stack.fences.acquire(local);
  let lease: HeldLease | undefined;
  let landed: string | undefined;
  try {
    const version = stack.known.loadVersion([local]);
    const taken = await Leases.of(stack)?.takeForRefresh(local, version, current.version);
    // Another instance is refreshing the key, or has: its value reaches this one by the bus.
    if (taken === false) return flight.resolveLoaded(current);
    lease = taken;
    const started = stack.now();
    const loaded = await runLoader(stack, key, (stop) => callLoader(key, stop, flight, loader), options);
    const { value, ttl, cache } = loaded;
    const entry = stack.makeEntry(value, options, ttl, version);
    noteLoadTime(entry, options, stack.now() - started);
    if (cache && (options.negativeCaching || (value !== null && value !== undefined))) {
      await commit(stack, [{ local, entry, token }]);
      if (stack.fences.holds(token)) landed = entry.version;
    }
    flight.resolveLoaded(entry);
  } catch (error) {
    // The value in hand is still good until it expires: a failed refresh only reports.
    stack.recorder.error(error);
    if (stack.now() < current.expiresAt) flight.resolveLoaded(current);
    else flight.rejectLoaded(error);
  } finally {
    lease?.release(landed);
    stack.fences.release(token);
    stack.flights.end(local, flight);
    stack.lifecycle.endLoad();
  }
}
