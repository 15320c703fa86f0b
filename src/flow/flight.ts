import type { Entry } from '../entry/entry.js';

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
