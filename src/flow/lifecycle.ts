import { CacheClosedError } from '../errors.js';
import type { Recorder } from '../observability/recorder.js';

/** A loader call `close()` can stop. */
export interface Stoppable {
  stop(reason: unknown): void;
}

/**
 * What `close()` must wait for, and how it ends: loads in flight (counted), background
 * work (tracked promises: backfills, refreshes), and the signal that aborts loads that
 * outlive the close timeout.
 */
export class Lifecycle {
  /** Aborted by `close()` once its timeout passes: loads in flight stop waiting for their loader. */
  readonly closing = new AbortController();
  readonly #recorder: Recorder;
  readonly #background = new Set<Promise<unknown>>();
  #closed = false;
  #loads = 0;
  #idle: (() => void) | undefined;
  /** Loaders running (or queued for the bulkhead): stopped when `closing` fires. */
  readonly #running = new Set<Stoppable>();

  constructor(recorder: Recorder) {
    this.#recorder = recorder;
    // One listener for every loader call, not one added and removed per call.
    this.closing.signal.addEventListener(
      'abort',
      () => {
        const reason = this.closing.signal.reason;
        for (const load of [...this.#running]) load.stop(reason);
      },
      { once: true },
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** @throws CacheClosedError naming `method` once the cache is closed. */
  assertOpen(method: string): void {
    if (this.#closed) throw new CacheClosedError(method);
  }

  /**
   * Counts a load that `close()` must wait for. A counter, not a tracked promise: a load
   * runs on every miss and every L2/L3 hit, and a promise chain per call shows there.
   */
  beginLoad(): void {
    this.#loads++;
  }

  endLoad(): void {
    if (--this.#loads === 0 && this.#idle !== undefined) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  /** A loader call to stop (its callers reject with the close's error) once `closing` fires. */
  watchLoad(load: Stoppable): void {
    this.#running.add(load);
  }

  unwatchLoad(load: Stoppable): void {
    this.#running.delete(load);
  }

  /** Runs a promise in the background; `close()` waits for it. Its failure is reported, never unhandled. */
  background(work: Promise<unknown>): void {
    const tracked = work
      .catch((error) => this.#recorder.error(error))
      .finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  /**
   * Marks the cache closed and waits until no load or background work is left. Loads in
   * flight get `timeoutMs` to land (a background refresh then reaches the stores before
   * they close). A loader that never settles must not hang close(): past the timeout,
   * loads reject with CacheClosedError, their signals fire, and the loaders' own promises
   * are abandoned. Called once, by the stack's `close()`.
   */
  async drain(timeoutMs: number, flushing: Promise<void> | undefined): Promise<void> {
    this.#closed = true;
    const abort = () => this.closing.abort(new CacheClosedError('close'));
    const timer = timeoutMs === 0 ? undefined : setTimeout(abort, timeoutMs);
    if (timer === undefined) abort();
    await flushing;
    while (this.#background.size > 0 || this.#loads > 0) {
      if (this.#loads > 0) {
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
      }
      await Promise.all([...this.#background]);
    }
    clearTimeout(timer);
  }
}
