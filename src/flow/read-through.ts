import type { LoaderContext } from '../cache/types.js';
import type { Entry } from '../entry/entry.js';
import { type Duration, parseDuration } from '../options/duration.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { commit } from './commit.js';
import type { FenceToken } from './fences.js';
import { Flight } from './flight.js';
import { type HeldLease, leaseForLoad } from './lease.js';
import { type LoadStop, runLoader } from './load.js';
import { noteLoadTime } from './refresh-ahead.js';
import { awaitFlight, serveFailSafe, settleWalked } from './settle.js';
import type { Stack } from './stack.js';
import { checkTags } from './tags.js';
import { walkStores } from './walk.js';

/** A loader as the flows call it: the user's loader, untyped. */
type AnyLoader = (context: LoaderContext<unknown>) => unknown;

/**
 * Read-through for one key that L1 did not answer fresh (`entry` is what L1 holds within
 * its life, if anything): joins the key's flight or starts one, then waits as one of its
 * waiters.
 */
export async function readThrough(
  stack: Stack,
  key: string,
  local: string,
  entry: Entry | undefined,
  loader: AnyLoader,
  options: ResolvedEntryOptions,
): Promise<unknown> {
  const { recorder } = stack;
  // Fail-safe throttle: keep serving the stale value without calling the loader.
  if (entry !== undefined && stack.throttle.holds(local, stack.now())) {
    recorder.staleHit(recorder.l1, local);
    return entry.value;
  }
  let flight = stack.flights.get(local);
  if (flight !== undefined) recorder.loader('coalesced', local);
  else {
    flight = new Flight(entry);
    stack.flights.set(local, flight);
    // Counted so close() waits for it: a refresh behind a stale answer has no caller awaiting it.
    stack.lifecycle.beginLoad();
    runFlight(stack, flight, key, local, loader, options);
  }
  if (entry === undefined) {
    // The common case, inlined: no stale value, so wait for the walk; a store hit answers.
    await flight.walked;
    if (flight.found !== undefined) return flight.found.value;
  }
  return awaitFlight(stack, flight, entry, options);
}

/** Walks the stores, then loads and commits; settles the flight. Never rejects. */
async function runFlight(
  stack: Stack,
  flight: Flight,
  key: string,
  local: string,
  loader: AnyLoader,
  options: ResolvedEntryOptions,
): Promise<void> {
  const token = stack.fences.acquire(local);
  // The load's version is taken when it starts (see KnownWrites): a write or delete of
  // the key made while it runs has a greater one and wins in every tier, whatever lands
  // first.
  let version = stack.known.loadVersion([local]);
  // The key's lease across instances, if this load holds it, and the version it landed.
  let lease: HeldLease | undefined;
  let landed: string | undefined;
  try {
    let found: Awaited<ReturnType<typeof walkStores>>;
    try {
      found = await walkStores(stack, [local], [token], true);
    } catch (error) {
      // Strict mode: a store failure fails the load's callers.
      flight.resolveWalked();
      flight.rejectLoaded(error);
      return;
    }
    if (settleWalked(stack, flight, local, found[0])) return;
    let loaded: Loaded;
    let loadStarted = 0;
    try {
      // Another instance may be loading the key: wait for its value (then settled here).
      const leased = await leaseForLoad(stack, flight, key, local, token, version, options);
      if (leased === undefined) return;
      ({ lease, version } = leased);
      loadStarted = stack.now();
      loaded = await runLoader(stack, key, (stop) => callLoader(key, stop, flight, loader), leased.options);
    } catch (error) {
      if (serveFailSafe(stack, flight, local, token, options)) stack.recorder.error(error, 'loader');
      else flight.rejectLoaded(error);
      return;
    }
    landed = await settleLoaded(
      stack,
      flight,
      { local, token, version, loaded, loadStarted, lease },
      options,
    );
  } catch (error) {
    // Never rejects: nobody awaits this promise. Anything unforeseen reaches the callers.
    flight.resolveWalked();
    flight.rejectLoaded(error);
    stack.recorder.error(error);
  } finally {
    lease?.release(landed);
    stack.fences.release(token);
    stack.flights.end(local, flight);
    stack.lifecycle.endLoad();
  }
}

/**
 * Makes the loaded value an entry at the load's `version`, stores it (unless the loader
 * said not to cache it) and settles the flight with it; returns the version that landed,
 * if it did.
 */
async function settleLoaded(
  stack: Stack,
  flight: Flight,
  load: {
    local: string;
    token: FenceToken;
    version: string;
    loaded: Loaded;
    loadStarted: number;
    lease: HeldLease | undefined;
  },
  options: ResolvedEntryOptions,
): Promise<string | undefined> {
  const { local, token, version, loadStarted } = load;
  const { value, ttl, cache, tags } = load.loaded;
  const entry = stack.makeEntry(value, tags === undefined ? options : { ...options, tags }, ttl, version);
  noteLoadTime(entry, options, stack.now() - loadStarted);
  let landed: string | undefined;
  if (cache && (options.negativeCaching || (value !== null && value !== undefined))) {
    try {
      // The write ends the lease too where the store can (one call less).
      await commit(stack, [{ local, entry, token }], load.lease?.carried(entry.version));
      if (stack.fences.holds(token)) landed = entry.version;
    } catch (error) {
      // Strict mode, or a value that cannot be encoded (a CodecError naming the key): the
      // value is loaded but could not be stored.
      flight.rejectLoaded(error);
      return undefined;
    }
  }
  flight.resolveLoaded(entry);
  return landed;
}

/** A loader's result, with what it set through its context. */
export interface Loaded {
  value: unknown;
  ttl: number | undefined;
  cache: boolean;
  tags: readonly string[] | undefined;
}

/**
 * Calls the user's loader with its context; what it set through the context comes back
 * with the value. A loader that throws rejects.
 */
export function callLoader(key: string, stop: LoadStop, flight: Flight, loader: AnyLoader): Promise<Loaded> {
  const context = new LoaderCall(key, stop, flight.stale);
  let result: unknown;
  try {
    result = loader(context);
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.resolve(result).then((value) => context.loaded(value));
}

/**
 * A loader's context. Its setters are made when the loader reads them (most loaders
 * use none; a closure each per load showed in profiles), and still work detached
 * (`({ setTtl }) => ...`).
 */
class LoaderCall implements LoaderContext<unknown> {
  readonly key: string;
  readonly staleValue: unknown;
  readonly hasStale: boolean;
  readonly #stop: LoadStop;
  #ttl: number | undefined;
  #cache = true;
  #tags: readonly string[] | undefined;

  constructor(key: string, stop: LoadStop, stale: Entry | undefined) {
    this.key = key;
    this.#stop = stop;
    this.staleValue = stale?.value;
    this.hasStale = stale !== undefined;
  }

  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  get setTtl(): (ttl: Duration) => void {
    return (value) => {
      this.#ttl = parseDuration(value, 'setTtl(ttl)');
    };
  }

  get noCache(): () => void {
    return () => {
      this.#cache = false;
    };
  }

  get setTags(): (tags: string | readonly string[]) => void {
    return (value) => {
      this.#tags = Object.freeze([...checkTags(value, 'setTags(tags)')]);
    };
  }

  loaded(value: unknown): Loaded {
    return { value, ttl: this.#ttl, cache: this.#cache, tags: this.#tags };
  }
}
