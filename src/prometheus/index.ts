/**
 * Public entry `tiercache/prometheus`: a cache's metrics on a prom-client registry.
 * Importing it loads `prom-client` (an optional peer dependency); the core entry
 * `tiercache` never does.
 *
 * @packageDocumentation
 */
import { register as globalRegistry, type Registry } from 'prom-client';
import type { TieredCache } from '../cache/tiered-cache.js';
import { InvalidOptionError } from '../errors.js';
import { type CacheInfo, cacheInfoOf } from '../observability/info.js';
import {
  busCounters,
  type CacheStats,
  loaderCounters,
  tierCounters,
  withRatio,
} from '../observability/stats.js';
import { isObject } from '../options/validators.js';
import { Metrics } from './metrics.js';

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** The registry to register on. Default: prom-client's global `register`. */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default `'tiercache_'`. */
  readonly prefix?: string;
  /**
   * Named key patterns: lookups get a `group` label, the name of the first pattern the
   * key matches, else `other`. The label's values are these names only (never a key), so
   * the series stay bounded. Lookups are then counted per event rather than read from
   * `stats()` at scrape time.
   */
  readonly keyGroups?: Readonly<Record<string, RegExp>>;
}

interface Shared {
  readonly metrics: Metrics;
  readonly caches: Set<Tracked>;
}

const byRegistry = new WeakMap<Registry, Map<string, Shared>>();
const BREAKER_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;
const LOOKUP_RESULTS = ['hit', 'miss', 'stale'];
const ZERO: CacheStats = {
  l1: withRatio(tierCounters()),
  stores: {},
  loader: loaderCounters(),
  bus: busCounters(),
  hitRatio: 0,
};

/**
 * Registers `cache`'s metrics on a prom-client registry: lookups by `namespace` ×
 * `tier` (`l1` and each store by name) × `result` (`hit`, `miss`, `stale`); sets,
 * deletes, evictions, store and codec errors, loads by outcome, coalesced waiters,
 * fail-safe serves; loader duration by outcome (`ok`, `error`, `timeout`) and store
 * call latency histograms; bus messages, the bus link and each store's breaker state.
 * Several caches may share a registry (their series differ by `namespace`).
 *
 * Counters the cache already keeps are read at scrape time: with no `keyGroups`, an L1
 * hit costs nothing more than without metrics.
 *
 * @returns a function that unregisters the cache (and the metrics, with the last cache).
 * @throws InvalidOptionError on a bad option, or when a registry's metrics were made
 *   with `keyGroups` and this cache has none (or the other way round).
 * @example
 * ```ts
 * import { registerMetrics } from 'tiercache/prometheus';
 * registerMetrics(cache, { keyGroups: { user: /^user:/, product: /^product:/ } });
 * app.get('/metrics', async (_req, res) => res.type('text/plain').send(await register.metrics()));
 * ```
 */
export function registerMetrics(cache: TieredCache<never>, options: MetricsOptions = {}): () => void {
  const info = cacheInfoOf(cache);
  if (!isObject(options as unknown)) throw new InvalidOptionError('options', 'an object', options);
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? 'tiercache_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new InvalidOptionError(
      'prefix',
      'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      prefix,
    );
  }
  const groups = keyGroups(options.keyGroups);
  const shared = sharedMetrics(registry, prefix, groups !== undefined);
  const tracked = new Tracked(cache, info, shared.metrics, groups);
  shared.caches.add(tracked);
  return () => {
    if (!shared.caches.delete(tracked)) return;
    tracked.stop();
    if (shared.caches.size > 0) return;
    byRegistry.get(registry)?.delete(prefix);
    for (const metric of Object.values(shared.metrics)) {
      const name = (metric as { name?: unknown }).name;
      if (typeof name === 'string') registry.removeSingleMetric(name);
    }
  };
}

function keyGroups(input: unknown): Array<[string, RegExp]> | undefined {
  if (input === undefined) return undefined;
  if (!isObject(input)) throw new InvalidOptionError('keyGroups', 'an object { name: RegExp }', input);
  const entries = Object.entries(input);
  for (const [name, pattern] of entries) {
    if (!(pattern instanceof RegExp)) throw new InvalidOptionError(`keyGroups.${name}`, 'a RegExp', pattern);
    if (name === 'other') throw new InvalidOptionError('keyGroups.other', 'a name other than `other`', name);
  }
  return entries as Array<[string, RegExp]>;
}

function sharedMetrics(registry: Registry, prefix: string, grouped: boolean): Shared {
  let forRegistry = byRegistry.get(registry);
  if (forRegistry === undefined) {
    forRegistry = new Map();
    byRegistry.set(registry, forRegistry);
  }
  const existing = forRegistry.get(prefix);
  if (existing !== undefined) {
    if (existing.metrics.grouped !== grouped) {
      throw new InvalidOptionError(
        'keyGroups',
        `the same as the other caches on this registry and prefix (${existing.metrics.grouped ? 'given' : 'none'})`,
        grouped ? 'key groups' : undefined,
      );
    }
    return existing;
  }
  const caches = new Set<Tracked>();
  // Called by prom-client before it reads a metric: the counters kept by the caches
  // become deltas on the prom-client counters.
  const collect = () => {
    for (const tracked of caches) tracked.sync();
  };
  const shared: Shared = { metrics: new Metrics(registry, prefix, grouped, collect), caches };
  forRegistry.set(prefix, shared);
  return shared;
}

/** One cache on a registry: its event handlers, and what was read from its counters last. */
class Tracked {
  readonly #cache: TieredCache<never>;
  readonly #metrics: Metrics;
  readonly #ns: string;
  readonly #stores: readonly string[];
  readonly #off: Array<() => void> = [];
  #last: CacheStats | undefined;
  #resets: number;
  readonly #info: CacheInfo;
  /** With key groups: per tier, per result (hit, miss, stale), per group, lookups not yet added. */
  readonly #grouped = new Map<string, number[][]>();
  #groupNames: string[] = [];

  constructor(
    cache: TieredCache<never>,
    info: CacheInfo,
    metrics: Metrics,
    groups: Array<[string, RegExp]> | undefined,
  ) {
    this.#cache = cache;
    this.#info = info;
    this.#resets = info.resets();
    this.#metrics = metrics;
    this.#ns = info.namespace;
    this.#stores = info.stores;
    const namespace = info.namespace;
    const on = cache.on.bind(cache);
    this.#off.push(
      on('load', ({ durationMs }) =>
        metrics.loaderSeconds.observe({ namespace, outcome: 'ok' }, durationMs / 1e3),
      ),
      on('loadError', ({ durationMs, timeout }) =>
        metrics.loaderSeconds.observe(
          { namespace, outcome: timeout ? 'timeout' : 'error' },
          durationMs / 1e3,
        ),
      ),
      on('storeCall', ({ store, kind, durationMs, ok }) =>
        metrics.storeSeconds.observe(
          { namespace, tier: store, kind, outcome: ok ? 'ok' : 'error' },
          durationMs / 1e3,
        ),
      ),
    );
    if (groups !== undefined) this.#countGroups(groups);
    // Series exist from the start (at zero), so a dashboard sees every tier before traffic.
    for (const tier of ['l1', ...info.stores]) {
      if (groups === undefined) {
        for (const result of ['hit', 'miss', 'stale']) metrics.lookups.inc({ namespace, tier, result }, 0);
      }
      metrics.sets.inc({ namespace, tier }, 0);
      metrics.deletes.inc({ namespace, tier }, 0);
      if (tier === 'l1') continue;
      metrics.storeErrors.inc({ namespace, tier }, 0);
      metrics.codecErrors.inc({ namespace, tier }, 0);
    }
    this.#last = cache.stats();
    this.sync();
  }

  /**
   * Lookups by group, counted per event into plain numbers (prom-client's labelled
   * `inc` hashes its labels: too slow for every L1 hit) and added at scrape time.
   */
  #countGroups(groups: Array<[string, RegExp]>): void {
    const names = [...groups.map(([name]) => name), 'other'];
    const results = ['hit', 'miss', 'stale'] as const;
    for (const tier of ['l1', ...this.#stores]) {
      const perResult = results.map(() => names.map(() => 0));
      this.#grouped.set(tier, perResult);
      for (const result of results)
        for (const group of names) this.#metrics.lookups.inc({ namespace: this.#ns, tier, result, group }, 0);
    }
    const groupOf = (key: string | undefined) => {
      if (key !== undefined)
        for (let i = 0; i < groups.length; i++) if ((groups[i] as [string, RegExp])[1].test(key)) return i;
      return groups.length;
    };
    results.forEach((result, r) => {
      this.#off.push(
        this.#cache.on(result, ({ key, tier }) => {
          const counts = this.#grouped.get(tier)?.[r];
          if (counts === undefined) return;
          const g = groupOf(key);
          counts[g] = (counts[g] as number) + 1;
        }),
      );
    });
    this.#groupNames = names;
  }

  #flushGroups(): void {
    const names = this.#groupNames;
    for (const [tier, perResult] of this.#grouped) {
      perResult.forEach((counts, r) => {
        counts.forEach((count, g) => {
          if (count === 0) return;
          this.#metrics.lookups.inc(
            { namespace: this.#ns, tier, result: LOOKUP_RESULTS[r] as string, group: names[g] as string },
            count,
          );
          counts[g] = 0;
        });
      });
    }
  }

  stop(): void {
    for (const off of this.#off.splice(0)) off();
  }

  /** Adds what the cache counted since the last scrape (all of it after a `resetStats()`). */
  sync(): void {
    const m = this.#metrics;
    const namespace = this.#ns;
    if (m.grouped) this.#flushGroups();
    const now = this.#cache.stats();
    const resets = this.#info.resets();
    // After a resetStats(), everything counted now is new (a count equal to the last one is not "no change").
    const before = resets === this.#resets ? (this.#last as CacheStats) : ZERO;
    this.#resets = resets;
    this.#last = now;
    const add = (counter: typeof m.sets, labels: Record<string, string>, a: number, b: number) => {
      const delta = a >= b ? a - b : a;
      if (delta > 0) counter.inc(labels, delta);
    };
    const tiers: Array<[string, CacheStats['l1'], CacheStats['l1'] | undefined]> = [
      ['l1', now.l1, before.l1],
      ...this.#stores.map((name): [string, CacheStats['l1'], CacheStats['l1'] | undefined] => [
        name,
        now.stores[name] as CacheStats['l1'],
        before.stores[name],
      ]),
    ];
    for (const [tier, t, p] of tiers) {
      const labels = { namespace, tier };
      if (!m.grouped) {
        add(m.lookups, { ...labels, result: 'hit' }, t.hits, p?.hits ?? 0);
        add(m.lookups, { ...labels, result: 'miss' }, t.misses, p?.misses ?? 0);
        add(m.lookups, { ...labels, result: 'stale' }, t.staleHits, p?.staleHits ?? 0);
      }
      add(m.sets, labels, t.sets, p?.sets ?? 0);
      add(m.deletes, labels, t.deletes, p?.deletes ?? 0);
      if (tier !== 'l1') {
        add(m.storeErrors, labels, t.errors, p?.errors ?? 0);
        add(m.codecErrors, labels, t.codecErrors, p?.codecErrors ?? 0);
      }
    }
    add(m.evictions, { namespace }, now.l1.evictions, before.l1.evictions);
    add(m.loads, { namespace, outcome: 'ok' }, now.loader.ok, before.loader.ok);
    add(m.loads, { namespace, outcome: 'error' }, now.loader.failed, before.loader.failed);
    add(m.coalesced, { namespace }, now.loader.coalesced, before.loader.coalesced);
    add(m.failSafe, { namespace }, now.loader.failSafe, before.loader.failSafe);
    for (const [event, a, b] of [
      ['published', now.bus.published, before.bus.published],
      ['received', now.bus.received, before.bus.received],
      ['resync', now.bus.resyncs, before.bus.resyncs],
      ['error', now.bus.errors, before.bus.errors],
    ] as const) {
      add(m.bus, { namespace, event }, a, b);
    }
    const health = this.#cache.health();
    for (const tier of this.#stores) {
      const state = health.stores[tier]?.breaker ?? 'closed';
      m.breaker.set({ namespace, tier }, BREAKER_VALUES[state]);
    }
    if (health.bus !== undefined) m.busUp.set({ namespace }, health.bus.status === 'up' ? 1 : 0);
  }
}
