import { type Entry, isFresh } from '../entry/entry.js';
import { versionAfter } from '../entry/version.js';
import { readStores } from './reads.js';
import type { Stack } from './stack.js';
import { writeEntries } from './writes.js';

/**
 * Marks the values of `locals` stale in every tier and every instance without removing
 * them (bentocache's `expire`, FusionCache's `Expire`): the next read serves the stale
 * value within its grace (and fail-safe may) while one refresh runs.
 *
 * The newest fresh entry of each key (L1, else the first store holding one) is written
 * again everywhere with `staleAt` now, at the version just above its own: it replaces
 * that entry in every tier, and any write made after the entry still wins over it,
 * whatever order they land in. Other instances drop their L1 copy (the bus's `set`) and
 * read the stale entry from the stores. A key no tier holds fresh is left alone (without
 * shared stores, another instance's L1 copy is dropped, not kept stale).
 */
export async function expireKeys(stack: Stack, locals: readonly string[]): Promise<void> {
  const now = stack.now();
  const inL1 = locals.map((local) => stack.l1?.peek(local, now));
  const missing = locals.filter((_, i) => !isFreshAt(inL1[i], now));
  const stored = missing.length === 0 ? [] : await readStores(stack, missing, missing.length === 1);
  const writes: Array<{ local: string; entry: Entry }> = [];
  let at = 0;
  locals.forEach((local, i) => {
    const entry = isFreshAt(inL1[i], now) ? inL1[i] : stored[at++];
    if (entry === undefined || !isFresh(entry, stack.now())) return;
    const staleAt = Math.min(entry.staleAt, stack.now());
    writes.push({ local, entry: { ...entry, staleAt, version: versionAfter(entry.version) } });
  });
  if (writes.length > 0) await writeEntries(stack, writes);
}

function isFreshAt(entry: Entry | undefined, now: number): entry is Entry {
  return entry !== undefined && isFresh(entry, now);
}
