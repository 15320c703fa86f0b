/**
 * What tiercache's guarantees cost in the mixed row: the same traffic through tiercache
 * as configured by default, then with the lease off (`lease: false`: no single-flight
 * across instances, one Redis command fewer per load), then with no bus either (no
 * PUBLISH after writes, none of its echo to read back), beside the hand-wired cache,
 * which has neither. The sides start fresh (own namespace, own keys), are warmed from
 * the same part of the trace, and replay the same slice in each round, order rotating;
 * each ratio is the median of per-round ratios to the hand-wired side.
 */
import { Redis } from 'ioredis';
import { TieredCache } from '../../src/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import type { CallersRun } from '../callers.js';
import { int, rate, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import { percentile, sorted } from '../stats.js';
import { drive, handWired, L1_MAX, type Side, type Trace, TTL_MS, tiercacheSide } from './mixed-traffic.js';

/** A tiercache configuration of the table: which of the two guarantees it keeps. */
interface Variant {
  readonly label: string;
  /** `true`: the `lease` option left unset (its default, on with a Redis store); `false`: `lease: false`. */
  readonly lease: boolean;
  /** Whether the cache has a Redis bus. */
  readonly bus: boolean;
}

const VARIANTS: readonly Variant[] = [
  { label: 'tiercache, default', lease: true, bus: true },
  { label: 'lease: false', lease: false, bus: true },
  { label: 'lease: false, no bus', lease: false, bus: false },
];

/** The table's rounds: warm-up and round lengths in trace operations. */
export interface VariantPlan {
  readonly rounds: number;
  readonly roundOps: number;
  readonly warmupOps: number;
}

/** Ticks of the progress bar {@link measureVariants} makes. */
export function variantTicks(plan: VariantPlan): number {
  return (VARIANTS.length + 1) * (1 + plan.rounds);
}

/**
 * Runs the hand-wired cache and each tiercache variant on `url` over `trace` (warm-up
 * from position 0, then `rounds` slices after it) and returns the table and figures.
 */
export async function measureVariants(
  url: string,
  trace: Trace,
  plan: VariantPlan,
  tick: () => void,
): Promise<{ table: Table; figures: Record<string, unknown> }> {
  const namespaces = VARIANTS.map((_, i) => benchNamespace(`mixed-v${i}`));
  const rawNamespace = benchNamespace('mixed-vraw');
  const client = new Redis(url);
  const caches = VARIANTS.map(
    (variant, i) =>
      new TieredCache<unknown>({
        namespace: namespaces[i] as string,
        l1: { max: L1_MAX },
        stores: [redisStore({ url, prefix: KEY_PREFIX })],
        ...(variant.bus ? { bus: redisBus({ url }) } : {}),
        ...(variant.lease ? {} : { lease: false }),
        ttl: TTL_MS,
        guard: { timeout: '1s' }, // as the mixed row's, for the same reason
      }),
  );
  try {
    await Promise.all(caches.map((cache) => cache.ready()));
    const bare = handWired(client, `${KEY_PREFIX}${rawNamespace}:`).side;
    const sides: Side[] = [
      bare,
      ...caches.map((cache, i) => tiercacheSide(cache, VARIANTS[i]?.label ?? '').side),
    ];
    for (const side of sides) {
      await drive(side, trace, 0, plan.warmupOps);
      tick();
    }
    const runs = sides.map(() => [] as CallersRun[]);
    for (let r = 0; r < plan.rounds; r++) {
      const start = plan.warmupOps + r * plan.roundOps;
      // Rotate who goes first, so no side always follows the same one.
      for (let k = 0; k < sides.length; k++) {
        const i = (r + k) % sides.length;
        runs[i]?.push(await drive(sides[i] as Side, trace, start, plan.roundOps));
        tick();
      }
    }
    return report(plan, sides, runs);
  } finally {
    await inTurn(
      ...caches.map((cache) => () => cache.close()),
      () => client.quit(),
      ...namespaces.map((namespace) => () => removeNamespace(url, namespace)),
      () => removeNamespace(url, rawNamespace),
    );
  }
}

function report(
  plan: VariantPlan,
  sides: readonly Side[],
  runs: readonly CallersRun[][],
): { table: Table; figures: Record<string, unknown> } {
  const med = (xs: number[]) => percentile(sorted(xs), 50);
  const bare = runs[0] as CallersRun[];
  const rows: string[][] = [];
  const figures: Record<string, unknown> = { plan };
  sides.forEach((side, i) => {
    const own = runs[i] as CallersRun[];
    const opsPerSec = med(own.map((run) => run.rate));
    const cpuUsPerOp = med(own.map((run) => run.cpuUs));
    const gcUsPerOp = med(own.map((run) => run.gcUs));
    const ratio = i === 0 ? 1 : med(own.map((run, r) => run.rate / (bare[r] as CallersRun).rate));
    figures[side.label] = { opsPerSec, cpuUsPerOp, gcUsPerOp, ratio };
    rows.push([
      side.label,
      rate(opsPerSec),
      `${cpuUsPerOp.toFixed(1)} µs`,
      `${gcUsPerOp.toFixed(1)} µs`,
      i === 0 ? '' : `${ratio.toFixed(2)}x`,
    ]);
  });
  return {
    figures,
    table: {
      title: `What the guarantees cost in mixed traffic (same traffic, ${int(plan.roundOps)} ops a round, median of ${plan.rounds} round${plan.rounds === 1 ? '' : 's'})`,
      header: ['cache', 'ops/s', 'CPU/op', 'GC/op', 'ratio'],
      rows,
      notes: [
        'lease: single-flight across instances (one more Redis command per load); bus: a PUBLISH after writes,',
        '  so other instances drop older L1 copies (and its echo, read back); the hand-wired cache has neither',
        'each side fresh (own keys), warmed from the same part of the trace; ratio: median over rounds of ops/s ÷ hand-wired',
        'CPU/op and GC/op (main thread paused in garbage collection, part of CPU/op): the median over rounds',
      ],
    },
  };
}
