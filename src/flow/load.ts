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
  let stop!: (error: unknown) => void;
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  stopped.catch(noop);
  const onClose = () => {
    controller.abort(closing.reason);
    stop(closing.reason);
  };
  // The hard timeout counts from the call, time queued for the bulkhead included.
  let timer: NodeJS.Timeout | undefined;
  if (options.hardTimeout > 0) {
    timer = setTimeout(() => {
      const error = new LoaderTimeoutError(key, options.hardTimeout);
      stack.recorder.loader('timeouts');
      controller.abort(error);
      stop(error);
    }, options.hardTimeout);
  }
  let holding = waiter === undefined && loads !== undefined;
  const started = performance.now();
  let ok = false;
  let failure: unknown;
  let ran = false;
  try {
    closing.addEventListener('abort', onClose, { once: true });
    if (waiter !== undefined) {
      try {
        await Promise.race([waiter.granted, stopped]);
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
    const result = await Promise.race([running, stopped]);
    ok = true;
    return result;
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    clearTimeout(timer);
    closing.removeEventListener('abort', onClose);
    if (ran) stack.recorder.loadSettled(ok, performance.now() - started, key, failure);
    if (holding) loads?.release();
  }
}
