import type { Entry } from '../entry/entry.js';
import type { FenceToken } from './fences.js';
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
 * Rejects only in strict mode, when a store failed.
 */
export async function commit(stack: Stack, loaded: readonly Loaded[]): Promise<void> {
  const kept = loaded.filter((item) => stack.fences.holds(item.token));
  if (kept.length === 0) return;
  const l1 = stack.l1;
  for (const { local, entry } of kept) {
    stack.throttle.end(local);
    l1?.set(local, entry);
  }
  stack.recorder.sets(stack.recorder.l1, kept.length);
  await stack.stores.write(kept.map(({ local, entry }) => stack.toWrite(local, entry)));
  await stack.publish(
    'set',
    kept.map(({ local }) => local),
    kept.map(({ entry }) => entry.version),
  );
}
