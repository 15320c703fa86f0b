import { EntryCodec } from '../../src/entry/codec.js';
import type { Entry } from '../../src/entry/entry.js';
import type { Clock } from '../../src/options/clock.js';
import type { StoreTier, StoreWrite } from '../../src/stores/store.js';

const codec = new EntryCodec();

/** One call a {@link ByteStore} received, for assertions on the tier walk. */
export interface ByteStoreCall {
  readonly op: 'get' | 'getMany' | 'setMany' | 'deleteMany' | 'clear';
  readonly keys: readonly string[];
  readonly writes?: readonly StoreWrite[];
}

/**
 * An in-memory StoreTier over bytes, for testing the orchestrator's tier walk only
 * (order, backfill, fences). Real stores are tested against real servers elsewhere.
 * It honours absolute expiry against the given clock and logs every call.
 */
export class ByteStore implements StoreTier {
  readonly name: string;
  readonly data = new Map<string, { value: Uint8Array; expiresAt: number }>();
  readonly calls: ByteStoreCall[] = [];
  closed = false;
  readonly #clock: Clock;

  constructor(name: string, clock: Clock) {
    this.name = name;
    this.#clock = clock;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#open();
    this.calls.push({ op: 'get', keys: [key] });
    return this.#read(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    this.#open();
    this.calls.push({ op: 'getMany', keys: [...keys] });
    return keys.map((key) => this.#read(key));
  }

  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    this.#open();
    this.calls.push({ op: 'setMany', keys: writes.map((w) => w.key), writes: [...writes] });
    for (const write of writes) {
      this.data.set(write.key, { value: write.value.slice(), expiresAt: write.expiresAt });
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#open();
    this.calls.push({ op: 'deleteMany', keys: [...keys] });
    for (const key of keys) this.data.delete(key);
  }

  async clear(prefix: string): Promise<void> {
    this.#open();
    this.calls.push({ op: 'clear', keys: [prefix] });
    for (const key of [...this.data.keys()]) if (key.startsWith(prefix)) this.data.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The entry held at `key` (decoded with the default codec), ignoring expiry; `undefined` if absent. */
  entry(key: string): Entry | undefined {
    const item = this.data.get(key);
    return item === undefined ? undefined : codec.decode(item.value);
  }

  /** Puts an entry straight into the store, as another instance's write would. */
  put(key: string, entry: Entry): void {
    this.data.set(key, { value: codec.encode(entry), expiresAt: entry.expiresAt });
  }

  /** Calls of one kind, in order. */
  callsOf(op: ByteStoreCall['op']): ByteStoreCall[] {
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
