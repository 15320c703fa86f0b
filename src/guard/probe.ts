import { StoreDataError } from '../errors.js';
import type { StoreTier } from '../stores/store.js';
import type { Breaker } from './breaker.js';

/** While a breaker is open, the store is probed every this many ms (one probe at a time). */
export const PROBE_INTERVAL_MS = 100;

/** What a probe reports back to its guard. */
export interface ProbeReport {
  /** The store answered after `latencyMs`: the breaker is closed. */
  answered(latencyMs: number): void;
  /** The probe failed; another follows in {@link PROBE_INTERVAL_MS}. */
  failed(error: unknown): void;
}

/**
 * Closes an open breaker as soon as its store answers, rather than after a fixed
 * cool-down: a read of an absent key every {@link PROBE_INTERVAL_MS} while the breaker is
 * open, and at once when the store says its connection is ready again ({@link wake}).
 * A probe has no deadline of its own: one held by a paused server closes the breaker
 * the moment the server answers it, and the next is scheduled only when it fails, so
 * there is never more than one in flight. Its timer keeps no process alive.
 */
export class BreakerProbe {
  readonly #store: StoreTier;
  readonly #key: string;
  readonly #breaker: Breaker;
  readonly #report: ProbeReport;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #disposed = false;

  constructor(store: StoreTier, key: string, breaker: Breaker, report: ProbeReport) {
    this.#store = store;
    this.#key = key;
    this.#breaker = breaker;
    this.#report = report;
  }

  /** Probes in {@link PROBE_INTERVAL_MS}, unless a probe is already due or in flight. */
  schedule(): void {
    if (this.#timer !== undefined || this.#inFlight || this.#disposed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, PROBE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** The store's connection is ready again: probe now, if the breaker is not closed. */
  wake(): void {
    if (this.#inFlight || this.#disposed || this.#breaker.state === 'closed') return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#run();
  }

  /** No more probes; one in flight is ignored when it settles. */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
  }

  #run(): void {
    if (this.#disposed || this.#breaker.state === 'closed') return;
    this.#inFlight = true;
    const started = performance.now();
    let pending: Promise<unknown>;
    try {
      pending = this.#store.get(this.#key);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      () => this.#answered(started),
      (error: unknown) => {
        // A refusal of data is an answer: the store is up.
        if (error instanceof StoreDataError) {
          this.#answered(started);
          return;
        }
        this.#inFlight = false;
        if (this.#disposed) return;
        this.#report.failed(error);
        this.schedule();
      },
    );
  }

  #answered(started: number): void {
    this.#inFlight = false;
    if (this.#disposed) return;
    this.#breaker.succeeded();
    this.#report.answered(performance.now() - started);
  }
}
