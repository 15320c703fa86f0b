import { LoaderTimeoutError } from '../errors.js';
import { loadChannel, traced } from '../observability/channels.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { noop } from './flight.js';
import type { Stack } from './stack.js';

/**
 * Runs a loader under the bulkhead and the hard timeout, counting it. `key` names the
 * load in a LoaderTimeoutError or BulkheadFullError. Past the hard timeout (which counts
 * time queued for the bulkhead), or once `close()` gives up on loads, the loader's
 * signal fires and the caller rejects; the loader's own promise is abandoned.
 */
export async function runLoader<T>(
  stack: Stack,
  key: string,
  run: (signal: AbortSignal) => Promise<T>,
  options: ResolvedEntryOptions,
): Promise<T> {
  const closing = stack.lifecycle.closing.signal;
  if (closing.aborted) throw closing.reason;
  const loads = stack.loads;
  // Past the bulkhead's queue bound: turned away at once (BulkheadFullError).
  const waiter = loads === undefined || loads.tryAcquire() ? undefined : loads.wait(key);
  const controller = new AbortController();
  const stops = stopsOf(stack, key, options, controller);
  let holding = waiter === undefined && loads !== undefined;
  const started = performance.now();
  let ok = false;
  let failure: unknown;
  let ran = false;
  try {
    if (waiter !== undefined) {
      try {
        await Promise.race([waiter.granted, stops.stopped]);
      } catch (error) {
        waiter.cancel();
        throw error;
      }
      holding = true;
    }
    ran = true;
    const signal = controller.signal;
    const running = traced(loadChannel)
      ? loadChannel.tracePromise(() => run(signal), { namespace: stack.options.namespace, key })
      : run(signal);
    const result = await Promise.race([running, stops.stopped]);
    ok = true;
    return result;
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    stops.dispose();
    if (ran) stack.recorder.loadSettled(ok, performance.now() - started, key, failure);
    if (holding) loads?.release();
  }
}

/**
 * What stops a load early: its hard timeout, counted from the call (time queued for the
 * bulkhead included), and the cache's close. Either aborts the loader's signal and
 * rejects `stopped`; `dispose()` once the load has settled.
 */
function stopsOf(
  stack: Stack,
  key: string,
  options: ResolvedEntryOptions,
  controller: AbortController,
): { stopped: Promise<never>; dispose(): void } {
  let stop!: (error: unknown) => void;
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  stopped.catch(noop);
  const closing = stack.lifecycle.closing.signal;
  const onClose = () => {
    controller.abort(closing.reason);
    stop(closing.reason);
  };
  closing.addEventListener('abort', onClose, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (options.hardTimeout > 0) {
    timer = setTimeout(() => {
      const error = new LoaderTimeoutError(key, options.hardTimeout);
      stack.recorder.loader('timeouts');
      controller.abort(error);
      stop(error);
    }, options.hardTimeout);
  }
  return {
    stopped,
    dispose: () => {
      clearTimeout(timer);
      closing.removeEventListener('abort', onClose);
    },
  };
}
