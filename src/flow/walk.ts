import { type Entry, newer } from '../entry/entry.js';
import type { Version } from '../entry/version.js';
import { StoreDataError } from '../errors.js';
import type { TierRecord } from '../observability/recorder.js';
import type { FenceToken } from './fences.js';
import type { Stack } from './stack.js';

/** What the walk found for one key. */
export interface Found {
  /** The first fresh entry, in store order. */
  fresh?: Entry;
  /** Otherwise the newest stale entry still within grace, for grace and fail-safe. */
  stale?: Entry;
}

/**
 * The one store walk, for one key or many: each store in order is asked, in one call,
 * for the keys no store above it held fresh. A fresh hit is backfilled at once into L1
 * and the stores above it (with its remaining life), unless the key's fence moved. A
 * store that fails is skipped (strict mode: the walk throws).
 *
 * While the bus link is down (`Stack.linkDown`), a fresh hit above the last store is
 * checked against the stores below before it is served: no message can say that a write
 * missed the upper store (its writer's breaker open, as when a Redis Cluster shard
 * fails: the healthy shards are skipped too), so the newest of what the stores hold
 * wins, and is copied up.
 *
 * `single` asks with `get` (one key) rather than `getMany`: the cache's single-key
 * reads use the store's single-key call. `tokens`: the keys' fences, held by the caller
 * (a flight); `undefined` for a plain read, which holds them for the walk.
 */
export async function walkStores(
  stack: Stack,
  locals: readonly string[],
  tokens: readonly FenceToken[] | undefined,
  single: boolean,
): Promise<Array<Found | undefined>> {
  // A plain read (no flight holding the keys' fences) holds them for the walk.
  const own = tokens === undefined;
  const fences = tokens ?? locals.map((local) => stack.fences.acquire(local));
  try {
    // The first reads after the cache starts (or a view is made, or the bus resyncs) wait
    // for the epochs: an entry older than a clear must not be served meanwhile.
    if (stack.epochs.loading) await stack.epochs.ready();
    const stores = stack.stores.list;
    const walk: Walk = {
      stack,
      locals,
      tokens: fences,
      out: new Array(locals.length).fill(undefined),
      seen: new Array(locals.length).fill(undefined),
      held: stack.linkDown && stores.length > 1 ? new Array(locals.length).fill(undefined) : undefined,
    };
    let pending = locals.map((_, i) => i);
    for (let at = 0; at < stores.length && pending.length > 0; at++) {
      const { guard, record } = stores[at] as (typeof stores)[number];
      const keys = pending.map((i) => stack.prefix + locals[i]);
      // One store's bytes for the keys, read here rather than in an async helper of its
      // own: each async function between the caller and the store is one more promise hop
      // on every hit.
      let found: Array<Uint8Array | undefined>;
      try {
        found = single
          ? [await guard.read((store) => store.get(keys[0] as string))]
          : await guard.read((store) => store.getMany(keys), keys.length);
      } catch (error) {
        // A store that refused a key's data (reported by the guard) reads as a miss there,
        // and the load's write replaces what it holds; a store that fails is skipped.
        if (!(error instanceof StoreDataError)) {
          stack.stores.readFailed(error);
          continue;
        }
        found = keys.map(() => undefined);
      }
      const decoded = found.map((bytes) => stack.decode(bytes, record));
      // Tagged entries need their tags' generations: known (no await) but the first time.
      const learning = stack.tags.learn(decoded);
      if (learning !== undefined) await learning;
      pending = judgeTier(walk, at, pending, found, decoded);
    }
    if (walk.held !== undefined) serveHeld(walk);
    return walk.out;
  } finally {
    if (own) for (const token of fences) stack.fences.release(token);
  }
}

/** A walk in progress: its keys and, per key, what the stores read so far told. */
interface Walk {
  readonly stack: Stack;
  readonly locals: readonly string[];
  readonly tokens: readonly FenceToken[];
  readonly out: Array<Found | undefined>;
  /**
   * Per key, the greatest version seen in the stores above: an entry below it is older
   * than a write or delete the upper store already holds (a write or a tombstone that
   * did not reach the lower store), so it is never served nor copied up.
   */
  readonly seen: Array<Version | undefined>;
  /** While the bus link is down: per key, a fresh hit held until the stores below are read. */
  readonly held: Array<Held | undefined> | undefined;
}

/** A fresh entry found in store `at`, as read. */
interface Held {
  readonly entry: Entry;
  readonly at: number;
  readonly bytes: Uint8Array | undefined;
}

/** Settles what store `at` holds for the `pending` keys; resolves the keys left for the stores below. */
function judgeTier(
  walk: Walk,
  at: number,
  pending: readonly number[],
  found: ReadonlyArray<Uint8Array | undefined>,
  decoded: ReadonlyArray<Entry | undefined>,
): number[] {
  const { stack, locals, out, held } = walk;
  const record = stack.stores.list[at]?.record as TierRecord;
  const last = at === stack.stores.length - 1;
  const next: number[] = [];
  const now = stack.now();
  for (let j = 0; j < pending.length; j++) {
    const i = pending[j] as number;
    const entry = admit(walk, i, decoded[j]);
    if (entry !== undefined && entry.deleted !== true && now < entry.staleAt) {
      const above = held?.[i];
      // The same write in the store above: that hit stands.
      if (above !== undefined && above.entry.version === entry.version) serve(walk, i, above);
      else if (held !== undefined && !last) {
        held[i] = { entry, at, bytes: found[j] };
        next.push(i);
      } else serve(walk, i, { entry, at, bytes: found[j] });
      continue;
    }
    stack.recorder.miss(record, locals[i]);
    if (entry !== undefined && entry.deleted !== true && now < entry.expiresAt) {
      out[i] = { stale: newer(out[i]?.stale, entry) as Entry };
    }
    next.push(i);
  }
  return next;
}

/**
 * The entry a store holds for key `i`, or `undefined` when it must not be served: older
 * than what a store above holds, than a write elsewhere that missed a store (floors), or
 * than a clear or deleteByTag that covers it.
 */
function admit(walk: Walk, i: number, entry: Entry | undefined): Entry | undefined {
  if (entry === undefined) return undefined;
  const { stack, seen } = walk;
  const local = walk.locals[i] as string;
  stack.versions.observe(entry.version);
  const above = seen[i];
  if (above !== undefined && entry.version < above) return undefined;
  // Older than another instance's write that missed a store: this one may be it.
  if (!stack.floors.empty && stack.floors.refuses(local, entry.version)) return undefined;
  seen[i] = entry.version;
  // Written before a clear of its prefix, or a deleteByTag of one of its tags: absent,
  // whatever is still physically there.
  if (stack.epochs.covers(local, entry) || stack.tags.covers(entry)) return undefined;
  return entry;
}

/** Serves the fresh hits held while the link is down that no store below outdated. */
function serveHeld(walk: Walk): void {
  const held = walk.held as Array<Held | undefined>;
  for (let i = 0; i < held.length; i++) {
    const hit = held[i];
    if (hit === undefined || walk.out[i]?.fresh !== undefined) continue;
    // A store below holds a newer write or tombstone (stale or deleted there): not this.
    const seen = walk.seen[i];
    if (seen !== undefined && hit.entry.version < seen) continue;
    serve(walk, i, hit);
  }
}

/** Key `i`'s fresh entry, found in store `hit.at`: counted, answered and copied up. */
function serve(walk: Walk, i: number, hit: Held): void {
  const { stack } = walk;
  const local = walk.locals[i] as string;
  stack.recorder.hit(stack.stores.list[hit.at]?.record as TierRecord, local);
  walk.out[i] = { fresh: hit.entry };
  backfill(stack, local, hit.entry, hit.at, hit.bytes, walk.tokens[i] as FenceToken);
}

/** A fresh entry found in store `at`: write it into L1 and the stores above, with its remaining life. */
function backfill(
  stack: Stack,
  local: string,
  entry: Entry,
  at: number,
  bytes: Uint8Array | undefined,
  token: FenceToken,
): void {
  if (!stack.fences.holdsFor(token, entry.version)) return;
  stack.l1?.set(local, entry);
  if (at === 0) return;
  // The entry's own expiresAt travels with it: the upper stores get its remaining life,
  // never a fresh TTL; and its own version, so an upper store that meanwhile took a newer
  // write or delete keeps that.
  stack.lifecycle.background(stack.stores.write([stack.toWrite(local, entry, bytes)], at));
}
