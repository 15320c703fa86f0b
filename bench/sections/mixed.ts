/**
 * Mixed traffic: 16 concurrent callers replay one Zipf(0.99) trace over 100,000 keys,
 * 90% getOrSet and 10% set of ~1 KB values, through an L1 of 10,000 entries over
 * Redis. tiercache (L1 + Redis store + Redis bus) against a hand-wired cache doing the
 * same with lru-cache + ioredis getBuffer/set + msgpackr (no single-flight, no bus):
 * the floor such a cache pays. Same process, rounds interleaved, order alternating, the
 * ratio the median of per-round ratios of ops/s; both replay the same trace slice in a
 * round. Then the same two sides run each kind of operation that does I/O alone
 * (mixed-kinds.ts), to show which path the gap comes from.
 */
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { type CacheStats, msgpackCodec, TieredCache } from '../../src/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import { type CallersRun, runCallers } from '../callers.js';
import { pinnedRedis } from '../pin.js';
import { progress } from '../progress.js';
import { int, pct, rate, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, Target } from '../section.js';
import { percentile, sorted } from '../stats.js';
import { benchValue } from '../values.js';
import { zipfRanks } from '../zipf.js';
import { measureKinds } from './mixed-kinds.js';

const CALLERS = 16;
const KEYS = 100_000;
const L1_MAX = 10_000;
const ZIPF_S = 0.99;
const SET_SHARE = 0.1;
const TRACE_OPS = 1 << 20;
const TTL_MS = 3_600_000;
const GOAL = 0.95;

/** Operations, not time: both sides replay exactly the same slices, so they hold the same keys. */
interface Plan {
  readonly rounds: number;
  readonly roundOps: number;
  readonly warmupOps: number;
  /** Rounds and operations per kind of the by-kind table (ops ≥ 2 × L1_MAX: see mixed-kinds.ts). */
  readonly kindRounds: number;
  readonly kindOps: number;
}
const FULL: Plan = { rounds: 7, roundOps: 40_000, warmupOps: 150_000, kindRounds: 3, kindOps: 20_000 };
const QUICK: Plan = { rounds: 5, roundOps: 10_000, warmupOps: 40_000, kindRounds: 1, kindOps: 20_000 };

/** The replayed trace: key ids (Zipf ranks) and which operations are sets. */
interface Trace {
  readonly keys: readonly string[];
  readonly ids: Int32Array;
  readonly sets: Uint8Array;
}

/** A seeded xorshift32 in [0, 1): the same trace every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

function zipfTrace(): Trace {
  const rank = zipfRanks(KEYS, ZIPF_S);
  const next = random(0x5eed);
  const ids = new Int32Array(TRACE_OPS);
  const sets = new Uint8Array(TRACE_OPS);
  for (let i = 0; i < TRACE_OPS; i++) {
    ids[i] = rank(next());
    sets[i] = next() < SET_SHARE ? 1 : 0;
  }
  return { keys: Array.from({ length: KEYS }, (_, i) => `k:${i}`), ids, sets };
}

/** One side: an operation per trace position. */
interface Side {
  readonly label: string;
  run(key: string, id: number, set: boolean): Promise<unknown>;
}

/** A fixed pool of values for sets, so both sides pay the same to make one. */
const SET_VALUES = Array.from({ length: 64 }, (_, i) => benchValue(1_000_000 + i));

/** One measured round: each side's ops/s and CPU time per op, and the ratio of their ops/s. */
interface Round {
  readonly ours: number;
  readonly bare: number;
  readonly ratio: number;
  readonly oursCpuUs: number;
  readonly bareCpuUs: number;
}

/** Runs `side` with {@link CALLERS} callers over `ops` trace positions from `start`. */
function drive(side: Side, trace: Trace, start: number, ops: number): Promise<CallersRun> {
  return runCallers(CALLERS, ops, (n) => {
    const i = (start + n) & (TRACE_OPS - 1);
    const id = trace.ids[i] as number;
    return side.run(trace.keys[id] as string, id, trace.sets[i] === 1);
  });
}

/** The hand-wired cache, and what it counted (its own hit shares, for comparison). */
function handWired(client: Redis, prefix: string) {
  const lru = new LRUCache<string, object>({ max: L1_MAX });
  const codec = msgpackCodec();
  const counts = { reads: 0, l1: 0, redis: 0, loads: 0 };
  const side: Side = {
    label: 'lru-cache + ioredis + msgpackr',
    async run(key, id, set) {
      const full = prefix + key;
      if (set) {
        const value = SET_VALUES[id & 63] as object;
        await client.set(full, codec.encode(value) as Buffer, 'PX', TTL_MS);
        lru.set(key, value);
        return;
      }
      counts.reads++;
      let value: object | undefined = lru.get(key);
      if (value !== undefined) {
        counts.l1++;
        return value;
      }
      const bytes = await client.getBuffer(full);
      if (bytes !== null) {
        counts.redis++;
        value = codec.decode(bytes) as object;
      } else {
        counts.loads++;
        value = benchValue(id);
        await client.set(full, codec.encode(value) as Buffer, 'PX', TTL_MS);
      }
      lru.set(key, value);
      return value;
    },
  };
  return { side, counts };
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
    const bar = progress('mixed', 2 + plan.rounds * 2 + plan.kindRounds * 2);
    try {
      await cache.ready();
      const trace = zipfTrace();
      let reads = 0;
      const loader = ({ key }: { key: string }) => benchValue(Number(key.slice(2)));
      const ours: Side = {
        label: 'tiercache (L1 + Redis + bus)',
        run: (key, id, set) => {
          if (set) return cache.set(key, SET_VALUES[id & 63]);
          reads++;
          return cache.getOrSet(key, loader);
        },
      };
      const bare = handWired(client, `${KEY_PREFIX}${namespace}-raw:`);
      // Warm-up: both fill their L1 and Redis from the same part of the trace.
      await drive(bare.side, trace, 0, plan.warmupOps);
      bar.tick();
      await drive(ours, trace, 0, plan.warmupOps);
      bar.tick();
      cache.resetStats();
      reads = 0;
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
        });
      }
      // The row's figures are taken before the by-kind passes, which go through the same
      // sides (a copy of the hand-wired counts: the figures keep the object).
      const stats = cache.stats();
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
      bar.stop();
      return {
        ...result,
        figures: { ...result.figures, byKind: kinds.figures },
        tables: [...result.tables, kinds.table],
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
  const redisHits = stats.stores.redis?.hits ?? 0;
  const loads = stats.loader.ok + stats.loader.failed;
  const met = ratio >= GOAL;
  const row = 'mixed: tiercache ops/s ÷ hand-wired';
  const targets: Target[] = [{ row, goal: `≥ ${GOAL.toFixed(2)}x`, measured: `${ratio.toFixed(2)}x`, met }];
  const table: Table = {
    title: `Mixed traffic (${CALLERS} callers, Zipf ${ZIPF_S}, ${int(KEYS)} keys, L1 ${int(L1_MAX)}, ~1 KB values; median of ${plan.rounds} rounds${quick ? ', --quick' : ''})`,
    header: ['cache', 'ops/s', 'CPU/op', 'L1 hits', 'Redis hits', 'loads/read', 'ratio', 'goal', 'met'],
    rows: [
      [
        'tiercache',
        rate(oursRate),
        `${oursCpu.toFixed(1)} µs`,
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
