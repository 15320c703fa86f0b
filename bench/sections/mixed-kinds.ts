/**
 * The mixed row, taken apart: each kind of operation the mixed trace is made of, run on
 * its own by both sides with the same callers, so a reader can see which path the
 * ops/s gap comes from. Only the three kinds that do I/O: an L1 hit does none and is
 * the latency section's row.
 *
 *   load       L1 and Redis miss: the loader's value, written to Redis
 *   Redis hit  L1 miss, Redis hit: decoded and kept in L1
 *   set        a write of a new value
 *
 * Each round uses keys no earlier round touched; the sides keep their own keys (the
 * hand-wired side under its own prefix). Order alternates by round; each figure is the
 * median over rounds.
 */
import { type CallersRun, runCallers } from '../callers.js';
import { int, rate, type Table } from '../report.js';
import { percentile, sorted } from '../stats.js';

/** One side of the mixed row: an operation on `key` (`set`: a write, else read-through). */
export interface KindSide {
  run(key: string, id: number, set: boolean): Promise<unknown>;
}

/** The kinds, in the order a round runs them (a load pass fills Redis for the hit pass). */
const KINDS = ['load', 'Redis hit', 'set'] as const;
type Kind = (typeof KINDS)[number];

/** Key ids start here: above the mixed trace's ids, so every load is a miss. */
const FIRST_ID = 10_000_000;

/** Runs `side` over the keys of `ids` (`set`: writes them, else reads them through). */
function drive(side: KindSide, callers: number, ids: readonly number[], set: boolean): Promise<CallersRun> {
  return runCallers(callers, ids.length, (n) => {
    const id = ids[n] as number;
    return side.run(`k:${id}`, id, set);
  });
}

/**
 * One round for one side: `ops` loads of fresh keys; `ops / 2` Redis hits, reading the
 * first half of those keys once each (the second half pushed them out of L1, when `ops`
 * is at least twice the L1's `max`); then `ops` sets.
 */
async function round(
  side: KindSide,
  callers: number,
  ops: number,
  first: number,
): Promise<Record<Kind, CallersRun>> {
  const ids = Array.from({ length: ops }, (_, i) => first + i);
  const load = await drive(side, callers, ids, false);
  const hit = await drive(side, callers, ids.slice(0, ops / 2), false);
  const set = await drive(side, callers, ids, true);
  return { load, 'Redis hit': hit, set };
}

/** The shares of the mixed rounds' operations each kind made up. */
export type KindShares = Readonly<Record<Kind, number>>;

/**
 * Runs the kinds on both sides (`rounds` rounds of `ops` operations per kind; the Redis
 * hit pass reads the first half of the loaded keys, so `ops` ≥ 2 × the L1's `max` makes
 * every one of them a Redis hit) and returns the table and the figures.
 */
export async function measureKinds(
  ours: KindSide,
  bare: KindSide,
  options: {
    callers: number;
    ops: number;
    rounds: number;
    shares: KindShares;
    /** The mixed row's CPU/op, tiercache's minus the hand-wired's (µs). */
    gapCpuUs: number;
    tick: () => void;
  },
): Promise<{ table: Table; figures: Record<string, unknown> }> {
  const { callers, ops, rounds, shares } = options;
  const runs: Array<{ ours: Record<Kind, CallersRun>; bare: Record<Kind, CallersRun> }> = [];
  for (let r = 0; r < rounds; r++) {
    const first = FIRST_ID + r * ops;
    if (r % 2 === 0) {
      const b = await round(bare, callers, ops, first);
      options.tick();
      const o = await round(ours, callers, ops, first);
      options.tick();
      runs.push({ ours: o, bare: b });
    } else {
      const o = await round(ours, callers, ops, first);
      options.tick();
      const b = await round(bare, callers, ops, first);
      options.tick();
      runs.push({ ours: o, bare: b });
    }
  }
  const med = (xs: number[]) => percentile(sorted(xs), 50);
  const rows: string[][] = [];
  const figures: Record<string, unknown> = {};
  let explained = 0;
  for (const kind of KINDS) {
    const oursRate = med(runs.map((x) => x.ours[kind].rate));
    const bareRate = med(runs.map((x) => x.bare[kind].rate));
    const oursCpu = med(runs.map((x) => x.ours[kind].cpuUs));
    const bareCpu = med(runs.map((x) => x.bare[kind].cpuUs));
    const extra = (oursCpu - bareCpu) * shares[kind];
    explained += extra;
    figures[kind] = { oursRate, bareRate, oursCpuUs: oursCpu, bareCpuUs: bareCpu, share: shares[kind] };
    rows.push([
      kind,
      rate(oursRate),
      `${oursCpu.toFixed(1)} µs`,
      rate(bareRate),
      `${bareCpu.toFixed(1)} µs`,
      `${(oursRate / bareRate).toFixed(2)}x`,
      `${(shares[kind] * 100).toFixed(1)}%`,
      `${extra >= 0 ? '+' : ''}${extra.toFixed(1)} µs`,
    ]);
  }
  figures.explainedCpuUsPerMixedOp = explained;
  return {
    figures,
    table: {
      title: `Mixed traffic by kind of operation (${callers} callers, ~1 KB values, ${int(ops)} ops a kind, median of ${rounds} round${rounds === 1 ? '' : 's'})`,
      header: ['kind', 'tiercache', 'CPU/op', 'hand-wired', 'CPU/op', 'ratio', 'share', 'extra CPU'],
      rows,
      notes: [
        'load: L1 and Redis miss, the loader runs, the value is written; Redis hit: L1 miss, Redis hit; set: a write',
        'tiercache and hand-wired: ops/s; CPU/op: the process CPU time per op; ratio: tiercache ÷ hand-wired ops/s',
        "share: the kind's share of the mixed rounds' operations (the rest are L1 hits, which do no I/O)",
        `extra CPU: tiercache's extra CPU/op × share, per mixed op; in all ${explained.toFixed(1)} µs of the mixed row's`,
        `  ${options.gapCpuUs.toFixed(1)} µs CPU/op gap; the rest is what the kinds cost mixed that they do not alone`,
      ],
    },
  };
}
