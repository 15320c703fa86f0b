/**
 * Mixed traffic: 16 concurrent callers replay one Zipf(0.99) trace over 100,000 keys,
 * 90% getOrSet and 10% set of ~1 KB values, through an L1 of 10,000 entries over
 * Redis. tiercache (L1 + Redis store + Redis bus) against a hand-wired cache doing the
 * same with lru-cache + ioredis getBuffer/set + msgpackr (no single-flight, no bus):
 * the floor such a cache pays. Same process, rounds interleaved, order alternating, the
 * ratio the median of per-round ratios of ops/s; both replay the same trace slice in a
 * round. Then the same two sides run each kind of operation that does I/O alone
 * (mixed-kinds.ts), to show which path the gap comes from, and fresh sides run the
 * same traffic with the lease and the bus turned off in turn (mixed-variants.ts), to show
 * what those guarantees cost in it. The trace and the sides: mixed-traffic.ts.
 */
import { Redis } from 'ioredis';
import { type CacheStats, TieredCache } from '../../src/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import type { CallersRun } from '../callers.js';
import { pinnedRedis } from '../pin.js';
import { progress } from '../progress.js';
import { int, pct, rate, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, Target } from '../section.js';
import { percentile, sorted } from '../stats.js';
import { measureKinds } from './mixed-kinds.js';
import {
  CALLERS,
  drive,
  handWired,
  KEYS,
  L1_MAX,
  SET_SHARE,
  type Side,
  TTL_MS,
  tiercacheSide,
  ZIPF_S,
  zipfTrace,
} from './mixed-traffic.js';
import { measureVariants, type VariantPlan, variantTicks } from './mixed-variants.js';

const GOAL = 0.95;

/** Operations, not time: both sides replay exactly the same slices, so they hold the same keys. */
interface Plan {
  readonly rounds: number;
  readonly roundOps: number;
  readonly warmupOps: number;
  /** Rounds and operations per kind of the by-kind table (ops ≥ 2 × L1_MAX: see mixed-kinds.ts). */
  readonly kindRounds: number;
  readonly kindOps: number;
  /** The table of what the guarantees cost (see mixed-variants.ts). */
  readonly variants: VariantPlan;
}
const FULL: Plan = {
  rounds: 7,
  roundOps: 40_000,
  warmupOps: 150_000,
  kindRounds: 3,
  kindOps: 20_000,
  variants: { rounds: 5, roundOps: 30_000, warmupOps: 150_000 },
};
const QUICK: Plan = {
  rounds: 5,
  roundOps: 10_000,
  warmupOps: 40_000,
  kindRounds: 1,
  kindOps: 20_000,
  variants: { rounds: 1, roundOps: 10_000, warmupOps: 40_000 },
};

/** One measured round: each side's ops/s, CPU and GC time per op, and the ratio of their ops/s. */
interface Round {
  readonly ours: number;
  readonly bare: number;
  readonly ratio: number;
  readonly oursCpuUs: number;
  readonly bareCpuUs: number;
  readonly oursGcUs: number;
  readonly bareGcUs: number;
}

export const mixedSection: Section = {
  name: 'mixed',
  title: `mixed traffic: ${CALLERS} callers, Zipf ${ZIPF_S} over ${int(KEYS)} keys, 90% getOrSet / 10% set`,
  async run(ctx) {
    const plan = ctx.args.quick ? QUICK : FULL;
    const redis = await pinnedRedis(ctx);
    ctx.log(`  ${redis.placement}`);
    const namespace = benchNamespace('mixed');
    const cache = new TieredCache<unknown>({
      namespace,
      l1: { max: L1_MAX },
      stores: [redisStore({ url: redis.url, prefix: KEY_PREFIX })],
      bus: redisBus({ url: redis.url }),
      ttl: TTL_MS,
      // A machine busy with other work stalls the event loop past the 50 ms default now
      // and then; five such timeouts in a row open the breaker for 5 s, and the run would
      // measure a cache without its L2. The hand-wired side has no timeout at all.
      guard: { timeout: '1s' },
    });
    const client = new Redis(redis.url);
    const bar = progress('mixed', 2 + plan.rounds * 2 + plan.kindRounds * 2 + variantTicks(plan.variants));
    try {
      await cache.ready();
      const trace = zipfTrace();
      const tc = tiercacheSide(cache, 'tiercache (L1 + Redis + bus)');
      const ours = tc.side;
      const bare = handWired(client, `${KEY_PREFIX}${namespace}-raw:`);
      // Warm-up: both fill their L1 and Redis from the same part of the trace.
      await drive(bare.side, trace, 0, plan.warmupOps);
      bar.tick();
      await drive(ours, trace, 0, plan.warmupOps);
      bar.tick();
      cache.resetStats();
      tc.resetReads();
      Object.assign(bare.counts, { reads: 0, l1: 0, redis: 0, loads: 0 });
      const rounds: Round[] = [];
      for (let r = 0; r < plan.rounds; r++) {
        const start = plan.warmupOps + r * plan.roundOps;
        const order = r % 2 === 0 ? ([bare.side, ours] as const) : ([ours, bare.side] as const);
        const result = new Map<Side, CallersRun>();
        for (const side of order) {
          result.set(side, await drive(side, trace, start, plan.roundOps));
          bar.tick();
        }
        const o = result.get(ours) as CallersRun;
        const b = result.get(bare.side) as CallersRun;
        rounds.push({
          ours: o.rate,
          bare: b.rate,
          ratio: o.rate / b.rate,
          oursCpuUs: o.cpuUs,
          bareCpuUs: b.cpuUs,
          oursGcUs: o.gcUs,
          bareGcUs: b.gcUs,
        });
      }
      // The row's figures are taken before the by-kind passes, which go through the same
      // sides (a copy of the hand-wired counts: the figures keep the object).
      const stats = cache.stats();
      const reads = tc.reads();
      const result = report(plan, rounds, stats, reads, { ...bare.counts }, redis.placement, ctx.args.quick);
      const measured = plan.rounds * plan.roundOps;
      const cpu = result.figures.cpuUsPerOp;
      const kinds = await measureKinds(ours, bare.side, {
        callers: CALLERS,
        ops: plan.kindOps,
        rounds: plan.kindRounds,
        shares: {
          load: (stats.loader.ok + stats.loader.failed) / measured,
          'Redis hit': (stats.stores.redis?.hits ?? 0) / measured,
          set: (measured - reads) / measured,
        },
        gapCpuUs: cpu.tiercache - cpu.handWired,
        tick: () => bar.tick(),
      });
      const variants = await measureVariants(redis.url, trace, plan.variants, () => bar.tick());
      bar.stop();
      return {
        ...result,
        figures: { ...result.figures, byKind: kinds.figures, guarantees: variants.figures },
        tables: [...result.tables, kinds.table, variants.table],
      };
    } finally {
      bar.stop();
      await inTurn(
        () => cache.close(),
        () => client.quit(),
        () => removeNamespace(redis.url, namespace),
        () => removeNamespace(redis.url, `${namespace}-raw`),
        () => redis.stop(),
      );
    }
  },
};

function report(
  plan: Plan,
  rounds: readonly Round[],
  stats: CacheStats,
  reads: number,
  bare: { reads: number; l1: number; redis: number; loads: number },
  placement: string,
  quick: boolean,
) {
  const med = (xs: number[]) => percentile(sorted(xs), 50);
  const ratio = med(rounds.map((r) => r.ratio));
  const oursRate = med(rounds.map((r) => r.ours));
  const bareRate = med(rounds.map((r) => r.bare));
  const oursCpu = med(rounds.map((r) => r.oursCpuUs));
  const bareCpu = med(rounds.map((r) => r.bareCpuUs));
  const oursGc = med(rounds.map((r) => r.oursGcUs));
  const bareGc = med(rounds.map((r) => r.bareGcUs));
  const redisHits = stats.stores.redis?.hits ?? 0;
  const loads = stats.loader.ok + stats.loader.failed;
  const met = ratio >= GOAL;
  const row = 'mixed: tiercache ops/s ÷ hand-wired';
  const targets: Target[] = [{ row, goal: `≥ ${GOAL.toFixed(2)}x`, measured: `${ratio.toFixed(2)}x`, met }];
  const table: Table = {
    title: `Mixed traffic (${CALLERS} callers, Zipf ${ZIPF_S}, ${int(KEYS)} keys, L1 ${int(L1_MAX)}, ~1 KB values; median of ${plan.rounds} rounds${quick ? ', --quick' : ''})`,
    header: [
      'cache',
      'ops/s',
      'CPU/op',
      'GC/op',
      'L1 hits',
      'Redis hits',
      'loads/read',
      'ratio',
      'goal',
      'met',
    ],
    rows: [
      [
        'tiercache',
        rate(oursRate),
        `${oursCpu.toFixed(1)} µs`,
        `${oursGc.toFixed(1)} µs`,
        pct(stats.l1.hits / reads, 1),
        pct(redisHits / reads, 1),
        (loads / reads).toFixed(3),
        `${ratio.toFixed(2)}x`,
        `≥ ${GOAL.toFixed(2)}x`,
        met ? '✓' : '✗',
      ],
      [
        'hand-wired',
        rate(bareRate),
        `${bareCpu.toFixed(1)} µs`,
        `${bareGc.toFixed(1)} µs`,
        pct(bare.l1 / bare.reads, 1),
        pct(bare.redis / bare.reads, 1),
        (bare.loads / bare.reads).toFixed(3),
        '',
        '',
        '',
      ],
    ],
    notes: [
      'tiercache: L1 + Redis store + Redis bus; hand-wired: lru-cache + ioredis getBuffer/set + msgpackr, no single-flight, no bus',
      'ratio = median over rounds of tiercache ops/s ÷ hand-wired ops/s (same trace slice per round, order alternating)',
      'hit shares and loads per read: of the getOrSet calls in the measured rounds (tiercache: from stats())',
      "CPU/op: the process's user + system CPU time per op in its rounds (median); the sides share one heap,",
      "  so part of one side's garbage can be collected in the other's rounds: read ops/s and CPU/op together",
      'GC/op: the main thread paused in garbage collection per op in its rounds (median), part of CPU/op',
      `tiercache store errors in the measured rounds: ${int(stats.stores.redis?.errors ?? 0)} (guard timeout 1 s)`,
      placement,
      ...(met
        ? []
        : [`goal missed: tiercache served ${ratio.toFixed(2)}x the hand-wired ops/s, goal ≥ ${GOAL}x`]),
    ],
  };
  return {
    figures: {
      plan,
      callers: CALLERS,
      keys: KEYS,
      l1Max: L1_MAX,
      zipf: ZIPF_S,
      setShare: SET_SHARE,
      placement,
      ratio,
      opsPerSec: { tiercache: oursRate, handWired: bareRate },
      cpuUsPerOp: { tiercache: oursCpu, handWired: bareCpu },
      gcUsPerOp: { tiercache: oursGc, handWired: bareGc },
      rounds,
      tiercache: { reads, l1Hits: stats.l1.hits, redisHits, loads, stats },
      handWired: bare,
      goal: GOAL,
      met,
    },
    tables: [table],
    targets,
  };
}
