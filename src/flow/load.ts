import { LoaderTimeoutError } from '../errors.js';
import { loadChannel, traced } from '../observability/channels.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import type { Waiter } from './semaphore.js';
import type { Stack } from './stack.js';

/**
 * Runs a loader under the bulkhead and the hard timeout, counting it. `key` names the
 * load in a LoaderTimeoutError or BulkheadFullError. Past the hard timeout (which counts
 * time queued for the bulkhead), or once `close()` gives up on loads, the loader's
 * signal fires and the caller rejects; the loader's own promise is abandoned.
 *
 * `run` gets the load's {@link LoadStop}: its `signal` is made only when the loader asks
 * for it (most never do; an AbortController and a listener per load showed in profiles).
 */
export function runLoader<T>(
  stack: Stack,
  key: string,
  run: (stop: LoadStop) => Promise<T>,
  options: ResolvedEntryOptions,
): Promise<T> {
  const closing = stack.lifecycle.closing.signal;
  if (closing.aborted) return Promise.reject(closing.reason);
  const loads = stack.loads;
  // Past the bulkhead's queue bound: turned away at once (BulkheadFullError).
  let waiter: Waiter | undefined;
  if (loads !== undefined && !loads.tryAcquire()) {
    try {
      waiter = loads.wait(key);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return new LoadRun<T>(stack, key, options, waiter, run).settled;
}

/** What stops a load early, handed to the loader as its signal. */
export interface LoadStop {
  /** Aborted when the load is stopped (hard timeout, close); made on first use. */
  readonly signal: AbortSignal;
}

/**
 * One load in flight: its bulkhead permit, its hard timeout (counted from the call, time
 * queued for the bulkhead included), its place among the loads `close()` can stop, and
 * the promise its caller awaits (settled by the loader, or first by a stop).
 */
class LoadRun<T> implements LoadStop {
  readonly settled: Promise<T>;
  readonly #stack: Stack;
  readonly #key: string;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  #controller: AbortController | undefined;
  /** Why the load was stopped ({@link RUNNING} until it is). */
  #reason: unknown = RUNNING;
  #done = false;
  #holding: boolean;
  #waiter: Waiter | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the loader was called (`-1`: not yet, still queued for the bulkhead). */
  #started = -1;

  constructor(
    stack: Stack,
    key: string,
    options: ResolvedEntryOptions,
    waiter: Waiter | undefined,
    run: (stop: LoadStop) => Promise<T>,
  ) {
    this.#stack = stack;
    this.#key = key;
    this.#waiter = waiter;
    this.#holding = waiter === undefined && stack.loads !== undefined;
    this.settled = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    stack.lifecycle.watchLoad(this);
    if (options.hardTimeout > 0) {
      const hardTimeout = options.hardTimeout;
      this.#timer = setTimeout(() => {
        if (this.#done) return;
        stack.recorder.loader('timeouts');
        this.stop(new LoaderTimeoutError(key, hardTimeout));
      }, hardTimeout);
    }
    if (waiter === undefined) this.#call(run);
    else
      waiter.granted.then(() => {
        // Stopped while queued: the waiter's cancel() passed the permit on.
        if (this.#done) return;
        this.#waiter = undefined;
        this.#holding = true;
        this.#call(run);
      });
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== RUNNING) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Stops the load: its signal fires and its caller rejects with `reason`; the loader is abandoned. */
  stop(reason: unknown): void {
    if (this.#done) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#finish(false, reason);
  }

  #call(run: (stop: LoadStop) => Promise<T>): void {
    this.#started = performance.now();
    let running: Promise<T>;
    try {
      running = traced(loadChannel)
        ? loadChannel.tracePromise(() => run(this), {
            namespace: this.#stack.options.namespace,
            key: this.#key,
          })
        : run(this);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => this.#finish(true, value),
      (error) => this.#finish(false, error),
    );
  }

  #finish(ok: boolean, outcome: unknown): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    const stack = this.#stack;
    stack.lifecycle.unwatchLoad(this);
    this.#waiter?.cancel();
    if (this.#started >= 0) {
      stack.recorder.loadSettled(ok, performance.now() - this.#started, this.#key, ok ? undefined : outcome);
    }
    if (this.#holding) stack.loads?.release();
    if (ok) this.#resolve(outcome as T);
    else this.#reject(outcome);
  }
}

/** `LoadRun`'s reason before it is stopped. */
const RUNNING: unique symbol = Symbol('running');
