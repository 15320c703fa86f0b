import { type Attributes, type Meter, metrics } from '@opentelemetry/api';
import type { TieredCache } from '../cache/tiered-cache.js';
import { cacheInfoOf } from '../observability/info.js';
import type { CacheStats, TierStats } from '../observability/stats.js';

/** Options of {@link registerOtelMetrics}. */
export interface OtelMetricsOptions {
  /** The meter. Default: `metrics.getMeter('tiercache')` from the global meter provider. */
  readonly meter?: Meter;
}

const BREAKER_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;

/**
 * A cache's metrics through the OpenTelemetry metrics API, as an alternative to
 * `tiercache/prometheus`: the same figures under OTel names. Counters the cache keeps
 * (`stats()`) are observed at collection time (monotonic across `resetStats()`), so
 * they cost nothing per call; the loader and store-call durations are histograms fed
 * by the cache's events.
 *
 * - `tiercache.lookups` {`cache.tier`, `cache.result`}: `hit`, `miss`, `stale`
 * - `tiercache.sets`, `tiercache.deletes`, `tiercache.store.errors` {`cache.tier`}
 * - `tiercache.evictions`, `tiercache.coalesced`, `tiercache.fail_safe`
 * - `tiercache.loads` {`cache.outcome`: `ok`, `error`}
 * - `tiercache.bus.messages` {`cache.bus.event`}
 * - `tiercache.breaker.state` {`cache.tier`}: 0 closed, 1 half-open, 2 open
 * - `tiercache.loader.duration` {`cache.outcome`: `ok`, `error`, `timeout`}, seconds
 * - `tiercache.store.duration` {`cache.tier`, `cache.kind`, `cache.outcome`}, seconds
 *
 * Every series carries `cache.namespace`.
 *
 * @returns a function that stops reporting.
 */
export function registerOtelMetrics(cache: TieredCache<never>, options: OtelMetricsOptions = {}): () => void {
  const info = cacheInfoOf(cache);
  const meter = options.meter ?? metrics.getMeter('tiercache');
  const ns = { 'cache.namespace': info.namespace };
  const counter = (name: string, description: string) => meter.createObservableCounter(name, { description });
  const observed = {
    lookups: counter('tiercache.lookups', 'Lookups per tier and result'),
    sets: counter('tiercache.sets', 'Entries written, per tier'),
    deletes: counter('tiercache.deletes', 'Entries deleted, per tier'),
    storeErrors: counter('tiercache.store.errors', 'Store calls that failed, timed out or were turned away'),
    evictions: counter('tiercache.evictions', 'Entries pushed out of L1 by its size bound'),
    coalesced: counter('tiercache.coalesced', "Callers that joined another caller's load"),
    failSafe: counter('tiercache.fail_safe', 'Stale values served because the loader failed'),
    loads: counter('tiercache.loads', 'Loader calls by outcome'),
    bus: counter('tiercache.bus.messages', 'Bus events (published, received, resync, error)'),
    breaker: meter.createObservableGauge('tiercache.breaker.state', {
      description: 'Circuit breaker state per store: 0 closed, 1 half-open, 2 open',
    }),
  };
  const totals = new Totals();
  const callback = (result: { observe(o: unknown, value: number, attributes?: Attributes): void }) => {
    const stats = cache.stats();
    totals.resets(info.resets());
    const emit = (o: unknown, name: string, value: number, attributes: Attributes) =>
      result.observe(o, totals.add(name, attributes, value), { ...ns, ...attributes });
    const tiers: Array<[string, TierStats]> = [['l1', stats.l1], ...Object.entries(stats.stores)];
    for (const [tier, t] of tiers) {
      emit(observed.lookups, 'lookups', t.hits, { 'cache.tier': tier, 'cache.result': 'hit' });
      emit(observed.lookups, 'lookups', t.misses, { 'cache.tier': tier, 'cache.result': 'miss' });
      emit(observed.lookups, 'lookups', t.staleHits, { 'cache.tier': tier, 'cache.result': 'stale' });
      emit(observed.sets, 'sets', t.sets, { 'cache.tier': tier });
      emit(observed.deletes, 'deletes', t.deletes, { 'cache.tier': tier });
      if (tier !== 'l1') emit(observed.storeErrors, 'storeErrors', t.errors, { 'cache.tier': tier });
    }
    emit(observed.evictions, 'evictions', stats.l1.evictions, {});
    emit(observed.coalesced, 'coalesced', stats.loader.coalesced, {});
    emit(observed.failSafe, 'failSafe', stats.loader.failSafe, {});
    emit(observed.loads, 'loads', stats.loader.ok, { 'cache.outcome': 'ok' });
    emit(observed.loads, 'loads', stats.loader.failed, { 'cache.outcome': 'error' });
    busEvents(stats).forEach(([event, value]) => {
      emit(observed.bus, 'bus', value, { 'cache.bus.event': event });
    });
    const health = cache.health();
    for (const tier of info.stores) {
      const state = health.stores[tier]?.breaker ?? 'closed';
      result.observe(observed.breaker, BREAKER_VALUES[state], { ...ns, 'cache.tier': tier });
    }
  };
  const observables = Object.values(observed);
  meter.addBatchObservableCallback(callback as never, observables);
  const loaderDuration = meter.createHistogram('tiercache.loader.duration', {
    description: 'Loader call duration by outcome',
    unit: 's',
  });
  const storeDuration = meter.createHistogram('tiercache.store.duration', {
    description: 'Store call duration through its guard',
    unit: 's',
  });
  const offs = [
    cache.on('load', ({ durationMs }) =>
      loaderDuration.record(durationMs / 1e3, { ...ns, 'cache.outcome': 'ok' }),
    ),
    cache.on('loadError', ({ durationMs, timeout }) =>
      loaderDuration.record(durationMs / 1e3, { ...ns, 'cache.outcome': timeout ? 'timeout' : 'error' }),
    ),
    cache.on('storeCall', ({ store, kind, durationMs, ok }) =>
      storeDuration.record(durationMs / 1e3, {
        ...ns,
        'cache.tier': store,
        'cache.kind': kind,
        'cache.outcome': ok ? 'ok' : 'error',
      }),
    ),
  ];
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    meter.removeBatchObservableCallback(callback as never, observables);
    for (const off of offs) off();
  };
}

function busEvents(stats: CacheStats): Array<[string, number]> {
  const { bus } = stats;
  return [
    ['published', bus.published],
    ['received', bus.received],
    ['resync', bus.resyncs],
    ['error', bus.errors],
  ];
}

/** Running totals that stay monotonic when the cache's counters are reset. */
class Totals {
  readonly #last = new Map<string, number>();
  readonly #total = new Map<string, number>();
  #resets = 0;

  /** The cache's counters were reset since the last collection: what they hold now is all new. */
  resets(count: number): void {
    if (count === this.#resets) return;
    this.#resets = count;
    this.#last.clear();
  }

  /** The total for the series `name` + `attributes`, given the cache's count now. */
  add(name: string, attributes: Attributes, count: number): number {
    const key = `${name}${JSON.stringify(attributes)}`;
    const last = this.#last.get(key) ?? 0;
    const total = (this.#total.get(key) ?? 0) + (count >= last ? count - last : count);
    this.#last.set(key, count);
    this.#total.set(key, total);
    return total;
  }
}
