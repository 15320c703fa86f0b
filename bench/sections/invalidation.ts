/**
 * Invalidation latency: two processes on one Redis (Redis store + Redis bus). This
 * process (A) deletes or overwrites (in turn) a key that a worker (B) holds in L1; B
 * observes its bus (the cache's own listener runs first, then B checks `getLocal`) and
 * reports when its copy is gone. The goal is on the time from A's call. Both stamp times with
 * performance.timeOrigin + performance.now(), which is comparable across processes
 * (process.hrtime is not).
 */

import { TieredCache } from '../../src/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';
import { nextMessage } from '../children.js';
import { isMessage, sharedNow } from '../fixtures/protocol.js';
import { cdfPoints, cdfSpec, renderSvg } from '../plot.js';
import { progress } from '../progress.js';
import { duration, int, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, Target } from '../section.js';
import { percentile, sorted } from '../stats.js';
import { startWorkers, stopWorkers } from '../workers.js';

const FULL_DELETES = 2_000;
const QUICK_DELETES = 1_000;
const WARMUP = 50;
const TARGET_P99_MS = 1.5;

function summary(ms: readonly number[]): Record<string, number> {
  const s = sorted(ms);
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    p999: percentile(s, 99.9),
    max: s.at(-1) ?? Number.NaN,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

export const invalidationSection: Section = {
  name: 'invalidation',
  title: "A's delete() or set() → B's L1 drops its copy (Redis bus, two processes)",
  async run(ctx) {
    const url = await ctx.services.redis();
    const deletes = ctx.args.quick ? QUICK_DELETES : FULL_DELETES;
    const namespace = benchNamespace('inval');
    const a = new TieredCache<string>({
      namespace,
      l1: { max: 10_000 },
      stores: [redisStore({ url, prefix: KEY_PREFIX })],
      bus: redisBus({ url }),
      ttl: '10m',
    });
    const fromResolve: number[] = [];
    const fromCall = { delete: [] as number[], set: [] as number[] };
    let lost = 0;
    // Drops seen before A even called delete: something else evicted the key, so the
    // sample would not measure the bus. Counted and reported, not silently kept.
    let early = 0;
    // Drops seen by the fallback poll rather than right after the bus listener.
    let viaPoll = 0;
    const bar = progress('invalidation', WARMUP + deletes);
    let workers: Awaited<ReturnType<typeof startWorkers>> = [];
    try {
      workers = await startWorkers(1, url, namespace, true, true);
      const [b] = workers;
      if (!b) throw new Error('invalidation: worker did not start');
      await a.ready();
      for (let i = 0; i < WARMUP + deletes; i++) {
        const key = `k:${i}`;
        const armed = nextMessage(b, isMessage('armed', key), 10_000, `arm ${key}`);
        const dropped = nextMessage(b, isMessage('dropped', key), 10_000, `drop ${key}`);
        b.send({ type: 'arm', key });
        await armed;
        const op = i % 2 === 0 ? 'delete' : 'set';
        const called = sharedNow();
        if (op === 'delete') await a.delete(key);
        else await a.set(key, `new-${key}`);
        const resolved = sharedNow();
        try {
          const { at, via } = await dropped;
          if (i >= WARMUP) {
            if (at < called) early++;
            if (via === 'poll') viaPoll++;
            fromResolve.push(at - resolved);
            fromCall[op].push(at - called);
          }
        } catch {
          if (i >= WARMUP) lost++;
        }
        bar.tick();
      }
    } finally {
      bar.stop();
      await inTurn(
        () => stopWorkers(workers),
        () => a.close(),
        () => removeNamespace(url, namespace),
      );
    }
    const r = summary(fromResolve);
    const d = summary(fromCall.delete);
    const w = summary(fromCall.set);
    const ok = (x: Record<string, number>) => (x.p99 as number) <= TARGET_P99_MS && lost === 0 && early === 0;
    const met = ok(d) && ok(w);
    const ms = (x: number | undefined) => duration((x ?? Number.NaN) * 1e6);
    const line = (label: string, x: Record<string, number>, goal: boolean): string[] => [
      label,
      ms(x.p50),
      ms(x.p90),
      ms(x.p99),
      ms(x.p999),
      ms(x.max),
      goal ? `p99 ≤ ${TARGET_P99_MS} ms` : '',
      goal ? (ok(x) ? '✓' : '✗') : '',
    ];
    const missed = [
      ...(ok(d) ? [] : [`delete(): p99 ${ms(d.p99)}`]),
      ...(ok(w) ? [] : [`set(): p99 ${ms(w.p99)}`]),
    ];
    const table: Table = {
      title: `Invalidation: A's call → B's L1 no longer holds its copy (${int(deletes)} calls, ${WARMUP} warm-up)`,
      header: ['measured from', 'p50', 'p90', 'p99', 'p99.9', 'max', 'goal', 'met'],
      rows: [
        line('delete() called in A', d, true),
        line('set() called in A', w, true),
        line("A's call resolved (both)", r, false),
      ],
      notes: [
        'B is a busy reader: 200 L1 reads of hot keys in every turn of its event loop',
        'B stamps the drop when its bus listener returns and getLocal misses (1 ms poll as fallback)',
        'clock: performance.timeOrigin + performance.now() in both processes',
        `seen after the bus listener: ${int(fromResolve.length - viaPoll)}; by the fallback poll: ${int(viaPoll)}`,
        `lost (no drop within 10 s): ${lost}; early (dropped before A's call, not by the bus): ${early}`,
        'from "resolved" can be negative: Redis delivers the PUBLISH before it replies to A',
        ...(missed.length === 0 && lost === 0 && early === 0
          ? []
          : [
              `goal missed: ${[...missed, ...(lost > 0 ? [`${lost} lost`] : []), ...(early > 0 ? [`${early} early`] : [])].join(', ')}; goal p99 ≤ ${TARGET_P99_MS} ms, none lost`,
            ]),
      ],
    };
    const plot = ctx.writeArtifact(
      'invalidation.svg',
      await renderSvg(
        cdfSpec(
          [
            ...cdfPoints('from delete() called in A', fromCall.delete),
            ...cdfPoints('from set() called in A', fromCall.set),
          ],
          "Invalidation: A's call → B's L1 drops its copy",
          `${int(deletes)} calls, Redis bus, two processes`,
          TARGET_P99_MS,
        ),
      ),
    );
    const targets: Target[] = [
      {
        row: 'invalidation: delete()',
        goal: `p99 ≤ ${TARGET_P99_MS} ms`,
        measured: `p99 ${ms(d.p99)}`,
        met: ok(d),
      },
      {
        row: 'invalidation: set()',
        goal: `p99 ≤ ${TARGET_P99_MS} ms`,
        measured: `p99 ${ms(w.p99)}`,
        met: ok(w),
      },
    ];
    return {
      figures: {
        plot,
        deletes,
        warmup: WARMUP,
        unit: 'ms',
        fromResolve: r,
        fromDeleteCall: d,
        fromSetCall: w,
        lost,
        early,
        targetP99Ms: TARGET_P99_MS,
        met,
      },
      tables: [table],
      targets,
    };
  },
};
