import type { BatchLoader } from '../cache/types.js';
import { type Entry, isFresh } from '../entry/entry.js';
import type { Version } from '../entry/version.js';
import { InvalidOptionError } from '../errors.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { commit, type Loaded } from './commit.js';
import type { FenceToken } from './fences.js';
import { Flight } from './flight.js';
import { runLoader } from './load.js';
import { awaitFlight, serveFailSafe, settleWalked } from './settle.js';
import type { Stack } from './stack.js';
import { walkStores } from './walk.js';

/** A key of a batch that starts a flight: the caller's key and its key within the namespace. */
interface Started {
  readonly key: string;
  readonly local: string;
  readonly flight: Flight;
}

/**
 * Read-through for many keys with one loader call for all the keys no tier holds (the
 * DataLoader pattern). Keys already loading join their load; values come back in order.
 */
export async function readThroughMany(
  stack: Stack,
  keys: readonly string[],
  locals: readonly string[],
  loader: BatchLoader<unknown>,
  options: ResolvedEntryOptions,
): Promise<unknown[]> {
  const { recorder } = stack;
  const now = stack.now();
  const results = new Array<unknown>(keys.length);
  const waits: Promise<void>[] = [];
  const started = new Map<string, Started>();
  for (let i = 0; i < keys.length; i++) {
    const local = locals[i] as string;
    const entry = stack.l1?.peek(local, now);
    if (entry !== undefined && isFresh(entry, now)) {
      recorder.hit(recorder.l1, local);
      results[i] = entry.value;
      continue;
    }
    // Fail-safe throttle: keep serving the stale value without calling the loader.
    if (entry !== undefined && stack.throttle.holds(local, now)) {
      recorder.staleHit(recorder.l1, local);
      results[i] = entry.value;
      continue;
    }
    let flight = started.get(local)?.flight ?? stack.flights.get(local);
    if (flight === undefined) {
      if (stack.l1 !== undefined) recorder.miss(recorder.l1, local);
      flight = new Flight(entry);
      stack.flights.set(local, flight);
      started.set(local, { key: keys[i] as string, local, flight });
    } else if (!started.has(local)) recorder.loader('coalesced', local);
    waits.push(
      awaitFlight(stack, flight, entry, options).then((value) => {
        results[i] = value;
      }),
    );
  }
  if (started.size > 0) {
    stack.lifecycle.beginLoad();
    runBatch(stack, [...started.values()], loader, options);
  }
  await Promise.all(waits);
  return results;
}

/** Walks the stores for the batch, loads what they lacked in one call, commits; never rejects. */
async function runBatch(
  stack: Stack,
  batch: readonly Started[],
  loader: BatchLoader<unknown>,
  options: ResolvedEntryOptions,
): Promise<void> {
  const tokens = batch.map(({ local }) => stack.fences.acquire(local));
  // Taken when the load starts, as for one key (see readThrough).
  const version = stack.known.loadVersion(batch.map(({ local }) => local));
  try {
    let found: Awaited<ReturnType<typeof walkStores>>;
    try {
      found = await walkStores(
        stack,
        batch.map(({ local }) => local),
        tokens,
        false,
      );
    } catch (error) {
      for (const { flight } of batch) {
        flight.resolveWalked();
        flight.rejectLoaded(error);
      }
      return;
    }
    const toLoad = batch
      .map((item, i) => ({ ...item, token: tokens[i] as FenceToken }))
      .filter((item, i) => !settleWalked(stack, item.flight, item.local, found[i]));
    if (toLoad.length > 0) await loadBatch(stack, toLoad, loader, options, version);
  } catch (error) {
    // Never rejects: nobody awaits this promise. Anything unforeseen reaches the callers.
    for (const { flight } of batch) {
      flight.resolveWalked();
      flight.rejectLoaded(error);
    }
    stack.recorder.error(error);
  } finally {
    for (const token of tokens) stack.fences.release(token);
    for (const { local, flight } of batch) stack.flights.end(local, flight);
    stack.lifecycle.endLoad();
  }
}

/** One loader call for the keys no tier held; the flights settle before the stores are written. */
async function loadBatch(
  stack: Stack,
  toLoad: ReadonlyArray<Started & { readonly token: FenceToken }>,
  loader: BatchLoader<unknown>,
  options: ResolvedEntryOptions,
  version: Version,
): Promise<void> {
  const keys = toLoad.map(({ key }) => key);
  let values: Map<string, unknown>;
  try {
    const raw = await runLoader(
      stack,
      keys.join(','),
      (stop) =>
        Promise.resolve(
          loader(keys, {
            get signal() {
              return stop.signal;
            },
          }),
        ),
      options,
    );
    values = toMap(keys, raw);
  } catch (error) {
    for (const { flight, local, token } of toLoad) {
      if (!serveFailSafe(stack, flight, local, token, options)) flight.rejectLoaded(error);
    }
    stack.recorder.error(error);
    return;
  }
  const loaded: Loaded[] = [];
  for (const { key, local, flight, token } of toLoad) {
    const value = values.get(key);
    const entry: Entry = stack.makeEntry(value, options, options.ttl, version);
    if (options.negativeCaching || (value !== null && value !== undefined)) {
      loaded.push({ local, entry, token });
    }
    flight.resolveLoaded(entry);
  }
  try {
    await commit(stack, loaded);
  } catch (error) {
    stack.recorder.error(error);
  }
}

function toMap(
  keys: readonly string[],
  raw: ReadonlyMap<string, unknown> | readonly unknown[],
): Map<string, unknown> {
  if (raw instanceof Map) return raw as Map<string, unknown>;
  if (Array.isArray(raw)) {
    if (raw.length !== keys.length) {
      throw new InvalidOptionError(
        'batch loader result',
        `an array of ${keys.length} values aligned with the keys, or a Map`,
        raw,
      );
    }
    return new Map(keys.map((key, i) => [key, raw[i]]));
  }
  throw new InvalidOptionError('batch loader result', 'a Map by key or an array aligned with the keys', raw);
}
