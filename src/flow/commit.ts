import type { Entry } from '../entry/entry.js';
import type { StoreWrite } from '../stores/store.js';
import type { FenceToken } from './fences.js';
import type { CarriedRelease } from './lease.js';
import type { Stack } from './stack.js';

/** A loaded entry to store, with the fence its load held. */
export interface Loaded {
  readonly local: string;
  readonly entry: Entry;
  readonly token: FenceToken;
}

/**
 * The one write path of a load: writes each entry into L1 and every store, then tells
 * other instances. A key whose fence moved (a write, delete or clear came in here while
 * it was being read or loaded) is skipped:
 *
 *   // its value is a snapshot from before that write and must not be stored over it -
 *   // callers awaiting the load still receive the value.
 *
 * A write or delete elsewhere, or one that lands while ours is on the wire, needs no
 * fence: the load's version was taken when it started, so every store keeps the newer
 * write or tombstone whatever order they land in.
 *
 * Rejects in strict mode when a store failed, and with a CodecError (no tier written)
 * when a value cannot be encoded. `carried`: a lease's release the write to the store
 * hosting it carries (see `HeldLease.carried`).
 */
export async function commit(
  stack: Stack,
  loaded: readonly Loaded[],
  carried?: CarriedRelease,
): Promise<void> {
  // Encoded before any tier is touched (see writeEntries); a value that cannot be encoded
  // is left out of every tier, and its CodecError thrown once the others are written.
  const kept: Loaded[] = [];
  const writes: StoreWrite[] = [];
  let unencodable: unknown;
  for (const item of loaded) {
    if (!stack.fences.holds(item.token)) continue;
    try {
      if (stack.stores.length > 0) writes.push(stack.toWrite(item.local, item.entry));
      kept.push(item);
    } catch (error) {
      unencodable ??= error;
    }
  }
  if (kept.length > 0) await write(stack, kept, writes, carried);
  if (unencodable !== undefined) throw unencodable;
}

async function write(
  stack: Stack,
  kept: readonly Loaded[],
  writes: readonly StoreWrite[],
  carried: CarriedRelease | undefined,
): Promise<void> {
  const l1 = stack.l1;
  for (const { local, entry } of kept) {
    stack.throttle.end(local);
    l1?.set(local, entry);
  }
  stack.recorder.sets(stack.recorder.l1, kept.length);
  const complete = await stack.stores.write(writes, undefined, 'sets', carried);
  // Sent once the stores hold the entries (a receiver that drops its copy and reads
  // again finds them), but not awaited: the load's callers have their value now, and a
  // second round trip before answering them would halve what concurrent callers get
  // through. close() still waits for it.
  stack.lifecycle.background(
    stack.publish(
      'set',
      kept.map(({ local }) => local),
      kept.map(({ entry }) => entry.version),
      !complete,
    ),
  );
}
