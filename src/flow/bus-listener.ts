import type { BusListener, BusOp } from '../bus/bus.js';
import type { Version } from '../entry/version.js';
import type { Stack } from './stack.js';
import { receiveTags } from './tags.js';

/** Resolves on the next turn of the event loop. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * What a cache does with what its bus tells it: other instances' messages drop older L1
 * copies (and move clears' epochs and tags' generations), a resync drops L1 (unless it
 * is blind), the link going down makes L1 blind, and its return drops L1.
 */
export function busListener(stack: Stack): BusListener {
  return {
    onMessage: (message) => {
      stack.recorder.bus('received');
      const { op, keys, versions } = message;
      if (op === 'tag') return receiveTags(stack, keys, versions, message.external === true);
      if (message.external === true) {
        receiveExternal(stack, op, keys);
        return;
      }
      if (versions !== undefined) for (const version of versions) stack.versions.observe(version);
      if (op !== 'clear') {
        stack.invalidateKeys(keys, versions);
        if (versions !== undefined) {
          for (let i = 0; i < keys.length; i++) stack.known.note(keys[i] as string, versions[i] as Version);
          floorKeys(stack, keys, versions, message.partial === true);
        }
      } else {
        keys.forEach((prefix, i) => {
          const version = versions?.[i];
          if (version !== undefined) {
            stack.epochs.advance(prefix, version);
            stack.known.noteClear(version);
            stack.floors.clear(prefix, version);
          }
          stack.invalidatePrefix(prefix);
        });
      }
    },
    onResync: () => {
      stack.recorder.bus('resyncs');
      // Blind, L1 already serves nothing older than its bound: the link's return drops it.
      if (stack.l1?.blindSince === undefined) stack.invalidatePrefix('');
      // A clear may have been missed too, and a deleteByTag.
      stack.epochs.refresh();
      stack.tags.forget();
    },
    onLinkChange: (up: boolean, since?: number) => {
      stack.recorder.busLink(up);
      stack.linkDown = !up;
      if (up) {
        // Invalidations sent while the link was down are lost: drop what L1 holds.
        stack.invalidatePrefix('');
        stack.l1?.blind(undefined);
        stack.epochs.refresh();
        stack.tags.forget();
        return;
      }
      // Blind mode: L1 keeps serving, each entry fresh for at most `blindMaxAge` after
      // it was last known current. A bus that cannot say since when messages may be
      // lost gets the strictest reading: from `blindMaxAge` ago. (A bus's clock ahead of
      // the cache's must not stretch the bound: never later than now.)
      const now = stack.now();
      const blindMaxAge = stack.options.l1 === false ? 0 : stack.options.l1.blindMaxAge;
      stack.l1?.blind(Math.min(since ?? now - blindMaxAge, now));
    },
  };
}

/**
 * Another instance's write or delete of `keys` at `versions`: one that missed a store
 * raises their floors (a store it missed may hold older data until its repair), one
 * that every store took settles them (see `Floors`).
 */
function floorKeys(
  stack: Stack,
  keys: readonly string[],
  versions: readonly Version[],
  partial: boolean,
): void {
  const floors = stack.floors;
  if (!partial && floors.empty) return;
  for (let i = 0; i < keys.length; i++) {
    if (partial) floors.raise(keys[i] as string, versions[i] as Version);
    else floors.settle(keys[i] as string, versions[i] as Version);
  }
}

/**
 * A message from outside tiercache (a database trigger's NOTIFY): the keys changed at
 * their source, so they are deleted from every tier, not only from L1, at a version
 * taken now. Every instance that hears it does so; the deletes are idempotent.
 */
export function receiveExternal(stack: Stack, op: BusOp, keys: readonly string[]): void {
  const version = stack.versions.next();
  if (op === 'clear') {
    for (const prefix of keys) {
      stack.known.noteClear(version);
      stack.invalidatePrefix(prefix);
      stack.lifecycle.background(stack.epochs.clear(prefix, version));
    }
    return;
  }
  const versions = keys.map(() => version);
  for (const key of keys) stack.known.note(key, version);
  stack.invalidateKeys(keys);
  // Written on the next turn: a bulk change's many messages (a trigger's chunks) all
  // drop L1 before any of the much slower store writes is built.
  stack.lifecycle.background(
    nextTurn()
      .then(() => stack.stores.write(stack.tombstones(keys, version), undefined, 'deletes'))
      .then(() => {
        // A read between the drop above and the tombstones landing may have put the old
        // value back in L1: it is older than the tombstones, so drop it again, as delete() does.
        stack.invalidateKeys(keys, versions);
      }),
  );
}
