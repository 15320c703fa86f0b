import type { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { LoadContext, OperationContext, StoreCallContext } from '../observability/channels.js';
import { errorCode } from '../stores/failure.js';

/** What runs within an operation's span: its OTel context and its state. */
export interface Active {
  readonly ctx: Context;
  readonly op: OpState | undefined;
}

/** An operation span and what its children told it. */
export interface OpState {
  readonly span: Span;
  readonly key: string | undefined;
  /** The first store whose read returned something. */
  tier?: string;
  loaded: boolean;
}

/** How one instrumented cache makes its spans. */
export interface SpanSettings {
  readonly tracer: Tracer;
  readonly keys: boolean;
}

/** The span kept on a channel's context object between its start and its end. */
export const SPAN: unique symbol = Symbol('tiercache.otel.span') as never;

interface Started {
  readonly span: Span;
  readonly op: OpState | undefined;
  ended: boolean;
}

/**
 * Makes the spans of one namespace from the channel events: an operation span, its
 * store and loader children (found through the AsyncLocalStorage bound on each channel's
 * `start`, so they nest whatever else runs concurrently), and links for coalesced waiters.
 */
export class Spans {
  readonly #settings: SpanSettings;
  readonly #als: AsyncLocalStorage<Active>;
  /** Per key, the operation that got there first: the one a coalesced waiter joined. */
  readonly #byKey = new Map<string, OpState>();
  /** Per key, the load in flight: ended by a timeout even if the loader never settles. */
  readonly #loads = new Map<string, Started>();

  constructor(settings: SpanSettings, als: AsyncLocalStorage<Active>) {
    this.#settings = settings;
    this.#als = als;
  }

  startOperation(c: OperationContext): Active {
    const parent = this.#parent();
    const attributes: Attributes = { 'cache.namespace': c.namespace, 'cache.operation': c.operation };
    if (c.key !== undefined && this.#settings.keys) attributes['cache.key'] = c.key;
    if (c.keys !== undefined) attributes['cache.keys'] = c.keys;
    const span = this.#settings.tracer.startSpan(
      `tiercache ${c.operation}`,
      { kind: SpanKind.INTERNAL, attributes },
      parent,
    );
    const op: OpState = { span, key: c.key, loaded: false };
    if (c.key !== undefined && !this.#byKey.has(c.key)) this.#byKey.set(c.key, op);
    c[SPAN] = { span, op, ended: false } satisfies Started;
    return { ctx: trace.setSpan(parent, span), op };
  }

  endOperation(c: OperationContext): void {
    const started = take(c);
    if (started === undefined) return;
    const { span, op } = started;
    if (op !== undefined) {
      if (op.key !== undefined && this.#byKey.get(op.key) === op) this.#byKey.delete(op.key);
      if (op.loaded) span.setAttributes({ 'cache.hit': false, 'cache.tier': 'loader' });
      else if (op.tier !== undefined) span.setAttributes({ 'cache.hit': true, 'cache.tier': op.tier });
    }
    end(span, c.error);
  }

  startStore(c: StoreCallContext): Active {
    const parent = this.#parent();
    const op = this.#als.getStore()?.op;
    const attributes: Attributes = {
      'cache.namespace': c.namespace,
      'cache.tier': c.store,
      'cache.keys': c.keys,
      'db.operation.name': c.kind,
    };
    if (c.system !== undefined) {
      attributes['db.system'] = c.system;
      attributes['db.system.name'] = c.system;
    }
    Object.assign(attributes, endpointAttributes(c.endpoint));
    const span = this.#settings.tracer.startSpan(
      `tiercache ${c.store} ${c.kind}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    c[SPAN] = { span, op, ended: false } satisfies Started;
    return { ctx: trace.setSpan(parent, span), op };
  }

  endStore(c: StoreCallContext): void {
    const started = take(c);
    if (started === undefined) return;
    if (c.error === undefined && c.kind === 'read') {
      const found = Array.isArray(c.result) ? c.result.some((r) => r !== undefined) : c.result !== undefined;
      started.span.setAttribute('cache.hit', found);
      if (found && started.op !== undefined) started.op.tier ??= c.store;
    }
    end(started.span, c.error);
  }

  startLoad(c: LoadContext): Active {
    const parent = this.#parent();
    const op = this.#als.getStore()?.op;
    if (op !== undefined) op.loaded = true;
    const attributes: Attributes = { 'cache.namespace': c.namespace };
    if (this.#settings.keys) attributes['cache.key'] = c.key;
    const span = this.#settings.tracer.startSpan(
      'tiercache load',
      { kind: SpanKind.INTERNAL, attributes },
      parent,
    );
    const started: Started = { span, op, ended: false };
    c[SPAN] = started;
    this.#loads.set(c.key, started);
    return { ctx: trace.setSpan(parent, span), op };
  }

  endLoad(c: LoadContext): void {
    const started = c[SPAN] as Started | undefined;
    if (started === undefined) return;
    if (this.#loads.get(c.key) === started) this.#loads.delete(c.key);
    if (started.ended) return;
    started.ended = true;
    end(started.span, c.error);
  }

  /** The load of `key` timed out: its span ends now, whether or not the loader ever settles. */
  loadTimedOut(key: string, error: unknown): void {
    const started = this.#loads.get(key);
    if (started === undefined || started.ended) return;
    this.#loads.delete(key);
    started.ended = true;
    started.span.setAttribute('cache.timeout', true);
    end(started.span, error);
  }

  /** The caller running now joined the load of `key` started by another operation: link to it. */
  coalesced(key: string | undefined): void {
    const current = this.#als.getStore()?.op;
    const first = key === undefined ? undefined : this.#byKey.get(key);
    if (current === undefined || first === undefined || first === current) return;
    current.span.addLink({ context: first.span.spanContext(), attributes: { 'cache.link': 'coalesced' } });
    current.span.setAttribute('cache.coalesced', true);
  }

  /** An L1 hit as a span of its own (only when asked for: `l1Hits`). */
  l1Hit(namespace: string, key: string | undefined): void {
    const attributes: Attributes = { 'cache.namespace': namespace, 'cache.tier': 'l1', 'cache.hit': true };
    if (key !== undefined && this.#settings.keys) attributes['cache.key'] = key;
    this.#settings.tracer.startSpan('tiercache l1 hit', { attributes }, this.#parent()).end();
  }

  #parent(): Context {
    return this.#als.getStore()?.ctx ?? context.active();
  }
}

/** The span started for `c`, marked ended; `undefined` if there is none or it has ended. */
function take(c: OperationContext | StoreCallContext | LoadContext): Started | undefined {
  const started = c[SPAN] as Started | undefined;
  if (started === undefined || started.ended) return undefined;
  started.ended = true;
  return started;
}

function end(span: Span, error: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    const cause = (error as { cause?: unknown } | null)?.cause;
    const type = errorCode(cause) ?? errorCode(error) ?? (error as Error | null)?.name ?? 'Error';
    span.setAttribute('error.type', type);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: (error as Error | null)?.message ?? String(error),
    });
  }
  span.end();
}

/** `server.address`, `server.port` and `db.namespace` from `host:port/db`. */
function endpointAttributes(endpoint: string | undefined): Attributes {
  if (endpoint === undefined) return {};
  const match = /^(.*):(\d+)\/(.*)$/.exec(endpoint);
  if (match === null) return { 'server.address': endpoint };
  return {
    'server.address': match[1] as string,
    'server.port': Number(match[2]),
    'db.namespace': match[3] as string,
  };
}
