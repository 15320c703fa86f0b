/**
 * Redis down: what a cache answers while its Redis hangs (SIGSTOP: no refused
 * connection, just silence) or dies (SIGKILL, then a restart), on a private
 * redis-server (never the shared one) that is both the L2 store and the bus. Callers
 * read four kinds of key: hot keys in L1 (and every tier), keys only Redis holds, keys
 * only Postgres holds (when L3 is configured) and keys no tier holds; meanwhile another
 * instance keeps changing the hot keys, and its invalidations are lost with the bus.
 * The harness is in outage.ts.
 */
import { int, pct, type Table } from '../report.js';
import type { Section } from '../section.js';
import {
  BLIND_MAX_AGE_MS,
  type Fault,
  type Kind,
  type KindFigures,
  type OutageFigures,
  runOutage,
  WITHIN_MS,
  WORKERS,
} from './outage.js';

const FULL_MS = 5_000;
const QUICK_MS = 1_500;
const GOALS = {
  answered: 0.999,
  loadsPerKeyPerSec: 1_000 / BLIND_MAX_AGE_MS,
  oldestMs: BLIND_MAX_AGE_MS,
  recoveryMs: 1_000,
};
const KIND_LABEL: Record<Kind, string> = {
  l1: 'hot (in L1)',
  l2: 'Redis only',
  l3: 'Postgres only',
  cold: 'in no tier',
};

function mark(ok: boolean): string {
  return ok ? '✓' : '✗';
}

function rows(run: OutageFigures): string[][] {
  const label = `${run.fault === 'pause' ? 'SIGSTOP' : 'SIGKILL'}, ${run.l3 ? 'L1+Redis+PG' : 'L1+Redis'}`;
  return (Object.entries(run.kinds) as Array<[Kind, KindFigures]>).map(([kind, f]) => {
    // The goals bind where a tier holds the key: L1 keys, and L3 keys.
    const bound = kind === 'l1' || kind === 'l3';
    const goalMet =
      (!bound || f.answeredShare >= GOALS.answered) &&
      f.oldestServedMs <= GOALS.oldestMs &&
      (kind !== 'l1' || f.loadsPerKeyPerSec <= GOALS.loadsPerKeyPerSec);
    return [
      label,
      KIND_LABEL[kind],
      int(f.calls),
      pct(f.answeredShare),
      int(f.failed),
      f.loadsPerKeyPerSec.toFixed(2),
      `${f.oldestServedMs.toFixed(0)} ms`,
      `${f.p99Ms.toFixed(1)} ms`,
      mark(goalMet),
    ];
  });
}

/** The `redis-down` section: `npm run bench -- --only redis-down`. */
export const redisDownSection: Section = {
  name: 'redis-down',
  title: 'Redis paused or killed: answers, load on the source, staleness, recovery',
  async run(ctx) {
    const pgUrl = await ctx.services.postgres();
    const faultMs = ctx.args.quick ? QUICK_MS : FULL_MS;
    const plan: Array<[Fault, boolean]> = ctx.args.quick
      ? [
          ['pause', true],
          ['kill', false],
        ]
      : [
          ['pause', true],
          ['kill', true],
          ['pause', false],
          ['kill', false],
        ];
    const runs: OutageFigures[] = [];
    for (const [fault, l3] of plan) {
      const run = await runOutage(pgUrl, fault, l3, faultMs);
      runs.push(run);
      ctx.log(
        `  redis-down (${fault}, ${l3 ? 'with' : 'no'} L3): hot keys ${pct(run.kinds.l1?.answeredShare ?? Number.NaN)} ` +
          `answered, back ${run.recoveryMs.toFixed(0)} ms after the fault`,
      );
    }
    const table: Table = {
      title: `Redis down for ${faultMs / 1000} s, ${WORKERS} concurrent callers, another instance rewriting the hot keys every 250 ms`,
      header: ['fault, tiers', 'keys', 'calls', 'answered', 'failed', 'loads/key/s', 'oldest', 'p99', 'goal'],
      rows: runs.flatMap(rows),
      notes: [
        `answered: the right value (current, or superseded less than ${BLIND_MAX_AGE_MS} ms ago) within ${WITHIN_MS} ms;`,
        "oldest: the longest a served value had been superseded at the source (the writer's invalidations are lost).",
        `Goals: ≥ ${pct(GOALS.answered, 1)} answered for keys held in L1 or Postgres; ≤ ${GOALS.loadsPerKeyPerSec} load per hot key per second`,
        `(one per l1.blindMaxAge); nothing older than ${BLIND_MAX_AGE_MS} ms; Redis used again ≤ ${GOALS.recoveryMs} ms after the fault ends.`,
        ...runs.map(
          (run) =>
            `${run.fault === 'pause' ? 'SIGSTOP' : 'SIGKILL'}, ${run.l3 ? 'with' : 'no'} L3: bus link down (blind mode) ` +
            `${run.blindAfterMs?.toFixed(0) ?? '?'} ms after the fault; Redis used again ${run.recoveryMs.toFixed(0)} ms after ` +
            `${run.fault === 'pause' ? 'SIGCONT' : 'the restart'} ${mark(run.recoveryMs <= GOALS.recoveryMs)}`,
        ),
      ],
    };
    return { figures: { withinMs: WITHIN_MS, workers: WORKERS, goals: GOALS, runs }, tables: [table] };
  },
};
