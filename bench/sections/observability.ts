/**
 * The cost of observability on the hot path: an L1 hit through `getOrSet` with nothing
 * subscribed, with Prometheus metrics registered (with and without key groups), with
 * OpenTelemetry instrumentation, and with a `hit` event handler, each against the same
 * cache with nothing subscribed, interleaved round by round (see measure.ts).
 *
 * Goals (issue 20): nothing subscribed costs what an L1 hit cost before (compare the
 * first row's ratio with this section's on the previous commit: the baseline is the same
 * hand-written LRU); metrics registered ≤ 1.05x. Measured in CPU time (see cpuCompare).
 */
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { LRUCache } from 'lru-cache';
import { Registry } from 'prom-client';
import { TieredCache } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { registerMetrics } from '../../src/prometheus/index.js';
import type { Comparison, Plan, Subject, SubjectFigures } from '../measure.js';
import { progress } from '../progress.js';
import { duration, rate, type Table } from '../report.js';
import { benchNamespace } from '../scratch.js';
import type { Section } from '../section.js';

const KEYS = Array.from({ length: 1_000 }, (_, i) => `user:${i}`);
/** About 1 KB once encoded: the bench's usual value size. */
const valueFor = (key: string) => ({ key, payload: 'x'.repeat(1_000) });
const loader = (ctx: { key: string }) => valueFor(ctx.key);

// perOpCalls: passes over the 1,000 keys per run (CPU time, see cpuCompare).
const FULL: Plan = { rounds: 41, batchMs: 0, perOpCalls: 100, warmupMs: 0, warmupCalls: 3 };
const QUICK: Plan = { rounds: 9, batchMs: 0, perOpCalls: 20, warmupMs: 0, warmupCalls: 1 };

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
      const comparison = await cpuCompare(hit(cache, name), hit(plain, 'nothing subscribed'), plan, tick);
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
        comparison: await cpuCompare(
          hit(plain, 'nothing subscribed'),
          { label: 'hand-written async lru.get/set', mode: 'batch-async', call: byHand },
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

/** CPU time (user + system) of `passes` awaited passes over `keys`, in ns per call. */
async function cpuRun(subject: Subject, keys: readonly string[], passes: number): Promise<number> {
  const started = process.cpuUsage();
  for (let p = 0; p < passes; p++) for (const key of keys) await subject.call(key);
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1e3) / (passes * keys.length);
}

function cpuFigures(label: string, rounds: readonly number[]): SubjectFigures {
  const sorted = [...rounds].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  return {
    label,
    nsPerOp: median,
    p50: median,
    p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number,
    opsPerSec: 1e9 / median,
    rounds,
    samples: rounds.length,
  };
}

/**
 * `subject` against `baseline` in CPU time (`process.cpuUsage`), rounds interleaved with the
 * order flipped each round, ratio = median of per-round ratios. CPU time rather than wall
 * time: on a shared machine, other processes stretch the wall clock of whichever side they
 * preempt (per-round wall ratios from 0.1 to 4 were seen here), not this process's CPU time.
 */
async function cpuCompare(
  subject: Subject,
  baseline: Subject,
  plan: Plan,
  onRun: () => void,
): Promise<Comparison> {
  const keys = KEYS;
  for (let w = 0; w < plan.warmupCalls; w++) {
    await cpuRun(baseline, keys, plan.perOpCalls);
    await cpuRun(subject, keys, plan.perOpCalls);
  }
  const s: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    const order = r % 2 === 0 ? [baseline, subject] : [subject, baseline];
    for (const who of order) {
      (who === subject ? s : b).push(await cpuRun(who, keys, plan.perOpCalls));
      onRun?.();
    }
  }
  const ratios = s.map((ns, r) => ns / (b[r] as number));
  return {
    subject: cpuFigures(subject.label, s),
    baseline: cpuFigures(baseline.label, b),
    ratio: (cpuFigures('ratio', ratios) as SubjectFigures).nsPerOp,
    ratios,
  };
}

function tableOf(rows: readonly Row[], plan: Plan, quick: boolean): Table {
  return {
    title: `Observability cost on an L1 hit (CPU time, median of ${plan.rounds} interleaved rounds${quick ? ', --quick' : ''})`,
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
