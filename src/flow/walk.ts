import { type Entry, newer } from '../entry/entry.js';
import type { Version } from '../entry/version.js';
import { StoreDataError } from '../errors.js';
import type { StoreGuard } from '../guard/guard.js';
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
 * `single` asks with `get` (one key) rather than `getMany`: the cache's single-key
 * reads use the store's single-key call.
 */
export async function walkStores(
  stack: Stack,
  locals: readonly string[],
  tokens: readonly FenceToken[],
  single: boolean,
): Promise<Array<Found | undefined>> {
  // The first reads after the cache starts (or a view is made, or the bus resyncs) wait
  // for the epochs: an entry older than a clear must not be served meanwhile.
  if (stack.epochs.loading) await stack.epochs.ready();
  const out: Array<Found | undefined> = new Array(locals.length).fill(undefined);
  // Per key, the greatest version seen in the stores above: an entry below it is older
  // than a write or delete the upper store already holds (a write or a tombstone that
  // did not reach the lower store), so it is never served nor copied up.
  const seen: Array<Version | undefined> = new Array(locals.length).fill(undefined);
  const stores = stack.stores.list;
  let pending = locals.map((_, i) => i);
  for (let at = 0; at < stores.length && pending.length > 0; at++) {
    const { guard, record } = stores[at] as (typeof stores)[number];
    const found = await readTier(
      stack,
      guard,
      pending.map((i) => stack.prefix + locals[i]),
      single,
    );
    if (found === undefined) continue;
    const decoded = found.map((bytes) => stack.decode(bytes, record));
    // Tagged entries need their tags' generations: known (no await) but the first time.
    const learning = stack.tags.learn(decoded);
    if (learning !== undefined) await learning;
    const next: number[] = [];
    const now = stack.now();
    for (let j = 0; j < pending.length; j++) {
      const i = pending[j] as number;
      const bytes = found[j];
      let entry = decoded[j];
      if (entry !== undefined) {
        stack.versions.observe(entry.version);
        const above = seen[i];
        if (above !== undefined && entry.version < above) entry = undefined;
        else {
          seen[i] = entry.version;
          // Written before a clear of its prefix, or a deleteByTag of one of its tags:
          // absent, whatever is still physically there.
          if (stack.epochs.covers(locals[i] as string, entry) || stack.tags.covers(entry)) entry = undefined;
        }
      }
      if (entry !== undefined && entry.deleted !== true && now < entry.staleAt) {
        stack.recorder.hit(record, locals[i]);
        out[i] = { fresh: entry };
        backfill(stack, locals[i] as string, entry, at, bytes, tokens[i] as FenceToken);
        continue;
      }
      stack.recorder.miss(record, locals[i]);
      if (entry !== undefined && entry.deleted !== true && now < entry.expiresAt) {
        out[i] = { stale: newer(out[i]?.stale, entry) as Entry };
      }
      next.push(i);
    }
    pending = next;
  }
  return out;
}

/**
 * One store's bytes for `keys`, or `undefined` when it cannot be read now (the store is
 * then skipped). A store that refused a key's data (reported by the guard) reads as a
 * miss there, and the load's write replaces what it holds.
 */
async function readTier(
  stack: Stack,
  guard: StoreGuard,
  keys: readonly string[],
  single: boolean,
): Promise<Array<Uint8Array | undefined> | undefined> {
  try {
    return single
      ? [await guard.read((store) => store.get(keys[0] as string))]
      : await guard.read((store) => store.getMany(keys), keys.length);
  } catch (error) {
    if (error instanceof StoreDataError) return keys.map(() => undefined);
    stack.stores.readFailed(error);
    return undefined;
  }
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
