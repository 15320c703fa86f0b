/**
 * Application instances over a private Redis Cluster (L2 and the sharded bus) and the
 * test Postgres (L3, a schema of the file's own), for the cluster coherence and
 * failover tests; and a read + write load to run across a failover.
 */
import pg from 'pg';
import type { Entry } from '../../../src/entry/entry.js';
import { CacheClosedError, TieredCache } from '../../../src/index.js';
import { type PubSubMode, redisBus, redisStore } from '../../../src/redis/index.js';
import { type OwnCluster, startRedisCluster } from '../../support/cluster.js';
import { postgresUrlForTests, uniqueNamespace } from '../../support/services.js';
import { readStores, testPostgresStore } from '../multi-instance/versioned-support.js';

/** A cluster, a Postgres schema, and the caches made on them; `stop()` undoes all of it. */
export class ClusterWorld {
  cluster!: OwnCluster;
  pgUrl = '';
  readonly schema = `tc_cluster_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  readonly prefix = `${uniqueNamespace('cluster')}|`;
  readonly #caches: TieredCache<string>[] = [];
  #admin: pg.Pool | undefined;

  async start(): Promise<void> {
    this.pgUrl = await postgresUrlForTests();
    this.cluster = await startRedisCluster();
  }

  /** Closes every cache, drops the schema, stops the cluster: each step runs even if one before it fails. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#caches.map((cache) => cache.close()));
    const admin = new pg.Pool({ connectionString: this.pgUrl, max: 1 });
    admin.on('error', () => {});
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(this.schema)} CASCADE`);
    } finally {
      await admin.end();
      await this.#admin?.end();
      await this.cluster?.stop();
    }
  }

  newRedisStore(timeoutMs = 2_000) {
    return redisStore({ client: this.cluster.client(), prefix: this.prefix, timeoutMs });
  }

  newPostgresStore() {
    return testPostgresStore(this.pgUrl, this.schema);
  }

  /** An application instance: its own L1, cluster client and bus; closed by {@link stop}. */
  instance(
    namespace: string,
    options: { pubsub?: PubSubMode; guardTimeoutMs?: number; heartbeatMs?: number } = {},
  ): TieredCache<string> {
    const cache = new TieredCache<string>({
      namespace,
      l1: { max: 10_000 },
      // The guard timeout is Redis's (the failover tests shorten it, as in production);
      // Postgres keeps its own 5 s: a busy CI machine must not make L3 skip writes.
      stores: [this.newRedisStore(options.guardTimeoutMs ?? 5_000), this.newPostgresStore()],
      bus: redisBus({
        client: this.cluster.client(),
        ...(options.pubsub ? { pubsub: options.pubsub } : {}),
        ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      }),
      ttl: '10m',
      jitter: 0,
    });
    this.#caches.push(cache);
    return cache;
  }

  /** What L2 and L3 hold for `keys` (namespace-qualified), decoded, through fresh stores. */
  stored(
    keys: readonly string[],
  ): Promise<{ redis: Array<Entry | undefined>; postgres: Array<Entry | undefined> }> {
    return readStores(this.newRedisStore(), this.newPostgresStore(), keys);
  }

  /** How many keys under this world's prefix + `under` the masters hold, counted on each master. */
  async keysOnMasters(under: string): Promise<number> {
    const client = this.cluster.client();
    await client.ping();
    let count = 0;
    for (const master of client.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await master.scan(cursor, 'MATCH', `${this.prefix}${under}*`, 'COUNT', 1000);
        count += keys.length;
        cursor = next;
      } while (cursor !== '0');
    }
    return count;
  }
}

/** What a {@link Load} saw. */
export interface LoadReport {
  reads: number;
  writes: number;
  /** getOrSet calls that rejected, with their errors. */
  failed: Error[];
  /** Loader calls: keys held in L1 or L3 should need none. */
  loads: number;
  /** The slowest read, in ms. */
  maxReadMs: number;
  /** The last value written per key (what every tier must converge on). */
  last: Map<string, string>;
  /**
   * The oldest value any read returned, as how long before the read started the write
   * that replaced it had completed (0: every read returned a value still current, or
   * replaced while it was in flight).
   */
  maxStaleMs: number;
  /** Reads that returned a value replaced more than {@link STALE_BOUND_MS} before they started. */
  staleReads: number;
}

/**
 * What staleness a read may show during a failover: a reader whose bus link went down
 * serves L1 entries for at most `l1.blindMaxAge` (1 s) after the link was last known to
 * deliver, plus the heartbeat that notices it; anything older is a stale read.
 */
export const STALE_BOUND_MS = 1_500;

/**
 * Readers (getOrSet on every instance) and one writer (`set` on the first) over `keys`,
 * until {@link stop}: each worker awaits its call before the next, so the load is as
 * heavy as the machine allows, never unbounded.
 */
export class Load {
  readonly report: LoadReport = {
    reads: 0,
    writes: 0,
    failed: [],
    loads: 0,
    maxReadMs: 0,
    last: new Map(),
    maxStaleMs: 0,
    staleReads: 0,
  };
  /** Per key, the writes completed so far: their numbers (`w<n>`) and when `set` resolved. */
  readonly #completed = new Map<string, Array<{ n: number; at: number }>>();
  #running = true;
  readonly #workers: Array<Promise<void>> = [];

  /**
   * @param readKeys the keys the instances after the first read (all of `keys` by
   *   default); the first instance reads and writes all of them.
   */
  constructor(
    instances: readonly TieredCache<string>[],
    keys: readonly string[],
    initial: string,
    readKeys: readonly string[] = keys,
  ) {
    for (const key of keys) this.report.last.set(key, initial);
    const pickFrom = (from: readonly string[]) => () =>
      from[Math.floor(Math.random() * from.length)] as string;
    instances.forEach((cache, i) => {
      const pick = pickFrom(i === 0 ? keys : readKeys);
      for (let r = 0; r < 2; r++) this.#workers.push(this.#reader(cache, pick));
    });
    this.#workers.push(this.#writer(instances[0] as TieredCache<string>, pickFrom(keys)));
  }

  /** Stops every worker and resolves the report once their last calls settled. */
  async stop(): Promise<LoadReport> {
    this.#running = false;
    await Promise.all(this.#workers);
    return this.report;
  }

  async #reader(cache: TieredCache<string>, pick: () => string): Promise<void> {
    const report = this.report;
    while (this.#running) {
      const key = pick();
      const started = performance.now();
      try {
        const value = await cache.getOrSet(key, async () => {
          report.loads++;
          return report.last.get(key) as string;
        });
        this.#checkFresh(key, value, started);
      } catch (error) {
        report.failed.push(error as Error);
      }
      report.maxReadMs = Math.max(report.maxReadMs, performance.now() - started);
      report.reads++;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Counts a read started at `started` that returned `value` though a newer write had completed before. */
  #checkFresh(key: string, value: string, started: number): void {
    const n = Number(value.slice(1));
    const replaced = this.#completed.get(key)?.find((write) => write.n > n);
    if (replaced === undefined || replaced.at >= started) return;
    const age = started - replaced.at;
    this.report.maxStaleMs = Math.max(this.report.maxStaleMs, age);
    if (age > STALE_BOUND_MS) this.report.staleReads++;
  }

  async #writer(cache: TieredCache<string>, pick: () => string): Promise<void> {
    let n = 0;
    while (this.#running) {
      const key = pick();
      const value = `w${++n}`;
      try {
        await cache.set(key, value);
      } catch (error) {
        // A test that failed before stop() closed the caches under the load: end quietly.
        if (error instanceof CacheClosedError) return;
        throw error;
      }
      this.report.last.set(key, value);
      this.report.writes++;
      const writes = this.#completed.get(key) ?? [];
      writes.push({ n, at: performance.now() });
      this.#completed.set(key, writes);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
