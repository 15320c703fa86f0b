/**
 * The OpenTelemetry integration with the real SDK (BasicTracerProvider +
 * InMemorySpanExporter), over the real Redis and Postgres: the span tree, attributes and
 * links of a miss through every tier, a coalesced waiter, and a store failure.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { instrument } from '../../../src/opentelemetry/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import {
  freePort,
  postgresUrlForTests,
  redisUrlForTests,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('tiercache-test');
const schema = `obs_otel_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let redisUrl: string;
let pgUrl: string;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  redisUrl = await redisUrlForTests();
  pgUrl = await postgresUrlForTests();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  exporter.reset();
});

afterAll(async () => {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
  await provider.shutdown();
  await stopAll();
});

/** A cache over Redis and Postgres, warmed (the stores answered once), then instrumented. */
async function tracedCache(namespace = uniqueNamespace('otel')) {
  const cache = new TieredCache<string>({
    namespace,
    stores: [redisStore({ url: redisUrl }), postgresStore({ connectionString: pgUrl, schema })],
    guard: { timeout: '2s' },
  });
  cleanups.push(() => cache.close());
  await cache.get('warm-up');
  cleanups.push(instrument(cache, { tracer, keys: true }));
  exporter.reset();
  return cache;
}

function children(spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
}

describe('instrument() with the OpenTelemetry SDK', () => {
  it('a miss through every tier: the operation span, a span per store call and the load', async () => {
    const cache = await tracedCache();
    await cache.getOrSet('user:1', async () => 'Ada');
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'tiercache getOrSet') as ReadableSpan;
    expect(root).toBeDefined();
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({
      'cache.operation': 'getOrSet',
      'cache.key': 'user:1',
      'cache.hit': false,
      'cache.tier': 'loader',
    });
    const names = children(spans, root).map((s) => s.name);
    // The walk reads both stores, then the lease (a script on the Redis store) before the load.
    expect(names.slice(0, 4)).toEqual([
      'tiercache redis read',
      'tiercache postgres read',
      'tiercache redis read',
      'tiercache load',
    ]);
    // The commit writes both stores (in parallel, in either order); the lease's release
    // follows in the background, after the caller has its value.
    expect(names.slice(4).sort()).toEqual(['tiercache postgres write', 'tiercache redis write']);
    const redisRead = children(spans, root)[0] as ReadableSpan;
    const url = new URL(redisUrl);
    expect(redisRead.attributes).toMatchObject({
      'db.system': 'redis',
      'cache.tier': 'redis',
      'cache.hit': false,
      'server.address': url.hostname,
      'server.port': Number(url.port || 6379),
    });
    expect(children(spans, root)[1]?.attributes['db.system']).toBe('postgresql');
    // An L1 hit makes no span.
    exporter.reset();
    await cache.getOrSet('user:1', async () => 'other');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('a hit in a store below L1 says which tier answered', async () => {
    const namespace = uniqueNamespace('otel');
    const writer = new TieredCache<string>({
      namespace,
      stores: [redisStore({ url: redisUrl }), postgresStore({ connectionString: pgUrl, schema })],
    });
    cleanups.push(() => writer.close());
    await writer.set('k', 'v');
    const cache = await tracedCache(namespace);
    expect(await cache.get('k')).toBe('v');
    const root = exporter.getFinishedSpans().find((s) => s.name === 'tiercache get') as ReadableSpan;
    expect(root.attributes).toMatchObject({ 'cache.hit': true, 'cache.tier': 'redis' });
  });

  it('a coalesced waiter links to the span of the load it joined', async () => {
    const cache = await tracedCache();
    let release!: (value: string) => void;
    const gate = new Promise<string>((resolve) => {
      release = resolve;
    });
    let loads = 0;
    const loader = () => {
      loads++;
      return gate;
    };
    const first = cache.getOrSet('hot', loader);
    // The first caller's flight is registered synchronously; the second joins it.
    const second = cache.getOrSet('hot', loader);
    release('value');
    expect(await Promise.all([first, second])).toEqual(['value', 'value']);
    expect(loads).toBe(1);
    const ops = exporter.getFinishedSpans().filter((s) => s.name === 'tiercache getOrSet');
    expect(ops).toHaveLength(2);
    const [starter, waiter] = ops.sort(
      (a, b) => (a.attributes['cache.coalesced'] ? 1 : 0) - (b.attributes['cache.coalesced'] ? 1 : 0),
    ) as [ReadableSpan, ReadableSpan];
    expect(waiter.attributes['cache.coalesced']).toBe(true);
    expect(waiter.links).toHaveLength(1);
    expect(waiter.links[0]?.context.spanId).toBe(starter.spanContext().spanId);
    expect(children(exporter.getFinishedSpans(), waiter)).toEqual([]);
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'tiercache load')).toHaveLength(1);
  });

  it('a store failure: the store span has the error and its code; the operation goes on', async () => {
    const port = await freePort();
    const cache = new TieredCache<string>({
      namespace: uniqueNamespace('otel'),
      stores: [
        postgresStore({
          connectionString: `postgres://127.0.0.1:${port}/x`,
          ensureSchema: false,
          timeoutMs: 2_000,
        }),
      ],
      onError: () => {},
    });
    cleanups.push(() => cache.close());
    cleanups.push(instrument(cache, { tracer }));
    expect(await cache.getOrSet('k', async () => 'loaded')).toBe('loaded');
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'tiercache getOrSet') as ReadableSpan;
    expect(root.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(root.attributes['cache.key']).toBeUndefined(); // keys only when asked for
    const read = children(spans, root).find((s) => s.name === 'tiercache postgres read') as ReadableSpan;
    expect(read.status.code).toBe(SpanStatusCode.ERROR);
    expect(read.attributes['error.type']).toBe('ECONNREFUSED');
    expect(read.attributes['server.port']).toBe(port);
    expect(read.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('one instrumentation per namespace; removing it stops the spans', async () => {
    const cache = await tracedCache();
    expect(() => instrument(cache, { tracer })).toThrow(/instrumented/);
    for (const cleanup of cleanups.splice(1)) await cleanup();
    await cache.getOrSet('x', async () => 'y');
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
