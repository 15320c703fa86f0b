import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';

/**
 * `node:diagnostics_channel` tracing channels, the way undici, pg and ioredis expose
 * themselves to APMs. Each publishes `start`, `end`, `asyncStart`, `asyncEnd` and
 * `error` with one context object per call, and only while something subscribes: with
 * nobody listening a call costs one `hasSubscribers` check. `tiercache/opentelemetry`
 * is built on them.
 *
 * - `tiercache:operation`: a cache operation that leaves L1 (`getOrSet`, `get`,
 *   `getMany`, `getOrSetMany`, `set`, `setMany`, `delete`, `deleteMany`, `clear`);
 * - `tiercache:store`: one store call through its guard;
 * - `tiercache:load`: one loader call.
 *
 * Store calls and loads run within the operation that started them (a subscriber can
 * `bindStore` an AsyncLocalStorage on `start` to follow them); a caller that joins
 * another's load sees none, but gets a `coalesced` event (`cache.on`).
 */

/** The context of a `tiercache:operation` call. */
export interface OperationContext {
  readonly namespace: string;
  readonly operation: string;
  /** The key, for single-key operations (within a view, with its prefix). */
  readonly key?: string;
  /** How many keys, for batches. */
  readonly keys?: number;
  /** Set by the channel: the result, or the error. */
  result?: unknown;
  error?: unknown;
  [extra: string | symbol]: unknown;
}

/** The context of a `tiercache:store` call. */
export interface StoreCallContext {
  readonly namespace: string;
  readonly store: string;
  /** `redis`, `postgresql`, ... when the store says. */
  readonly system: string | undefined;
  /** `host:port/db` when the store says. */
  readonly endpoint: string | undefined;
  readonly kind: 'read' | 'write';
  /** How many keys the call carries. */
  readonly keys: number;
  result?: unknown;
  error?: unknown;
  [extra: string | symbol]: unknown;
}

/** The context of a `tiercache:load` call. */
export interface LoadContext {
  readonly namespace: string;
  readonly key: string;
  result?: unknown;
  error?: unknown;
  [extra: string | symbol]: unknown;
}

export const operationChannel: TracingChannel<unknown, OperationContext> =
  tracingChannel('tiercache:operation');
export const storeChannel: TracingChannel<unknown, StoreCallContext> = tracingChannel('tiercache:store');
export const loadChannel: TracingChannel<unknown, LoadContext> = tracingChannel('tiercache:load');

/**
 * Whether anything subscribes to `channel` (or binds a store to its `start`). Node
 * 20.13+ answers in one property; older releases ask each of the five channels.
 */
export function traced(channel: TracingChannel<unknown, object>): boolean {
  const answer = (channel as { hasSubscribers?: boolean }).hasSubscribers;
  if (answer !== undefined) return answer;
  return (
    channel.start.hasSubscribers ||
    channel.end.hasSubscribers ||
    channel.asyncStart.hasSubscribers ||
    channel.asyncEnd.hasSubscribers ||
    channel.error.hasSubscribers
  );
}

/** `op` on `store` as a `tiercache:store` call when something subscribes, else just `op(store)`. */
export function traceStoreCall<S extends { name: string; system?: string; endpoint?: string }, T>(
  store: S,
  namespacePrefix: string,
  kind: 'read' | 'write',
  keys: number,
  op: (store: S) => Promise<T>,
): Promise<T> {
  if (!traced(storeChannel)) return op(store);
  const context: StoreCallContext = {
    namespace: namespacePrefix.slice(0, -1),
    store: store.name,
    system: store.system,
    endpoint: store.endpoint,
    kind,
    keys,
  };
  return storeChannel.tracePromise(() => op(store), context);
}

/**
 * Runs `run`, an operation over `locals` (`undefined`: a clear), as a
 * `tiercache:operation` call when something subscribes, else just runs it.
 */
export function traceOperation<T>(
  namespace: string,
  operation: string,
  locals: readonly string[] | undefined,
  run: () => Promise<T>,
): Promise<T> {
  if (!traced(operationChannel)) return run();
  const context: OperationContext =
    locals === undefined
      ? { namespace, operation }
      : locals.length === 1 && !operation.endsWith('Many')
        ? { namespace, operation, key: locals[0] as string }
        : { namespace, operation, keys: locals.length };
  return operationChannel.tracePromise(run, context);
}
