/**
 * Fences: per-key bookkeeping for reads that may write back.
 *
 * A fence is taken by every operation that reads a lower tier or a loader and then
 * writes the result into the tiers (a load, a backfill). A `set`, `delete`, `clear` or
 * bus invalidation of the key bumps the fence; the reader checks it before writing and
 * skips the write if it moved:
 *
 *   // If the key was written or deleted while this read was in flight, its result is a
 *   // snapshot from before that write and must not be stored over it - callers awaiting
 *   // the read still receive the value.
 *
 * Records exist only while a reader holds them, so idle keys cost nothing.
 */
interface FenceRecord {
  gen: number;
  refs: number;
  /** `gen` at the last bump that carried no version (this instance's own writes). */
  unversionedGen: number;
  /** The greatest version a versioned bump carried while the record lived. */
  upTo: Version | undefined;
}

/** A reader's hold on one key's fence. */
export interface FenceToken {
  readonly key: string;
  readonly record: FenceRecord;
  readonly gen: number;
  readonly clearGen: number;
  released: boolean;
}

import type { Version } from '../entry/version.js';

/** The fences of one cache (shared by its views), by key within the namespace. */
export class Fences {
  readonly #records = new Map<string, FenceRecord>();
  #clearGen = 0;

  acquire(key: string): FenceToken {
    let record = this.#records.get(key);
    if (record === undefined) {
      record = { gen: 0, refs: 0, unversionedGen: 0, upTo: undefined };
      this.#records.set(key, record);
    }
    record.refs++;
    return { key, record, gen: record.gen, clearGen: this.#clearGen, released: false };
  }

  /** Whether nothing wrote, deleted or cleared the key since the token was taken. */
  holds(token: FenceToken): boolean {
    return token.record.gen === token.gen && token.clearGen === this.#clearGen;
  }

  /**
   * Whether a read holding `token` may still write back an entry of `version`: nothing
   * moved, or only other instances' writes no newer than it (bus messages carry their
   * versions). An entry as new as every write announced meanwhile is what those
   * messages keep (they drop older copies only), so it may be copied up; without this, a
   * read that merely crossed the message of the very write it read skipped its backfill.
   */
  holdsFor(token: FenceToken, version: Version): boolean {
    if (this.holds(token)) return true;
    const record = token.record;
    return (
      token.clearGen === this.#clearGen &&
      record.unversionedGen <= token.gen &&
      record.upTo !== undefined &&
      version >= record.upTo
    );
  }

  release(token: FenceToken): void {
    if (token.released) return;
    token.released = true;
    if (--token.record.refs === 0 && this.#records.get(token.key) === token.record) {
      this.#records.delete(token.key);
    }
  }

  /**
   * Told of each bump of a key a reader holds (`undefined`: a bump of all), so a read
   * waiting on another instance's load looks again (see `flow/lease.ts`).
   */
  onBump: ((key: string | undefined) => void) | undefined = undefined;

  /**
   * The key was written or deleted (at `version`, when another instance announced it):
   * readers in flight must not write back anything older.
   */
  bump(key: string, version?: Version): void {
    const record = this.#records.get(key);
    if (record === undefined) return;
    record.gen++;
    if (version === undefined) record.unversionedGen = record.gen;
    else if (record.upTo === undefined || version > record.upTo) record.upTo = version;
    this.onBump?.(key);
  }

  /** Everything was cleared (or L1 resynced): no reader in flight may write back. */
  bumpAll(): void {
    this.#clearGen++;
    this.onBump?.(undefined);
  }
}
