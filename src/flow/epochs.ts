import { type Entry, makeTombstone } from '../entry/entry.js';
import { maxVersion, type Version } from '../entry/version.js';
import type { StoreWrite } from '../stores/store.js';
import type { Stack } from './stack.js';

// An epoch must outlive every entry written before it: a TTL and a grace are each at
// most ~24.8 days (the longest Node timer), so an entry lives at most ~50 days.
const EPOCH_LIFE_MS = 50 * 86_400_000;
// The physical deletion after a clear runs in the background; past this it is given up
// (the epoch already hides what it did not reach, and each entry expires on its own).
const SWEEP_TIMEOUT_MS = 30_000;

/**
 * Clears as generations: `clear()` of a namespace (or a view) writes an epoch, the
 * version of the clear, under a key of its own in every store, and every read below L1
 * treats an entry of that prefix whose version is not above the epoch as absent. So a
 * clear is one write per store whatever the store holds, it is exact (nothing written
 * before it is served, whatever is still physically there), and the physical deletion
 * runs afterwards in the background.
 *
 * Each instance keeps the epochs in memory: read from the stores when it starts (one
 * `getMany` per store), when it makes a view, and after a bus resync (a clear may have been missed), moved
 * forward by its own clears and by the bus's `clear` messages. Reads pay no round trip
 * for them, except the first reads below L1 while that fetch is in flight (and, while a
 * store cannot say its epoch, each read asks it again first).
 */
export class Epochs {
  readonly #stack: Stack;
  /** Epoch by key prefix within the namespace (`''`: the whole namespace). */
  readonly #epochs = new Map<string, Version>();
  /** Fetches of epochs from the stores in flight, by prefix. */
  readonly #loading = new Map<string, Promise<void>>();
  /**
   * The stores (by position) that could not say their epochs: asked again, and only
   * they, before the next read below L1. While one's breaker is open the question is
   * turned away at once, with no round trip.
   */
  readonly #retry = new Set<number>();

  constructor(stack: Stack) {
    this.#stack = stack;
  }

  /** Whether a read must wait for an epoch fetch first ({@link ready}). */
  get loading(): boolean {
    return this.#loading.size > 0 || this.#retry.size > 0;
  }

  /** Settles when no epoch fetch is in flight. */
  async ready(): Promise<void> {
    if (this.#retry.size > 0) {
      const stores = new Set(this.#retry);
      this.#retry.clear();
      this.refresh(stores);
    }
    while (this.#loading.size > 0) await Promise.all(this.#loading.values());
  }

  /** Fetches the epoch of `prefix` (a view's) unless known or on its way. */
  track(prefix: string): void {
    if (this.#stack.stores.length === 0 || this.#epochs.has(prefix) || this.#loading.has(prefix)) return;
    this.#fetch(prefix);
  }

  /**
   * Fetches the namespace's epoch and every known one again (messages may have been
   * missed), from `stores` (positions; default all).
   */
  refresh(stores?: ReadonlySet<number>): void {
    if (this.#stack.stores.length === 0) return;
    for (const prefix of new Set([...this.#epochs.keys(), ''])) {
      if (!this.#loading.has(prefix)) this.#fetch(prefix, stores);
    }
  }

  /** Moves the epoch of `prefix` forward to `version` (a clear here or on the bus). */
  advance(prefix: string, version: Version): void {
    this.#epochs.set(prefix, maxVersion(this.#epochs.get(prefix), version) as Version);
  }

  /** Whether a clear newer than `entry` covers `local` (then the entry reads as absent). */
  covers(local: string, entry: Entry): boolean {
    if (this.#epochs.size === 0) return false;
    for (const [prefix, epoch] of this.#epochs) {
      if (entry.version <= epoch && local.startsWith(prefix)) return true;
    }
    return false;
  }

  /**
   * A clear of `prefix` at `version`: the epoch is written to every store (a versioned
   * write, so epochs only move forward), then the prefix's keys are deleted physically
   * in the background.
   */
  async clear(prefix: string, version: Version): Promise<void> {
    const stack = this.#stack;
    this.advance(prefix, version);
    await stack.stores.write([this.#write(this.#key(prefix), version)], undefined, 'deletes');
    stack.lifecycle.background(stack.stores.sweep(stack.prefix + prefix, version, SWEEP_TIMEOUT_MS));
  }

  /**
   * The write that restores an epoch a store missed (a guard's repair), or `undefined`
   * when `storeKey` is not an epoch's key. The repair writes the epoch again at its own
   * version: a tombstone in its place would lower it, a physical delete would lose it.
   */
  repairWrite(storeKey: string, version: Version): StoreWrite | undefined {
    return storeKey.startsWith(this.#key('')) ? this.#write(storeKey, version) : undefined;
  }

  /** The write of the namespace's epoch at `version` (a namespace-wide repair's). */
  namespaceWrite(version: Version): StoreWrite {
    return this.#write(this.#key(''), version);
  }

  #write(key: string, version: Version): StoreWrite {
    return generationWrite(this.#stack, key, version);
  }

  #key(prefix: string): string {
    return generationKey(this.#stack, prefix);
  }

  #fetch(prefix: string, stores?: ReadonlySet<number>): void {
    const stack = this.#stack;
    const key = this.#key(prefix);
    const loading = (async () => {
      for (const [at, { guard, record }] of stack.stores.list.entries()) {
        if (stores !== undefined && !stores.has(at)) continue;
        let bytes: Uint8Array | undefined;
        try {
          // getMany, not get: one call per store at start, and a single-key read stays a single-key read.
          [bytes] = await guard.read((store) => store.getMany([key]));
        } catch (error) {
          // A store that cannot say its epoch now is skipped by reads anyway until it can
          // (its guard turns them away); the next read asks it again.
          this.#retry.add(at);
          stack.recorder.error(error);
          continue;
        }
        const epoch = stack.decode(bytes, record);
        if (epoch !== undefined) {
          stack.versions.observe(epoch.version);
          this.advance(prefix, epoch.version);
        }
      }
      // Known now, even with no clear yet ('' is below every version): a view made again
      // does not fetch again.
      if (!this.#epochs.has(prefix)) this.#epochs.set(prefix, '');
    })().finally(() => this.#loading.delete(prefix));
    this.#loading.set(prefix, loading);
  }
}

/**
 * The store key of a generation (a clear's epoch, or a tag's generation under `#tag:`):
 * outside the namespace's keys (`namespace:...`), so no clear of them touches it, and
 * under one prefix, so a guard's repair writes any of them again as it was.
 */
export function generationKey(stack: Stack, name: string): string {
  return `${stack.options.namespace}#epoch:${name}`;
}

/** The store write of a generation at `version`: a tombstone living as long as any entry it may hide. */
export function generationWrite(stack: Stack, key: string, version: Version): StoreWrite {
  const now = stack.now();
  const epoch = makeTombstone(version, now, now + EPOCH_LIFE_MS);
  return { key, value: stack.codec.encode(epoch), expiresAt: epoch.expiresAt, version };
}
