import type { Entry } from '../entry/entry.js';
import type { Stack } from './stack.js';

/**
 * Writes entries into every tier, then tells other instances to drop their L1 copies.
 * Loads of these keys in flight will not write their (older) result over them.
 * @throws CodecError naming the key when a value cannot be encoded: then no tier changed.
 */
export async function writeEntries(
  stack: Stack,
  entries: ReadonlyArray<{ readonly local: string; readonly entry: Entry }>,
): Promise<void> {
  // Encoded before any tier is touched: a value the stores cannot hold must not be left
  // in this L1 alone, served here while every other tier and instance keeps the old one.
  const writes =
    stack.stores.length === 0 ? [] : entries.map(({ local, entry }) => stack.toWrite(local, entry));
  const locals = entries.map((e) => e.local);
  for (const { local, entry } of entries) stack.known.note(local, entry.version);
  stack.invalidateKeys(locals);
  const l1 = stack.l1;
  if (l1 !== undefined) {
    for (const { local, entry } of entries) l1.set(local, entry);
    stack.recorder.sets(stack.recorder.l1, entries.length);
  }
  const complete = await stack.stores.write(writes);
  // Reads that started while the write was on the wire saw the old value.
  for (const local of locals) stack.fences.bump(local);
  // Sent now that the stores hold the write, in the background (as a load's, see
  // commit.ts): the caller does not wait a second round trip; close() still waits for it.
  stack.lifecycle.background(
    stack.publish(
      'set',
      locals,
      entries.map(({ entry }) => entry.version),
      !complete,
    ),
  );
  stack.recorder.wrote('set', locals);
}

/**
 * Deletes keys from every tier and every instance's L1. The stores keep a versioned
 * tombstone for a while, so no older write (a load that started before the delete, a
 * write delayed on the wire) brings a value back.
 */
export async function deleteKeys(stack: Stack, locals: readonly string[]): Promise<void> {
  const version = stack.versions.next();
  for (const local of locals) stack.known.note(local, version);
  stack.invalidateKeys(locals);
  if (stack.l1 !== undefined) stack.recorder.deletes(stack.recorder.l1, locals.length);
  const complete = await stack.stores.write(stack.tombstones(locals, version), undefined, 'deletes');
  stack.invalidateKeys(locals);
  await stack.publish('delete', locals, version, !complete);
  stack.recorder.wrote('delete', locals);
}

/**
 * Deletes every key under `prefix` (`''`: the namespace) from every tier and every
 * instance's L1: one epoch write per store (see `Epochs`), the physical deletion after.
 */
export async function clearPrefix(stack: Stack, prefix: string): Promise<void> {
  const version = stack.versions.next();
  stack.known.noteClear(version);
  stack.invalidatePrefix(prefix);
  await stack.epochs.clear(prefix, version);
  stack.invalidatePrefix(prefix);
  await stack.publish('clear', [prefix], version);
  stack.recorder.cleared(prefix);
}
