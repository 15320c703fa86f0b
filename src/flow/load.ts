import { LoaderTimeoutError } from '../errors.js';
import { loadChannel, traced } from '../observability/channels.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { noop } from './flight.js';
import type { Stack } from './stack.js';

/**
 * Runs a loader under the bulkhead and the hard timeout, counting it. `key` names the
 * load in a LoaderTimeoutError. Past the hard timeout, or once `close()` gives up on
 * loads, the loader's signal fires and the caller rejects; the loader's own promise is
 * abandoned.
 */
export async function runLoader<T>(
  stack: Stack,
  key: string,
  run: (signal: AbortSignal) => Promise<T>,
  options: ResolvedEntryOptions,
): Promise<T> {
  const closing = stack.lifecycle.closing.signal;
  const permit = stack.loads?.acquire();
  if (permit !== undefined) await permit;
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
  let timer: NodeJS.Timeout | undefined;
  if (options.hardTimeout > 0) {
    timer = setTimeout(() => {
      const error = new LoaderTimeoutError(key, options.hardTimeout);
      stack.recorder.loader('timeouts');
      controller.abort(error);
      stop(error);
    }, options.hardTimeout);
  }
  const started = performance.now();
  let ok = false;
  let failure: unknown;
  try {
    if (closing.aborted) throw closing.reason;
    closing.addEventListener('abort', onClose, { once: true });
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
    stack.recorder.loadSettled(ok, performance.now() - started, key, failure);
    stack.loads?.release();
  }
}
