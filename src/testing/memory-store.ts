import { EntryCodec } from '../entry/codec.js';
import type { Entry } from '../entry/entry.js';
import type { Clock } from '../options/clock.js';
import type { StoreTier, StoreWrite } from '../stores/store.js';

const codec = new EntryCodec();

/** One call a {@link MemoryStore} received, for assertions on the tier walk. */
export interface MemoryStoreCall {
  readonly op: 'get' | 'getMany' | 'setMany' | 'deleteMany' | 'clear';
  readonly keys: readonly string[];
  readonly writes?: readonly StoreWrite[];
  /** The `upTo` of a `clear` that had one. */
  readonly upTo?: string;
}

/**
 * An in-memory {@link StoreTier} over bytes, for tests: a stand-in for Redis or Postgres
 * when what is under test is the cache's tier walk (order, backfill, fences) or your own
 * code around the cache. It passes the store conformance suite.
 *
 * - Honours absolute expiry against the given clock (a {@link FakeClock} makes it
 *   deterministic); an expired key reads as absent and is dropped.
 * - Keeps, per key, only the write with the greatest version, as every store must: an
 *   older or equal write to a live key is dropped; an expired key takes any write.
 * - Copies bytes in and out, as a real store's wire would: mutating a value after
 *   `setMany` or after `get` changes nothing stored.
 * - Logs every call in {@link MemoryStore.calls}.
 * - After `close()` every call rejects with an Error, like a real client after quit.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const l2 = new MemoryStore('l2', clock);
 * const cache = new TieredCache({ namespace: 'test', clock, stores: [l2] });
 * await cache.set('k', 'v');
 * expect(l2.callsOf('setMany')).toHaveLength(1);
 * ```
 */
export class MemoryStore implements StoreTier {
  readonly name: string;
  /**
   * What the store holds, by full key: bytes, absolute expiry (ms since the epoch) and
   * the version of the write that put them there (absent: older than any version, as
   * for an item set here by hand).
   */
  readonly data = new Map<string, { value: Uint8Array; expiresAt: number; version?: string }>();
  /** Every call received, in order. */
  readonly calls: MemoryStoreCall[] = [];
  /** Whether `close()` was called. */
  closed = false;
  readonly #clock: Clock;

  /**
   * @param name the store's name in stats and errors. Default `'memory'`.
   * @param clock decides expiry. Default the wall clock (`Date.now()`).
   */
  constructor(name = 'memory', clock: Clock = { now: Date.now }) {
    this.name = name;
    this.#clock = clock;
  }

  /** The bytes at `key`, or `undefined` if absent or expired. */
  async get(key: string): Promise<Uint8Array | undefined> {
    this.#open();
    this.calls.push({ op: 'get', keys: [key] });
    return this.#read(key);
  }

  /** The bytes of each key, in order; `undefined` where absent or expired. */
  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    this.#open();
    this.calls.push({ op: 'getMany', keys: [...keys] });
    return keys.map((key) => this.#read(key));
  }

  /**
   * Stores a copy of each value with its expiry and version, unless the key holds a live
   * item of an equal or greater version (the store rule of `StoreWrite.version`): writes
   * apply in order, so a key repeated in one call keeps the greatest version.
   */
  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    this.#open();
    this.calls.push({ op: 'setMany', keys: writes.map((w) => w.key), writes: [...writes] });
    const now = this.#clock.now();
    for (const write of writes) {
      const held = this.data.get(write.key);
      // Versions are fixed-width lowercase hex: string order is numeric order.
      const blocked = held?.version !== undefined && now < held.expiresAt && write.version <= held.version;
      if (blocked) continue;
      this.data.set(write.key, {
        value: write.value.slice(),
        expiresAt: write.expiresAt,
        version: write.version,
      });
    }
  }

  /** Deletes every key; absent keys are ignored. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#open();
    this.calls.push({ op: 'deleteMany', keys: [...keys] });
    for (const key of keys) this.data.delete(key);
  }

  /**
   * Deletes every key starting with `prefix`; with `upTo`, only those holding no version
   * (oldest) or a version not greater than it.
   */
  async clear(prefix: string, upTo?: string): Promise<void> {
    this.#open();
    this.calls.push(
      upTo === undefined ? { op: 'clear', keys: [prefix] } : { op: 'clear', keys: [prefix], upTo },
    );
    for (const [key, item] of [...this.data]) {
      if (!key.startsWith(prefix)) continue;
      // Versions are fixed-width lowercase hex: string order is numeric order.
      if (upTo === undefined || item.version === undefined || item.version <= upTo) this.data.delete(key);
    }
  }

  /** Marks the store closed; later calls reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }

  /** The entry held at `key` (decoded with the default codec), ignoring expiry; `undefined` if absent. */
  entry(key: string): Entry | undefined {
    const item = this.data.get(key);
    return item === undefined ? undefined : codec.decode(item.value);
  }

  /**
   * Puts an entry straight into the store with the entry's version, as another
   * instance's write would, bypassing the version rule (what is there is replaced).
   */
  put(key: string, entry: Entry): void {
    this.data.set(key, { value: codec.encode(entry), expiresAt: entry.expiresAt, version: entry.version });
  }

  /** Calls of one kind, in order. */
  callsOf(op: MemoryStoreCall['op']): MemoryStoreCall[] {
    return this.calls.filter((call) => call.op === op);
  }

  // Like a real client after quit(): calls after close() fail.
  #open(): void {
    if (this.closed) throw new Error(`store ${this.name} is closed`);
  }

  #read(key: string): Uint8Array | undefined {
    const item = this.data.get(key);
    if (item === undefined) return undefined;
    if (this.#clock.now() >= item.expiresAt) {
      this.data.delete(key);
      return undefined;
    }
    return item.value.slice();
  }
}
