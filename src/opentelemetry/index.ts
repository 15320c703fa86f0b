/**
 * Public entry `tiercache/opentelemetry`: OpenTelemetry traces of a cache, built on
 * its `node:diagnostics_channel` tracing channels. Importing it loads
 * `@opentelemetry/api` (an optional peer dependency); the core entry `tiercache` never
 * does.
 *
 * @packageDocumentation
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Tracer, trace } from '@opentelemetry/api';
import type { TieredCache } from '../cache/tiered-cache.js';
import { InvalidOptionError } from '../errors.js';
import {
  type LoadContext,
  loadChannel,
  type OperationContext,
  operationChannel,
  type StoreCallContext,
  storeChannel,
} from '../observability/channels.js';
import { cacheInfoOf } from '../observability/info.js';
import { type Active, Spans } from './spans.js';

export { type OtelMetricsOptions, registerOtelMetrics } from './metrics.js';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** The tracer. Default: `trace.getTracer('tiercache')` from the global tracer provider. */
  readonly tracer?: Tracer;
  /** Put the key on spans as `cache.key`. Default `false`: keys may hold personal data. */
  readonly keys?: boolean;
  /** Make a span for each L1 hit too. Default `false`: an L1 hit makes no span and costs nothing more. */
  readonly l1Hits?: boolean;
}

const als = new AsyncLocalStorage<Active>();
/** The instrumented namespaces: the channels are process-wide, each context names its namespace. */
const byNamespace = new Map<string, Spans>();

function spansOf(c: { namespace: string }): Spans | undefined {
  return byNamespace.get(c.namespace);
}

// The span of an operation (store call, load) is made in the transform of the store
// bound on its channel's `start`, so that what runs within it finds it as its parent.
const transforms = {
  operation: (c: OperationContext) => spansOf(c)?.startOperation(c) ?? (als.getStore() as Active),
  store: (c: StoreCallContext) => spansOf(c)?.startStore(c) ?? (als.getStore() as Active),
  load: (c: LoadContext) => spansOf(c)?.startLoad(c) ?? (als.getStore() as Active),
};
const subscribers = {
  operation: { asyncEnd: (c: OperationContext) => spansOf(c)?.endOperation(c) },
  store: { asyncEnd: (c: StoreCallContext) => spansOf(c)?.endStore(c) },
  load: { asyncEnd: (c: LoadContext) => spansOf(c)?.endLoad(c) },
};

function subscribe(): void {
  operationChannel.start.bindStore(als, transforms.operation);
  storeChannel.start.bindStore(als, transforms.store);
  loadChannel.start.bindStore(als, transforms.load);
  operationChannel.subscribe(subscribers.operation as never);
  storeChannel.subscribe(subscribers.store as never);
  loadChannel.subscribe(subscribers.load as never);
}

function unsubscribe(): void {
  operationChannel.start.unbindStore(als);
  storeChannel.start.unbindStore(als);
  loadChannel.start.unbindStore(als);
  operationChannel.unsubscribe(subscribers.operation as never);
  storeChannel.unsubscribe(subscribers.store as never);
  loadChannel.unsubscribe(subscribers.load as never);
}

/**
 * Traces `cache` with OpenTelemetry: a span for each operation that leaves L1
 * (`getOrSet`, `get`, `getMany`, `getOrSetMany`, `set`, `setMany`, `delete`,
 * `deleteMany`, `clear`), with child spans for each store call (`db.system`,
 * `server.address`, `server.port`, `db.namespace`, `cache.tier`, `cache.hit`) and for the
 * loader; the operation span says `cache.hit` and `cache.tier` (the store that answered,
 * or `loader`). A caller that joins another caller's load gets a link to that caller's
 * span (`cache.coalesced`). Failures set the span status and `error.type` (the
 * underlying code, such as `ECONNREFUSED`). L1 hits make no span unless `l1Hits`.
 *
 * One instrumentation per namespace in a process. The loader runs within the `load`
 * span for tiercache's own spans; spans your loader makes through the OTel API are
 * children of the context active where the load started.
 *
 * @returns a function that removes the instrumentation.
 * @throws InvalidOptionError when the cache's namespace is already instrumented, or an option is ill-typed.
 * @example
 * ```ts
 * import { instrument } from 'tiercache/opentelemetry';
 * instrument(cache, { tracer: trace.getTracer('my-service') });
 * ```
 */
export function instrument(cache: TieredCache<never>, options: InstrumentOptions = {}): () => void {
  const info = cacheInfoOf(cache);
  if (byNamespace.has(info.namespace)) {
    throw new InvalidOptionError('cache', 'a cache whose namespace is not instrumented yet', info.namespace);
  }
  for (const flag of ['keys', 'l1Hits'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw new InvalidOptionError(flag, 'a boolean', options[flag]);
    }
  }
  const tracer = options.tracer ?? trace.getTracer('tiercache');
  const spans = new Spans({ tracer, keys: options.keys === true }, als);
  if (byNamespace.size === 0) subscribe();
  byNamespace.set(info.namespace, spans);
  const offs = [
    cache.on('coalesced', ({ key }) => spans.coalesced(key)),
    cache.on('loadError', ({ key, timeout, error }) => {
      if (timeout) spans.loadTimedOut(key, error);
    }),
  ];
  if (options.l1Hits === true) {
    offs.push(
      cache.on('hit', ({ key, tier }) => {
        if (tier === 'l1') spans.l1Hit(info.namespace, key);
      }),
    );
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    for (const off of offs) off();
    byNamespace.delete(info.namespace);
    if (byNamespace.size === 0) unsubscribe();
  };
}
