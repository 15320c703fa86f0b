/**
 * The harness behind the `redis-down` section: one cache (L1, a private Redis as store and
 * bus, optionally Postgres L3) read by concurrent callers while its Redis is paused
 * (SIGSTOP) or killed (SIGKILL, then restarted), and a writer instance that keeps
 * changing the hot keys meanwhile (its invalidations are lost with the bus). Per kind of
 * key: calls answered with the right value within 100 ms, loader calls per key per
 * second, the oldest value served (how long after the source had moved past it), p99;
 * and how long after the fault ends the cache reads Redis again.
 */
import { performance } from 'node:perf_hooks';
import { TieredCache } from '../../src/index.js';
import { DEFAULT_BLIND_MAX_AGE_MS } from '../../src/options/cache-options.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import { type OwnServer, startRedisServer } from '../../test/support/services.js';
import { benchNamespace, benchSchema, dropSchema, inTurn } from '../scratch.js';
import { SkipSection } from '../services.js';
import { percentile, sorted } from '../stats.js';

export const WITHIN_MS = 100;
export const WORKERS = 8;
const HOT_KEYS = 100;
const KEYS_PER_KIND = 5_000;
/** How often the writer changes every hot key during the fault. */
const WRITE_EVERY_MS = 250;
/** The cache's default `l1.blindMaxAge`: no value older than this may be served. */
export const BLIND_MAX_AGE_MS = DEFAULT_BLIND_MAX_AGE_MS;

export type Fault = 'pause' | 'kill';
export type Kind = 'l1' | 'l2' | 'l3' | 'cold';

export interface KindFigures {
  readonly calls: number;
  /** Calls answered with the source's value, or one it had less than the bound ago, within 100 ms. */
  readonly answeredShare: number;
  readonly failed: number;
  readonly loadsPerKeyPerSec: number;
  /** The longest any served value had been superseded at the source, ms (0: never stale). */
  readonly oldestServedMs: number;
  readonly p99Ms: number;
}

export interface OutageFigures {
  readonly fault: Fault;
  readonly l3: boolean;
  readonly faultMs: number;
  readonly kinds: Partial<Record<Kind, KindFigures>>;
  /** From SIGCONT (pause) or the restart (kill) to the first call Redis answered, ms. */
  readonly recoveryMs: number;
  /** When the bus reported its link down, ms after the fault began. */
  readonly blindAfterMs: number | undefined;
}

/** The source of truth the loader and the writer share: per key, a generation and when it changed. */
class Source {
  readonly #gen = new Map<string, number>();
  readonly #changedAt = new Map<string, number>();
  value(key: string): string {
    return `${key}#${this.#gen.get(key) ?? 0}`;
  }
  bump(key: string, at: number): string {
    this.#gen.set(key, (this.#gen.get(key) ?? 0) + 1);
    this.#changedAt.set(key, at);
    return this.value(key);
  }
  /** How long `served` had been superseded at `at` (0 if current). */
  staleness(key: string, served: string, at: number): number {
    if (served === this.value(key)) return 0;
    return Math.max(0, at - (this.#changedAt.get(key) ?? at));
  }
}

interface Samples {
  ms: number[];
  answered: number;
  failed: number;
  loads: number;
  oldest: number;
}

async function privateRedis(port?: number): Promise<OwnServer> {
  try {
    return await startRedisServer(port);
  } catch (error) {
    throw new SkipSection(
      `redis-down needs redis-server on PATH for a private server: ${(error as Error).message}`,
    );
  }
}

/** One fault on one configuration. */
export async function runOutage(
  pgUrl: string,
  fault: Fault,
  withL3: boolean,
  faultMs: number,
): Promise<OutageFigures> {
  const redis = await privateRedis();
  const servers = [redis];
  const schema = benchSchema('down');
  const namespace = benchNamespace('down');
  const l3 = () => (withL3 ? [postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 })] : []);
  const make = (l1: { max: number } | false, bus = true) =>
    new TieredCache<string>({
      namespace,
      ttl: '10m',
      l1,
      stores: [redisStore({ url: redis.url }), ...l3()],
      ...(bus ? { bus: redisBus({ url: redis.url }) } : {}),
    });
  // Room for every key read (the default L1 is 10,000): no hot key is evicted by the others.
  const cache = make({ max: HOT_KEYS + 4 * KEYS_PER_KIND });
  const writer = make(false);
  const source = new Source();
  try {
    await Promise.all([cache.ready(), writer.ready()]);
    const keys = await seed(cache, source, { namespace, redisUrl: redis.url, withL3, l3 });
    const { byKind, blindAfterMs } = await drive(cache, writer, source, keys, { redis, fault, faultMs });
    if (fault === 'pause') redis.signal('SIGCONT');
    else servers.push(await privateRedis(redis.port));
    const recoveryMs = (await firstRedisAnswer(cache, keys.recovery)) ?? Number.NaN;
    const kinds: Partial<Record<Kind, KindFigures>> = {};
    for (const [kind, s] of Object.entries(byKind) as Array<[Kind, Samples]>) {
      const ordered = sorted(s.ms);
      kinds[kind] = {
        calls: ordered.length,
        answeredShare: ordered.length === 0 ? Number.NaN : s.answered / ordered.length,
        failed: s.failed,
        loadsPerKeyPerSec: s.loads / (keys.byKind[kind]?.length ?? 1) / (faultMs / 1000),
        oldestServedMs: s.oldest,
        p99Ms: percentile(ordered, 99),
      };
    }
    return { fault, l3: withL3, faultMs, kinds, recoveryMs, blindAfterMs };
  } finally {
    for (const server of servers) server.signal('SIGCONT');
    await Promise.allSettled([cache.close({ timeout: 500 }), writer.close({ timeout: 500 })]);
    await inTurn(...servers.map((server) => () => server.stop()), () =>
      withL3 ? dropSchema(pgUrl, schema) : undefined,
    );
  }
}

interface Keys {
  readonly byKind: Partial<Record<Kind, readonly string[]>>;
  /** Written to Redis only, read once each after the fault to time the recovery. */
  readonly recovery: readonly string[];
}

/** Hot keys in every tier and L1; L2 keys in Redis only; L3 keys in Postgres only; cold keys nowhere. */
async function seed(
  cache: TieredCache<string>,
  source: Source,
  setup: {
    namespace: string;
    redisUrl: string;
    withL3: boolean;
    l3: () => ReturnType<typeof postgresStore>[];
  },
): Promise<Keys> {
  const make = (kind: string, n: number) => Array.from({ length: n }, (_, i) => `${kind}:${i}`);
  const byKind: Partial<Record<Kind, string[]>> = {
    l1: make('hot', HOT_KEYS),
    l2: make('l2', KEYS_PER_KIND),
    ...(setup.withL3 ? { l3: make('l3', KEYS_PER_KIND) } : {}),
    cold: make('cold', KEYS_PER_KIND),
  };
  const recovery = make('recover', 2_000);
  const values = (list: readonly string[]) => list.map((key) => ({ key, value: source.value(key) }));
  await cache.setMany(values(byKind.l1 as string[]));
  const only = async (
    stores: ReturnType<typeof redisStore>[] | ReturnType<typeof postgresStore>[],
    list: string[],
  ) => {
    const tier = new TieredCache<string>({ namespace: setup.namespace, ttl: '10m', l1: false, stores });
    try {
      for (let i = 0; i < list.length; i += 1_000) await tier.setMany(values(list.slice(i, i + 1_000)));
    } finally {
      await tier.close();
    }
  };
  await only([redisStore({ url: setup.redisUrl })], [...(byKind.l2 as string[]), ...recovery]);
  if (byKind.l3 !== undefined) await only(setup.l3(), byKind.l3);
  return { byKind, recovery };
}

/** Concurrent callers over every kind of key while the fault lasts, and a writer changing the hot keys. */
async function drive(
  cache: TieredCache<string>,
  writer: TieredCache<string>,
  source: Source,
  keys: Keys,
  plan: { redis: OwnServer; fault: Fault; faultMs: number },
): Promise<{ byKind: Partial<Record<Kind, Samples>>; blindAfterMs: number | undefined }> {
  const kinds = Object.keys(keys.byKind) as Kind[];
  const byKind: Partial<Record<Kind, Samples>> = {};
  for (const kind of kinds) byKind[kind] = { ms: [], answered: 0, failed: 0, loads: 0, oldest: 0 };
  const next: Partial<Record<Kind, number>> = {};
  let blindAfterMs: number | undefined;
  const faultAt = performance.now();
  plan.redis.signal(plan.fault === 'pause' ? 'SIGSTOP' : 'SIGKILL');
  const end = faultAt + plan.faultMs;
  const writing = (async () => {
    while (performance.now() + WRITE_EVERY_MS < end) {
      await new Promise((resolve) => setTimeout(resolve, WRITE_EVERY_MS));
      const at = Date.now();
      const hot = keys.byKind.l1 as readonly string[];
      await writer.setMany(hot.map((key) => ({ key, value: source.bump(key, at) }))).catch(() => undefined);
    }
  })();
  const worker = async (w: number) => {
    for (let i = w; performance.now() < end; i++) {
      const kind = kinds[i % kinds.length] as Kind;
      const list = keys.byKind[kind] as readonly string[];
      const n = (next[kind] ?? w) + 1;
      next[kind] = n;
      const key = list[kind === 'l1' ? n % list.length : (n * 7919) % list.length] as string;
      const samples = byKind[kind] as Samples;
      const started = performance.now();
      try {
        const value = await cache.getOrSet(key, () => {
          samples.loads++;
          return source.value(key);
        });
        const ms = performance.now() - started;
        const stale = source.staleness(key, value, Date.now());
        samples.oldest = Math.max(samples.oldest, stale);
        if (ms <= WITHIN_MS && stale <= BLIND_MAX_AGE_MS) samples.answered++;
        samples.ms.push(ms);
      } catch {
        samples.failed++;
        samples.ms.push(performance.now() - started);
      }
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      if (blindAfterMs === undefined && cache.health().bus?.status !== 'up')
        blindAfterMs = performance.now() - faultAt;
    }
  };
  await Promise.all([writing, ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);
  return { byKind, blindAfterMs };
}

/** Reads keys Redis held (one each, so L1 never answers) until Redis answers one; ms from now. */
async function firstRedisAnswer(
  cache: TieredCache<string>,
  keys: readonly string[],
): Promise<number | undefined> {
  const started = performance.now();
  const answered = () => {
    const redis = cache.stats().stores.redis;
    return (redis?.hits ?? 0) + (redis?.misses ?? 0);
  };
  const before = answered();
  for (let i = 0; i < keys.length && performance.now() - started < 10_000; i++) {
    await cache.get(keys[i] as string).catch(() => undefined);
    if (answered() > before) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}
