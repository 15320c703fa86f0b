// registerOtelMetrics with the real OpenTelemetry metrics SDK (MeterProvider + a pull reader).
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { registerOtelMetrics } from '../../../src/opentelemetry/index.js';
import { ChaosStore, MemoryStore } from '../../../src/testing/index.js';

/** A reader that collects when asked. */
class PullReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** `name{attr=value,...}` -> value (histograms: their count), over one collection. */
function points(metrics: ResourceMetrics): Map<string, number> {
  const out = new Map<string, number>();
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const attributes = Object.entries(point.attributes)
          .filter(([k]) => k !== 'cache.namespace')
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        const value =
          typeof point.value === 'number' ? point.value : (point.value as { count: number }).count;
        out.set(`${metric.descriptor.name}{${attributes}}`, value);
      }
    }
  }
  return out;
}

describe('registerOtelMetrics', () => {
  it('reports the counters, histograms and breaker state through the OTel metrics SDK', async () => {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    closers.push(() => provider.shutdown());
    const l2 = new ChaosStore(new MemoryStore('l2'));
    const cache = new TieredCache<string>({
      namespace: 'otel-metrics',
      stores: [l2],
      guard: { failureThreshold: 1, cooldown: '1h' },
      timeouts: { hard: 10 },
      onError: () => {},
    });
    closers.push(() => cache.close({ timeout: 0 }));
    await cache.get('warm-up');
    const stop = registerOtelMetrics(cache as never, { meter: provider.getMeter('test') });
    await cache.getOrSet('a', () => 'A');
    await cache.getOrSet('a', () => 'A');
    await expect(cache.getOrSet('t', () => new Promise<string>(() => {}))).rejects.toThrow(/hard timeout/);
    l2.fail();
    await cache.get('x');
    const first = points((await reader.collect()).resourceMetrics);
    expect(first.get('tiercache.lookups{cache.tier=l1,cache.result=hit}')).toBe(1);
    expect(first.get('tiercache.lookups{cache.tier=l1,cache.result=miss}')).toBe(4);
    expect(first.get('tiercache.lookups{cache.tier=l2,cache.result=miss}')).toBe(3);
    expect(first.get('tiercache.loads{cache.outcome=error}')).toBe(1);
    expect(first.get('tiercache.loader.duration{cache.outcome=ok}')).toBe(1);
    expect(first.get('tiercache.loader.duration{cache.outcome=timeout}')).toBe(1);
    expect(first.get('tiercache.store.errors{cache.tier=l2}')).toBe(1);
    expect(first.get('tiercache.breaker.state{cache.tier=l2}')).toBe(2);
    // Monotonic across resetStats().
    cache.resetStats();
    await cache.getOrSet('a', () => 'A');
    const second = points((await reader.collect()).resourceMetrics);
    expect(second.get('tiercache.lookups{cache.tier=l1,cache.result=hit}')).toBe(2);
    stop();
    await cache.getOrSet('a', () => 'A');
    const third = points((await reader.collect()).resourceMetrics);
    // Stopped: no longer observed (the SDK may keep reporting the last cumulative value).
    expect(third.get('tiercache.lookups{cache.tier=l1,cache.result=hit}') ?? 2).toBe(2);
  });
});
