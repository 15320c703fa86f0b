import type { Entry } from '../entry/entry.js';

/**
 * Per-key bookkeeping for reads that may write back: single-flight loads and fences.
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
}

/** A reader's hold on one key's fence. */
export interface FenceToken {
  readonly key: string;
  readonly record: FenceRecord;
  readonly gen: number;
  readonly clearGen: number;
  released: boolean;
}

export class Fences {
  readonly #records = new Map<string, FenceRecord>();
  #clearGen = 0;

  acquire(key: string): FenceToken {
    let record = this.#records.get(key);
    if (record === undefined) {
      record = { gen: 0, refs: 0 };
      this.#records.set(key, record);
    }
    record.refs++;
    return { key, record, gen: record.gen, clearGen: this.#clearGen, released: false };
  }

  /** Whether nothing wrote, deleted or cleared the key since the token was taken. */
  holds(token: FenceToken): boolean {
    return token.record.gen === token.gen && token.clearGen === this.#clearGen;
  }

  release(token: FenceToken): void {
    if (token.released) return;
    token.released = true;
    if (--token.record.refs === 0 && this.#records.get(token.key) === token.record) {
      this.#records.delete(token.key);
    }
  }

  /** The key was written or deleted: readers in flight must not write back. */
  bump(key: string): void {
    const record = this.#records.get(key);
    if (record !== undefined) record.gen++;
  }

  /** Everything was cleared (or L1 resynced): no reader in flight may write back. */
  bumpAll(): void {
    this.#clearGen++;
  }
}

/**
 * Loads in flight, by key: concurrent callers of one key share one promise. A write to
 * the key removes its flight, so later callers start a fresh load instead of joining one
 * whose result is already outdated.
 */
export class Flights<F> {
  readonly #flights = new Map<string, F>();

  get(key: string): F | undefined {
    return this.#flights.get(key);
  }

  set(key: string, flight: F): void {
    this.#flights.set(key, flight);
  }

  /** Removes the flight if it is still the one registered for the key. */
  end(key: string, flight: F): void {
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }

  forget(key: string): void {
    this.#flights.delete(key);
  }

  forgetAll(): void {
    this.#flights.clear();
  }

  get size(): number {
    return this.#flights.size;
  }
}

/**
 * A counting semaphore: the bulkhead behind `maxConcurrentLoads`. Waiters are served
 * in arrival order.
 */
export class Semaphore {
  #available: number;
  readonly #waiters: Array<() => void> = [];

  constructor(permits: number) {
    this.#available = permits;
  }

  acquire(): Promise<void> | undefined {
    if (this.#available > 0) {
      this.#available--;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) next();
    else this.#available++;
  }
}

/**
 * A load in flight for one key: its waiters share it. Most flights end in a store hit,
 * so the load's promise is made only when a load (or a waiter) needs it.
 */
export class Flight {
  /** A fresh entry found in a store (no load needed). */
  found: Entry | undefined = undefined;
  /** The newest stale entry within grace, from L1 or a store. */
  stale: Entry | undefined;
  /** Settles once the stores have been walked (found/stale are set). */
  readonly walked: Promise<void>;
  #resolveWalked!: () => void;
  #loaded: Promise<Entry> | undefined;
  #resolve: ((entry: Entry) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #settled = false;
  #entry: Entry | undefined;

  constructor(stale: Entry | undefined) {
    this.stale = stale;
    this.walked = new Promise<void>((resolve) => {
      this.#resolveWalked = resolve;
    });
  }

  /** Settles with the loaded (or fail-safe) entry. */
  get loaded(): Promise<Entry> {
    if (this.#loaded === undefined && this.#entry !== undefined) this.#loaded = Promise.resolve(this.#entry);
    if (this.#loaded === undefined) {
      this.#loaded = new Promise<Entry>((resolve, reject) => {
        this.#resolve = resolve;
        this.#reject = reject;
      });
      // A caller served stale at once does not await the load; its failure is handled here.
      this.#loaded.catch(noop);
    }
    return this.#loaded;
  }

  resolveWalked(): void {
    this.#resolveWalked();
  }

  resolveLoaded(entry: Entry): void {
    if (this.#settled) return;
    this.#settled = true;
    // No promise unless a waiter asked for one: most flights end in a store hit.
    if (this.#resolve !== undefined) this.#resolve(entry);
    else this.#entry = entry;
  }

  rejectLoaded(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#reject !== undefined) this.#reject(error);
    else {
      this.#loaded = Promise.reject(error);
      this.#loaded.catch(noop);
    }
  }
}

/** Does nothing: the handler that marks a rejection as handled. */
export function noop(): void {}
