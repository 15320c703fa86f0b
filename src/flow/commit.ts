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
 * other instances. A key whose fence moved (a write, delete or clear came in while it
 * was being read or loaded) is skipped:
 *
 *   // its value is a snapshot from before that write and must not be stored over it -
 *   // callers awaiting the load still receive the value.
 *
 * Rejects only in strict mode, when a store failed.
 */
export async function commit(stack: Stack, loaded: readonly Loaded[]): Promise<void> {
  let kept = loaded.filter((item) => stack.fences.holds(item.token));
  if (kept.length === 0) return;
  const l1 = stack.l1;
  for (const { local, entry } of kept) {
    stack.throttle.end(local);
    l1?.set(local, entry);
  }
  stack.recorder.sets(stack.recorder.l1, kept.length);
  if (stack.stores.length > 0) {
    await stack.stores.write(kept.map(({ local, entry }) => stack.toWrite(local, entry)));
    // A delete that ran while our write was on the wire may have landed first; ours
    // would then outlive it. Undo ours: a miss is fine, a resurrected value is not.
    const undone = kept.filter((item) => !stack.fences.holds(item.token));
    if (undone.length > 0) {
      for (const { local, entry } of undone) l1?.deleteIfHolding(local, entry);
      await stack.stores.delete(undone.map(({ local }) => stack.prefix + local));
      kept = kept.filter((item) => !undone.includes(item));
      if (kept.length === 0) return;
    }
  }
  await stack.publish(
    'set',
    kept.map(({ local }) => local),
    kept.map(({ entry }) => entry.version),
  );
}
