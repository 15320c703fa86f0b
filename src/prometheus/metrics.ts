import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds: from 0.1 ms (an L1-adjacent Redis GET on loopback) to 10 s (a slow loader). */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const LOADER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The metrics of one registry and prefix, shared by every cache registered on it (each
 * cache's series carry its `namespace`). Counters that the recorder already keeps
 * (`stats()`) are read from it at scrape time, as deltas: they cost the cache nothing
 * per call. Every metric's `collect` runs the same (idempotent) sync, so whichever
 * metric prom-client reads first, all are current. Histograms and the `group` label need each event, so they listen.
 */
export class Metrics {
  readonly grouped: boolean;
  readonly lookups: Counter<string>;
  readonly sets: Counter<string>;
  readonly deletes: Counter<string>;
  readonly evictions: Counter<string>;
  readonly storeErrors: Counter<string>;
  readonly codecErrors: Counter<string>;
  readonly loads: Counter<string>;
  readonly coalesced: Counter<string>;
  readonly failSafe: Counter<string>;
  readonly bus: Counter<string>;
  readonly loaderSeconds: Histogram<string>;
  readonly storeSeconds: Histogram<string>;
  readonly breaker: Gauge<string>;
  readonly busUp: Gauge<string>;

  constructor(registry: Registry, prefix: string, grouped: boolean, collect: () => void) {
    this.grouped = grouped;
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[]) =>
      new Counter({ name: prefix + name, help, labelNames, registers, collect });
    this.lookups = counter(
      'lookups_total',
      'Lookups per tier and result (hit: fresh value, miss: nothing usable, stale: a stale value served)',
      grouped ? ['namespace', 'tier', 'result', 'group'] : ['namespace', 'tier', 'result'],
    );
    this.sets = counter('sets_total', 'Entries written, per tier', ['namespace', 'tier']);
    this.deletes = counter('deletes_total', 'Entries deleted, per tier', ['namespace', 'tier']);
    this.evictions = counter('evictions_total', 'Entries pushed out of L1 by its size bound', ['namespace']);
    this.storeErrors = counter(
      'store_errors_total',
      'Store calls that failed, timed out or were turned away by the breaker',
      ['namespace', 'tier'],
    );
    this.codecErrors = counter('codec_errors_total', 'Stored bytes that could not be decoded', [
      'namespace',
      'tier',
    ]);
    this.loads = counter('loads_total', 'Loader calls by outcome (ok, error)', ['namespace', 'outcome']);
    this.coalesced = counter('coalesced_total', "Callers that joined another caller's load", ['namespace']);
    this.failSafe = counter('fail_safe_total', 'Stale values served because the loader failed', [
      'namespace',
    ]);
    this.bus = counter('bus_messages_total', 'Bus events (published, received, resync, error)', [
      'namespace',
      'event',
    ]);
    const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) =>
      new Histogram({ name: prefix + name, help, labelNames, buckets, registers, collect });
    this.loaderSeconds = histogram(
      'loader_duration_seconds',
      'Loader call duration by outcome (ok, error, timeout)',
      ['namespace', 'outcome'],
      LOADER_BUCKETS,
    );
    this.storeSeconds = histogram(
      'store_operation_duration_seconds',
      'Store call duration through its guard, by kind (read, write) and outcome (ok, error)',
      ['namespace', 'tier', 'kind', 'outcome'],
      STORE_BUCKETS,
    );
    this.breaker = new Gauge({
      name: `${prefix}breaker_state`,
      help: 'Circuit breaker state per store: 0 closed, 1 half-open, 2 open',
      labelNames: ['namespace', 'tier'],
      registers,
      collect,
    });
    this.busUp = new Gauge({
      name: `${prefix}bus_link_up`,
      help: 'Whether the invalidation bus link is up (1) or not (0: L1 bypassed, blind mode)',
      labelNames: ['namespace'],
      registers,
      collect,
    });
  }
}
