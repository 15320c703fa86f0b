/**
 * Hit ratios on real traces: the shipped L1 policy (lru-cache via MemoryTier) against
 * Bélády's OPT and the cold-miss bound at several cache sizes, then the whole stack
 * (small L1, larger L2, unbounded L3) with the share of requests each tier serves.
 */
import { type HitRatioPoint, hitRatioSpec, renderSvg, type StackShare, stackSpec } from '../plot.js';
import { progress } from '../progress.js';
import { int, pct, type Table } from '../report.js';
import { breathe, type Section } from '../section.js';
import { SkipSection } from '../services.js';
import { replayHits } from '../sim/lru.js';
import { nextUses, optHits } from '../sim/opt.js';
import { replayStack } from '../sim/stack.js';
import { loadTrace, traceAvailable, tracesDir } from '../traces.js';

/** Cache sizes as fractions of a trace's distinct keys. */
const FULL_FRACTIONS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75];
const QUICK_FRACTIONS = [0.01, 0.05, 0.2, 0.5];
/** The sizes shown in the printed table (every size is in the JSON and the plot). */
const TABLE_FRACTIONS = [0.01, 0.05, 0.2, 0.5];
/** `--quick` replays at most this prefix of each trace. */
const QUICK_PREFIX = 100_000;
/** The stack: L1 and L2 sizes as fractions of distinct keys; L3 holds everything. */
const STACK_L1 = 0.01;
const STACK_L2 = 0.2;

/** ARC paper, Table IV, OLTP, LRU hit ratio (%) by cache size: a published yardstick. */
const ARC_OLTP_LRU: ReadonlyArray<readonly [number, number]> = [
  [1_000, 32.83],
  [5_000, 53.65],
  [15_000, 64.63],
];

const sizeFor = (distinct: number, fraction: number) => Math.max(1, Math.round(distinct * fraction));

export const hitRatioSection: Section = {
  name: 'hit-ratio',
  title: 'hit ratio on real traces (LRU as shipped vs OPT)',
  async run(ctx) {
    const quick = ctx.args.quick;
    const fractions = quick ? QUICK_FRACTIONS : FULL_FRACTIONS;
    const dir = tracesDir();
    const names = ctx.args.traces.filter((name) => traceAvailable(name, dir));
    const missing = ctx.args.traces.filter((name) => !names.includes(name));
    const skippedParts = missing.map(
      (name) => `trace ${name}: ${dir}/${name}.keys.gz not found (set TIERCACHE_TRACES to the traces folder)`,
    );
    if (names.length === 0) {
      throw new SkipSection(`no traces in ${dir} (set TIERCACHE_TRACES to the traces folder)`);
    }

    const bar = progress('hit-ratio', names.length * (fractions.length + 2));
    const perTrace: Record<string, unknown> = {};
    const points: HitRatioPoint[] = [];
    const shares: StackShare[] = [];
    const ratioRows: string[][] = [];
    const stackRows: string[][] = [];
    const yardstick: string[] = [];
    try {
      for (const name of names) {
        const trace = loadTrace(name, { dir, ...(quick ? { limit: QUICK_PREFIX } : {}) });
        const n = trace.keys.length;
        const cold = (n - trace.distinct) / n;
        const next = nextUses(trace.ids, trace.distinct);
        bar.tick(`${name} loaded`);
        await breathe();
        const sizes: Array<Record<string, number>> = [];
        for (const fraction of fractions) {
          const entries = sizeFor(trace.distinct, fraction);
          const lruHits = replayHits(trace.keys, entries);
          const optHitsAt = optHits(trace.ids, trace.distinct, entries, next);
          sizes.push({
            fraction,
            entries,
            lru: lruHits / n,
            opt: optHitsAt / n,
            lruHits,
            optHits: optHitsAt,
          });
          const sizePct = fraction * 100;
          points.push({ trace: name, sizePct, entries, series: 'LRU (shipped L1)', hitRatio: lruHits / n });
          points.push({ trace: name, sizePct, entries, series: 'OPT (Bélády)', hitRatio: optHitsAt / n });
          points.push({ trace: name, sizePct, entries, series: 'cold-miss bound', hitRatio: cold });
          bar.tick(`${name} @ ${entries}`);
          await breathe();
        }
        const l1Entries = sizeFor(trace.distinct, STACK_L1);
        const l2Entries = sizeFor(trace.distinct, STACK_L2);
        const stack = replayStack(trace.keys, l1Entries, l2Entries);
        bar.tick(`${name} stack`);
        await breathe();

        if (name === 'oltp' && !trace.sampled) {
          for (const [size, published] of ARC_OLTP_LRU) {
            const ours = (100 * replayHits(trace.keys, size)) / n;
            yardstick.push(
              `OLTP LRU at ${int(size)} pages: ${ours.toFixed(2)}% here, ${published.toFixed(2)}% in the ARC paper (Table IV) ${ours.toFixed(2) === published.toFixed(2) ? '✓' : '✗'}`,
            );
          }
        }

        perTrace[name] = {
          requests: n,
          fileRequests: trace.fileRequests,
          distinct: trace.distinct,
          sampled: trace.sampled,
          coldMissBound: cold,
          sizes,
          stack: {
            l1Entries,
            l2Entries,
            l3: 'unbounded',
            counts: stack,
            shares: { l1: stack.l1 / n, l2: stack.l2 / n, l3: stack.l3 / n, loader: stack.loader / n },
          },
        };
        const byFraction = new Map(sizes.map((s) => [s.fraction, s]));
        ratioRows.push([
          trace.sampled ? `${name}*` : name,
          int(n),
          int(trace.distinct),
          pct(cold, 1),
          ...TABLE_FRACTIONS.map((f) => {
            const s = byFraction.get(f);
            return s ? `${pct(s.lru as number, 1)} / ${pct(s.opt as number, 1)}` : '–';
          }),
        ]);
        stackRows.push([
          trace.sampled ? `${name}*` : name,
          `${int(l1Entries)} / ${int(l2Entries)}`,
          pct(stack.l1 / n, 1),
          pct(stack.l2 / n, 1),
          pct(stack.l3 / n, 1),
          pct(stack.loader / n, 1),
          pct((stack.l1 + stack.l2) / n, 1),
        ]);
        shares.push(
          { trace: name, tier: 'L1', share: stack.l1 / n, order: 0 },
          { trace: name, tier: 'L2', share: stack.l2 / n, order: 1 },
          { trace: name, tier: 'L3', share: stack.l3 / n, order: 2 },
          { trace: name, tier: 'loader', share: stack.loader / n, order: 3 },
        );
      }
    } finally {
      bar.stop();
    }

    const subtitle = quick ? `--quick: first ${int(QUICK_PREFIX)} requests of each trace` : 'full traces';
    const plots = {
      hitRatio: ctx.writeArtifact('hit-ratio.svg', await renderSvg(hitRatioSpec(points, subtitle))),
      stack: ctx.writeArtifact(
        'stack.svg',
        await renderSvg(
          stackSpec(
            shares,
            `L1 ${STACK_L1 * 100}% / L2 ${STACK_L2 * 100}% of distinct keys, L3 unbounded; ${subtitle}`,
          ),
        ),
      ),
    };

    const sampledNote = quick
      ? [`* sampled: first ${int(QUICK_PREFIX)} requests (--quick); a full run never samples`]
      : [];
    const tables: Table[] = [
      {
        title: 'Hit ratio, LRU (shipped L1) / OPT, by cache size as % of distinct keys',
        header: [
          'trace',
          'requests',
          'distinct',
          'max (cold)',
          ...TABLE_FRACTIONS.map((f) => `${f * 100}% LRU / OPT`),
        ],
        rows: ratioRows,
        notes: [
          'max (cold) = (requests − distinct) / requests: no cache can hit a first request',
          ...yardstick,
          ...sampledNote,
        ],
      },
      {
        title: `Whole stack: L1 ${STACK_L1 * 100}% → L2 ${STACK_L2 * 100}% of distinct keys → L3 unbounded → loader (simulated sizes)`,
        header: ['trace', 'L1 / L2 entries', 'L1', 'L2', 'L3', 'loader', 'L1+L2'],
        rows: stackRows,
        notes: [
          'L1 = shipped lru-cache; L2 = exact LRU (Redis allkeys-lru only samples); L3 keeps all; backfill on every hit',
          ...sampledNote,
        ],
      },
    ];
    return {
      figures: { fractions, quickPrefix: quick ? QUICK_PREFIX : null, traces: perTrace, plots },
      tables,
      skippedParts,
    };
  },
};
