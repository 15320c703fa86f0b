/**
 * The cost of observability on the hot path: an L1 hit through `getOrSet` with nothing
 * subscribed, with Prometheus metrics registered (with and without key groups), with
 * OpenTelemetry instrumentation, and with a `hit` event handler, each against the same
 * cache with nothing subscribed, interleaved round by round (see measure.ts).
 *
 * Goals (issue 20): nothing subscribed costs what an L1 hit cost before (compare the
 * first row's ratio with the latency section's on the previous commit: the baseline is
 * the same hand-written LRU); metrics registered ≤ 1.05x.
 */
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { LRUCache } from 'lru-cache';
import { Registry } from 'prom-client';
import { TieredCache } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { registerMetrics } from '../../src/prometheus/index.js';
import { type Comparison, compare, type Plan } from '../measure.js';
import { progress } from '../progress.js';
import { duration, rate, type Table } from '../report.js';
import { benchNamespace } from '../scratch.js';
import type { Section } from '../section.js';

const KEYS = Array.from({ length: 1_000 }, (_, i) => `user:${i}`);
/** About 1 KB once encoded: the bench's usual value size. */
const valueFor = (key: string) => ({ key, payload: 'x'.repeat(1_000) });
const loader = (ctx: { key: string }) => valueFor(ctx.key);

const FULL: Plan = { rounds: 11, batchMs: 200, perOpCalls: 0, warmupMs: 300, warmupCalls: 0 };
const QUICK: Plan = { rounds: 5, batchMs: 25, perOpCalls: 0, warmupMs: 50, warmupCalls: 0 };

interface Row {
  readonly name: string;
  readonly comparison: Comparison;
  readonly target?: number;
  readonly note?: string;
}

async function filledCache(label: string): Promise<TieredCache<Record<string, unknown>>> {
  const cache = new TieredCache<Record<string, unknown>>({
    namespace: benchNamespace(`obs-${label}`),
    l1: { max: 10_000 },
    ttl: '1h',
  });
  for (const key of KEYS) await cache.set(key, valueFor(key));
  return cache;
}

type Cache = TieredCache<Record<string, unknown>>;

export const observabilitySection: Section = {
  name: 'observability',
  title: 'cost of metrics, traces and events on an L1 hit (interleaved rounds)',
  async run(ctx) {
    const plan = ctx.args.quick ? QUICK : FULL;
    const bar = progress('observability', plan.rounds * 2 * 5);
    const tick = () => bar.tick();
    const plain = await filledCache('plain');
    const others: Cache[] = [];
    const rows: Row[] = [];
    const hit = (cache: Cache, label: string) => ({
      label,
      mode: 'batch-async' as const,
      call: (k: string) => cache.getOrSet(k, loader),
    });
    const against = async (name: string, cache: Cache, target?: number, note?: string) => {
      const comparison = await compare(hit(cache, name), hit(plain, 'nothing subscribed'), KEYS, plan, tick);
      rows.push({ name, comparison, ...(target !== undefined ? { target } : {}), ...(note ? { note } : {}) });
    };
    try {
      const lru = new LRUCache<string, Record<string, unknown>>({ max: 10_000 });
      for (const key of KEYS) lru.set(key, valueFor(key));
      const byHand = async (k: string) => {
        let v = lru.get(k);
        if (v === undefined) {
          v = valueFor(k);
          lru.set(k, v);
        }
        return v;
      };
      rows.push({
        name: 'nothing subscribed vs hand-written async LRU',
        comparison: await compare(
          hit(plain, 'nothing subscribed'),
          { label: 'hand-written async lru.get/set', mode: 'batch-async', call: byHand },
          KEYS,
          plan,
          tick,
        ),
        note: "the latency section's L1 row: compare this ratio with it on the commit before (goal: within 2%)",
      });
      const metrics = await filledCache('metrics');
      others.push(metrics);
      registerMetrics(metrics as never, { registry: new Registry() });
      await against('prometheus registered', metrics, 1.05);
      const grouped = await filledCache('grouped');
      others.push(grouped);
      registerMetrics(grouped as never, { registry: new Registry(), keyGroups: { user: /^user:/ } });
      await against(
        'prometheus with keyGroups',
        grouped,
        undefined,
        'counts each lookup as an event (the group label needs the key)',
      );
      const traced = await filledCache('otel');
      others.push(traced);
      instrument(traced as never, { tracer: new BasicTracerProvider().getTracer('bench') });
      await against('opentelemetry instrumented', traced, 1.05);
      const handled = await filledCache('event');
      others.push(handled);
      let hits = 0;
      handled.on('hit', () => {
        hits++;
      });
      await against("cache.on('hit') handler", handled, undefined, 'a payload object per hit');
      if (hits === 0) throw new Error('the hit handler never ran');
    } finally {
      bar.stop();
      await Promise.all([plain, ...others].map((c) => c.close()));
    }
    return { figures: figuresOf(rows, plan), tables: [tableOf(rows, plan, ctx.args.quick)] };
  },
};

function tableOf(rows: readonly Row[], plan: Plan, quick: boolean): Table {
  return {
    title: `Observability cost on an L1 hit (median of ${plan.rounds} interleaved rounds${quick ? ', --quick' : ''})`,
    header: ['getOrSet L1 hit', 'time/op', 'ops/s', 'baseline', 'ratio', 'target', ''],
    rows: rows.map(({ name, comparison: c, target }) => [
      name,
      duration(c.subject.nsPerOp),
      rate(c.subject.opsPerSec),
      duration(c.baseline.nsPerOp),
      `${c.ratio.toFixed(3)}x`,
      target === undefined ? '' : `≤ ${target.toFixed(2)}x`,
      target === undefined ? '' : c.ratio <= target ? '✓' : '✗',
    ]),
    notes: [
      'baseline: the same cache with nothing subscribed (first row: the hand-written async LRU)',
      ...rows.filter((r) => r.note).map((r) => `${r.name}: ${r.note}`),
    ],
  };
}

function figuresOf(rows: readonly Row[], plan: Plan): Record<string, unknown> {
  return {
    plan,
    rows: rows.map((r) => ({
      name: r.name,
      ratio: r.comparison.ratio,
      ratios: r.comparison.ratios,
      target: r.target,
      met: r.target === undefined ? undefined : r.comparison.ratio <= r.target,
      subject: r.comparison.subject,
      baseline: r.comparison.baseline,
    })),
    unit: 'ns',
  };
}
