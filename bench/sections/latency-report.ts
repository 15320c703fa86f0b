/** What the latency section prints, writes and checks: its table, JSON figures, goals and plot. */
import type { TopLevelSpec } from 'vega-lite';
import type { Comparison, Plan, SubjectFigures } from '../measure.js';
import { renderSvg } from '../plot.js';
import { duration, type Table } from '../report.js';
import type { Target } from '../section.js';

/** One row of the latency table. */
export interface Row {
  /** Short: the table's first column (≤ 30 characters keeps it within 120 columns). */
  readonly name: string;
  /** What the row is compared with, short. */
  readonly baselineName?: string;
  readonly comparison?: Comparison;
  readonly alone?: SubjectFigures;
  /** Goal on the ratio: at most this. */
  readonly target?: number;
  readonly note?: string;
  readonly skipped?: string;
}

function met(row: Row): boolean | undefined {
  if (row.comparison === undefined || row.target === undefined) return undefined;
  return row.comparison.ratio <= row.target;
}

/** The table: one line per row; the goal and whether it was met where the row has one. */
export function tableOf(rows: readonly Row[], plan: Plan, quick: boolean): Table {
  const out: string[][] = [];
  const notes: string[] = [];
  for (const row of rows) {
    if (row.skipped) {
      out.push([row.name, 'skipped', '', '', '', '', '', '']);
      continue;
    }
    const s = row.comparison?.subject ?? row.alone;
    if (!s) continue;
    const b = row.comparison?.baseline;
    const ok = met(row);
    const goal = row.target === undefined ? '' : `≤ ${row.target.toFixed(2)}x`;
    out.push([
      row.name,
      duration(s.nsPerOp),
      duration(s.p99),
      b ? duration(b.nsPerOp) : '',
      row.baselineName ?? '',
      row.comparison ? `${row.comparison.ratio.toFixed(2)}x` : '',
      goal,
      ok === undefined ? '' : ok ? '✓' : '✗',
    ]);
    if (row.note) notes.push(`${row.name}: ${row.note}`);
    if (ok === false && row.comparison) {
      notes.push(
        `goal missed: ${row.name} took ${row.comparison.ratio.toFixed(2)}x the time of ${row.baselineName}, goal ${goal}`,
      );
    }
  }
  return {
    title: `Latency per tier, one caller (median of ${plan.rounds} interleaved rounds${quick ? ', --quick' : ''})`,
    header: ['path', 'time/op', 'p99', 'baseline', 'baseline is', 'ratio', 'goal', 'met'],
    rows: out,
    notes: [
      'time/op: L1 rows = mean of 1,000-call batches; other rows = p50 of individually timed calls',
      'ratio = median over rounds of tiercache ÷ baseline, paired by round; p99 over every timed call',
      'values: ~1 KB user rows (strings, numbers, a Date, nested array); ops/s per row in the JSON',
      ...notes,
    ],
  };
}

/** Every goal the rows checked. */
export function rowTargets(rows: readonly Row[]): Target[] {
  const out: Target[] = [];
  for (const row of rows) {
    const ok = met(row);
    if (ok === undefined || row.comparison === undefined || row.target === undefined) continue;
    out.push({
      row: `latency: ${row.name} vs ${row.baselineName}`,
      goal: `≤ ${row.target.toFixed(2)}x`,
      measured: `${row.comparison.ratio.toFixed(2)}x`,
      met: ok,
    });
  }
  return out;
}

/** The JSON figures: every row with its rounds, ops/s and samples' percentiles. */
export function figuresOf(rows: readonly Row[], plan: Plan, keys: number): Record<string, unknown> {
  return {
    plan,
    keys,
    rows: rows.map((row) => ({
      name: row.name,
      baseline: row.baselineName,
      skipped: row.skipped,
      target: row.target,
      note: row.note,
      ratio: row.comparison?.ratio,
      ratios: row.comparison?.ratios,
      met: met(row),
      subjectFigures: row.comparison?.subject ?? row.alone,
      baselineFigures: row.comparison?.baseline,
    })),
    unit: 'ns',
  };
}

/** Bars: each compared row's ratio to its baseline, the goal as a tick; 1.0x is parity. */
export function latencyPlot(rows: readonly Row[], plan: Plan): Promise<string> {
  const values = rows.flatMap((row) =>
    row.comparison === undefined
      ? []
      : [
          {
            row: row.name,
            ratio: row.comparison.ratio,
            goal: row.target ?? null,
            met: met(row) === false ? 'goal missed' : 'goal met',
          },
        ],
  );
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'Latency: tiercache ÷ hand-written baseline (lower is better)',
      subtitle: `median of ${plan.rounds} interleaved rounds; black tick = goal; 1.0x = as fast as the baseline`,
    },
    width: 460,
    height: { step: 26 },
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: null, title: null, axis: { labelLimit: 260 } },
          x: { field: 'ratio', type: 'quantitative', title: 'ratio (×)', scale: { zero: true } },
          color: {
            field: 'met',
            type: 'nominal',
            title: null,
            scale: { domain: ['goal met', 'goal missed'], range: ['#4c78a8', '#e45756'] },
            legend: { orient: 'top' },
          },
        },
      },
      {
        mark: { type: 'tick', color: 'black', thickness: 2 },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: null },
          x: { field: 'goal', type: 'quantitative' },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3 },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: null },
          x: { field: 'ratio', type: 'quantitative' },
          text: { field: 'ratio', type: 'quantitative', format: '.2f' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
  return renderSvg(spec);
}
