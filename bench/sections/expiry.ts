/**
 * The stampede section's expiry tables (issue 21), measured on the fake clock by
 * bench/sim/expiry.ts: refresh-ahead on a hot key, and TTL jitter on 10,000 keys loaded
 * at once.
 */

import { int, pct, type Table } from '../report.js';
import { type HotKeyResult, hotKey, type JitterResult, jitterReplay } from '../sim/expiry.js';

/** Blocking reads allowed with refresh-ahead. */
const MAX_BLOCKED_SHARE = 0.001;

/** Reads of a hot key at 1,000/s across three expiries, without and with refresh-ahead. */
export async function refreshAheadTable(): Promise<{ table: Table; figures: HotKeyResult[] }> {
  const without = await hotKey({ refreshAhead: false });
  const withIt = await hotKey({ refreshAhead: true });
  const row = (name: string, r: HotKeyResult, goal: string, met: boolean | undefined) => [
    name,
    int(r.reads),
    int(r.blocked),
    pct(r.blocked / r.reads, 3),
    `${r.loaderCalls} for ${r.expiries} expiries (${int(r.spanMs)} ms)`,
    goal,
    met === undefined ? '' : met ? '✓' : '✗',
  ];
  return {
    figures: [without, withIt],
    table: {
      title:
        'Refresh-ahead: one hot key read every 1 ms (fake clock) across 3 expiries, TTL 1 s, loader 50 ms, L1 only',
      header: ['refreshAhead', 'reads', 'blocked', 'share', 'loader calls', 'goal', ''],
      rows: [
        row('off', without, '–', undefined),
        row(
          'on (β = 1)',
          withIt,
          '< 0.1% blocked, ≤ 1 load per expiry',
          withIt.blocked / withIt.reads < MAX_BLOCKED_SHARE && withIt.loaderCalls <= withIt.expiries,
        ),
      ],
      notes: [
        'blocked: a read not answered within its own tick (it waited for the loader)',
        'an expiry: the value read was replaced (reloaded on a miss, or refreshed ahead); reads run until 3 happened',
        'refreshed lives are shorter (the refresh comes ~δ·ln(rate·δ) before staleAt), so the same 3 expiries span less time',
        'XFetch (Vattani et al., VLDB 2015): refresh when now − δβ·ln(U) ≥ staleAt; δ the measured load time',
      ],
    },
  };
}

/** 10,000 keys loaded at once, read every second over two TTLs, jitter 0 and 0.1. */
export async function jitterTable(): Promise<{ table: Table; figures: JitterResult[] }> {
  const flat = await jitterReplay({ jitter: 0 });
  const spread = await jitterReplay({ jitter: 0.1 });
  const lower = 1 - spread.peakMissesPerSecond / flat.peakMissesPerSecond;
  const totals = Math.abs(spread.totalMisses - flat.totalMisses) / flat.totalMisses;
  return {
    figures: [flat, spread],
    table: {
      title:
        'TTL jitter: 10,000 keys loaded at once, each read every second over two TTLs (60 s), fake clock',
      header: ['jitter', 'peak misses/s', 'total misses', 'goal', ''],
      rows: [
        [String(flat.jitter), int(flat.peakMissesPerSecond), int(flat.totalMisses), '–', ''],
        [
          String(spread.jitter),
          int(spread.peakMissesPerSecond),
          int(spread.totalMisses),
          `peak ≥ 50% lower (${pct(lower, 1)}), totals within 1% (${pct(totals, 2)})`,
          lower >= 0.5 && totals <= 0.01 ? '✓' : '✗',
        ],
      ],
    },
  };
}
