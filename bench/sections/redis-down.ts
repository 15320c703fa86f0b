/**
 * Redis down: how a cache answers while its Redis hangs. A private redis-server (never
 * the shared one) is paused with SIGSTOP, the way a stalled or partitioned server looks
 * to a client (no refused connection, just silence), while workers call getOrSet over
 * keys held in L1 and keys held only in Postgres L3. Reported per kind of key: the share
 * of calls answered within 100 ms, and p50/p99/max.
 *
 * Run twice: without a bus (L1 keeps serving), and with the Redis bus on the paused
 * server, whose heartbeat declares the link dead within ~1 s, after which L1 is bypassed
 * and L1 keys are read from L3 too (no invalidation could reach L1 meanwhile).
 */
import { performance } from 'node:perf_hooks';
import { TieredCache } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import { startRedisServer } from '../../test/support/services.js';
import { int, pct, type Table } from '../report.js';
import { benchNamespace, benchSchema, dropSchema, inTurn } from '../scratch.js';
import type { Section, SectionContext } from '../section.js';
import { SkipSection } from '../services.js';
import { percentile, sorted } from '../stats.js';

const WITHIN_MS = 100;
const WORKERS = 8;
const L1_KEYS = 100;
const FULL = { pauseMs: 5_000, l3Keys: 20_000 };
const QUICK = { pauseMs: 1_500, l3Keys: 5_000 };

type Kind = 'l1' | 'l3';

/** Latencies of one kind of key, in ms, for calls that started while Redis was paused. */
interface KindFigures {
  readonly calls: number;
  readonly failed: number;
  readonly loaderCalls: number;
  readonly withinShare: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

interface RunFigures {
  readonly bus: boolean;
  readonly pauseMs: number;
  readonly l1: KindFigures;
  readonly l3: KindFigures;
  /** When the bus reported the link down, ms after SIGSTOP (with the bus only). */
  readonly busDownAfterMs?: number;
  readonly redisErrors: number;
  readonly breakerAtEnd: string;
}

function figures(ms: number[], failed: number, loaderCalls: number): KindFigures {
  const s = sorted(ms);
  return {
    calls: s.length,
    failed,
    loaderCalls,
    withinShare: s.length === 0 ? Number.NaN : s.filter((m) => m <= WITHIN_MS).length / s.length,
    p50Ms: percentile(s, 50),
    p99Ms: percentile(s, 99),
    maxMs: s.at(-1) ?? Number.NaN,
  };
}

async function runOnce(
  ctx: SectionContext,
  pgUrl: string,
  withBus: boolean,
  plan: { pauseMs: number; l3Keys: number },
): Promise<RunFigures> {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  try {
    redis = await startRedisServer();
  } catch (error) {
    throw new SkipSection(
      `redis-down needs redis-server on PATH for a private server: ${(error as Error).message}`,
    );
  }
  const schema = benchSchema('down');
  // Redis keys need no removal: the private server goes, and its data with it.
  const namespace = benchNamespace('down');
  const cache = new TieredCache<string>({
    namespace,
    // Room for the hot keys and little else: the L3 keys, read in a cycle far longer than
    // L1, are evicted before they come round again, so every L3-key call reads L3.
    l1: { max: 2 * L1_KEYS },
    stores: [
      redisStore({ url: redis.url }),
      postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 }),
    ],
    ...(withBus ? { bus: redisBus({ url: redis.url }) } : {}),
    ttl: '10m',
  });
  const writer = new TieredCache<string>({
    namespace,
    l1: false,
    stores: [postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 })],
    ttl: '10m',
  });
  try {
    await cache.ready();
    const l1Keys = Array.from({ length: L1_KEYS }, (_, i) => `hot:${i}`);
    const l3Keys = Array.from({ length: plan.l3Keys }, (_, i) => `cold:${i}`);
    await cache.setMany(l1Keys.map((key) => ({ key, value: `v:${key}` })));
    for (let i = 0; i < l3Keys.length; i += 1_000) {
      await writer.setMany(l3Keys.slice(i, i + 1_000).map((key) => ({ key, value: `v:${key}` })));
    }

    const ms: Record<Kind, number[]> = { l1: [], l3: [] };
    const failed: Record<Kind, number> = { l1: 0, l3: 0 };
    const loads: Record<Kind, number> = { l1: 0, l3: 0 };
    let nextL3 = 0;
    let busDownAfterMs: number | undefined;
    const pausedAt = performance.now();
    redis.signal('SIGSTOP');
    const end = pausedAt + plan.pauseMs;
    const worker = async (w: number) => {
      for (let i = w; performance.now() < end; i++) {
        const kind: Kind = i % 2 === 0 ? 'l1' : 'l3';
        const key =
          kind === 'l1'
            ? (l1Keys[i % l1Keys.length] as string)
            : (l3Keys[nextL3++ % l3Keys.length] as string);
        const started = performance.now();
        try {
          await cache.getOrSet(key, () => {
            loads[kind]++;
            return `v:${key}`;
          });
        } catch {
          failed[kind]++;
        }
        ms[kind].push(performance.now() - started);
        // L1 hits and open-breaker skips settle in microtasks: let timers and I/O run.
        if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
        if (withBus && busDownAfterMs === undefined && cache.health().bus?.status !== 'up') {
          busDownAfterMs = performance.now() - pausedAt;
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const health = cache.health();
    redis.signal('SIGCONT');
    const run: RunFigures = {
      bus: withBus,
      pauseMs: plan.pauseMs,
      l1: figures(ms.l1, failed.l1, loads.l1),
      l3: figures(ms.l3, failed.l3, loads.l3),
      ...(busDownAfterMs !== undefined ? { busDownAfterMs } : {}),
      redisErrors: cache.stats().stores.redis?.errors ?? 0,
      breakerAtEnd: health.stores.redis?.breaker ?? 'n/a',
    };
    ctx.log(
      `  redis-down (${withBus ? 'with' : 'without'} bus): L1 keys ${pct(run.l1.withinShare)} within ${WITHIN_MS} ms, ` +
        `L3 keys ${pct(run.l3.withinShare)}`,
    );
    return run;
  } finally {
    redis.signal('SIGCONT');
    await Promise.allSettled([cache.close(), writer.close()]);
    await inTurn(
      () => redis.stop(),
      () => dropSchema(pgUrl, schema),
    );
  }
}

function row(label: string, f: KindFigures): string[] {
  return [
    label,
    int(f.calls),
    int(f.failed),
    int(f.loaderCalls),
    pct(f.withinShare),
    `${f.p50Ms.toFixed(2)} ms`,
    `${f.p99Ms.toFixed(2)} ms`,
    `${f.maxMs.toFixed(2)} ms`,
  ];
}

/** The `redis-down` section: `npm run bench -- --only redis-down`. */
export const redisDownSection: Section = {
  name: 'redis-down',
  title: 'Redis paused (SIGSTOP): getOrSet answers for L1 and L3 keys',
  async run(ctx) {
    const pgUrl = await ctx.services.postgres();
    const plan = ctx.args.quick ? QUICK : FULL;
    const runs = [await runOnce(ctx, pgUrl, false, plan), await runOnce(ctx, pgUrl, true, plan)];
    const table: Table = {
      title: `Redis paused for ${plan.pauseMs / 1000} s, ${WORKERS} concurrent callers (default guard: 50 ms Redis, 200 ms Postgres)`,
      header: ['keys', 'calls', 'failed', 'loader', `≤ ${WITHIN_MS} ms`, 'p50', 'p99', 'max'],
      rows: runs.flatMap((run) => [
        row(`L1 keys, ${run.bus ? 'with bus' : 'no bus'}`, run.l1),
        row(`L3 keys, ${run.bus ? 'with bus' : 'no bus'}`, run.l3),
      ]),
      notes: [
        'Calls started while Redis was stopped. With the bus, its heartbeat declares the link dead',
        `(${runs[1]?.busDownAfterMs?.toFixed(0) ?? '?'} ms after SIGSTOP here) and L1 is bypassed from then on, so L1 keys are read from L3.`,
      ],
    };
    return { figures: { withinMs: WITHIN_MS, workers: WORKERS, runs }, tables: [table] };
  },
};
