import type { Version } from '../entry/version.js';

/** Keys a cache keeps floors for; past it, the oldest floors fold into one for all keys. */
export const MAX_FLOORS = 10_000;

/**
 * Floors: per key, the version below which this instance refuses what a store holds.
 *
 * Another instance's write or delete that did not reach every store (a breaker open for
 * the store, a call that failed or timed out) leaves older data in the stores it missed
 * until that instance repairs them, which it can only do once they answer it again. Its
 * bus message says so (`partial`): it drops this instance's L1 copy, and the next read
 * goes below L1. Without a floor, that read would find the older value in a store the
 * write missed (a healthy shard of a cluster, skipped with the rest while one shard was
 * down; a Redis the writer was cut off from but this instance was not) and serve it, and
 * copy it into L1, for as long as the writer's repair takes. With it, a store entry older
 * than the write is no hit: the walk goes on to the next store, which took the write, or
 * to the loader.
 *
 * A floor goes when a message of the key at its version or later says that every store
 * took it (the writer's repair announces the keys it repaired; a later complete write or
 * delete), or a clear at or after it covers the key. Bounded: past {@link MAX_FLOORS}
 * keys, the oldest floor is folded into one for every key (every store entry older than
 * it is refused, as after a clear at its version), which goes once a clear of the
 * namespace at or after it is heard (a writer's namespace-wide repair announces one).
 * An instance that never repairs (it died) leaves its floors in place: they only refuse
 * entries older than writes that really happened.
 */
export class Floors {
  readonly #byKey = new Map<string, Version>();
  /** The floor of every key (folded in on overflow), or `undefined`. */
  #all: Version | undefined;

  /** Whether any floor is set: the read path's one check when none is. */
  get empty(): boolean {
    return this.#all === undefined && this.#byKey.size === 0;
  }

  /** Keys with a floor of their own, for tests and health. */
  get size(): number {
    return this.#byKey.size;
  }

  /** A write or delete of `key` at `version` missed a store: refuse what is older there. */
  raise(key: string, version: Version): void {
    const floor = this.#byKey.get(key);
    if (floor !== undefined && floor >= version) return;
    // Re-inserted, so the map's order stays oldest-raised first.
    this.#byKey.delete(key);
    this.#byKey.set(key, version);
    if (this.#byKey.size <= MAX_FLOORS) return;
    const [oldestKey, oldest] = this.#byKey.entries().next().value as [string, Version];
    this.#byKey.delete(oldestKey);
    if (this.#all === undefined || oldest > this.#all) this.#all = oldest;
  }

  /** Every store took a write or delete of `key` at `version`: its floor goes if no newer. */
  settle(key: string, version: Version): void {
    const floor = this.#byKey.get(key);
    if (floor !== undefined && version >= floor) this.#byKey.delete(key);
  }

  /** A clear of the keys under `prefix` at `version`: what it covers needs no floor. */
  clear(prefix: string, version: Version): void {
    if (prefix === '' && this.#all !== undefined && version >= this.#all) this.#all = undefined;
    for (const [key, floor] of this.#byKey) {
      if (floor <= version && key.startsWith(prefix)) this.#byKey.delete(key);
    }
  }

  /** Whether a store entry of `key` at `version` is older than a write that missed a store. */
  refuses(key: string, version: Version): boolean {
    if (this.#all !== undefined && version < this.#all) return true;
    const floor = this.#byKey.get(key);
    return floor !== undefined && version < floor;
  }
}
