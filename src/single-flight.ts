import type { Entry } from './entry.js';

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

/** A load in flight for one key: its waiters share it. */
export interface Flight {
  /** A fresh entry found in a store (no load needed). */
  found: Entry | undefined;
  /** The newest stale entry within grace, from L1 or a store. */
  stale: Entry | undefined;
  /** Settles once the stores have been walked (found/stale are set). */
  readonly walked: Promise<void>;
  /** Settles with the loaded (or fail-safe) entry. */
  readonly loaded: Promise<Entry>;
  resolveWalked(): void;
  resolveLoaded(entry: Entry): void;
  rejectLoaded(error: unknown): void;
}

export function newFlight(stale: Entry | undefined): Flight {
  let resolveWalked!: () => void;
  let resolveLoaded!: (entry: Entry) => void;
  let rejectLoaded!: (error: unknown) => void;
  const walked = new Promise<void>((resolve) => {
    resolveWalked = resolve;
  });
  const loaded = new Promise<Entry>((resolve, reject) => {
    resolveLoaded = resolve;
    rejectLoaded = reject;
  });
  // A caller served stale at once does not await the load; its failure is handled here.
  loaded.catch(noop);
  return { found: undefined, stale, walked, loaded, resolveWalked, resolveLoaded, rejectLoaded };
}

export function noop(): void {}
