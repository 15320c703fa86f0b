/**
 * SVG plots of the bench figures, rendered in Node: a vega-lite spec compiled to vega,
 * then drawn by a headless vega View (no browser, no canvas).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The curves of the hit-ratio plot, in legend order. */
export const HIT_RATIO_SERIES = [
  'LRU (shipped L1)',
  'W-TinyLFU (l1.admission)',
  'OPT (Bélády)',
  'cold-miss bound',
] as const;

/** One curve of the hit-ratio plot. */
export type HitRatioSeries = (typeof HIT_RATIO_SERIES)[number];

/** One point of a hit-ratio curve. */
export interface HitRatioPoint {
  readonly trace: string;
  /** Cache size as a percentage of the trace's distinct keys. */
  readonly sizePct: number;
  readonly entries: number;
  readonly series: HitRatioSeries;
  readonly hitRatio: number;
}

/** One bar segment of the stack's per-tier shares. */
export interface StackShare {
  readonly trace: string;
  readonly tier: string;
  /** Requests served by this tier / all requests. */
  readonly share: number;
  /** Sort order of the tier in the stack (L1 first). */
  readonly order: number;
}

/** Renders a vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Hit ratio against cache size, one facet per trace; LRU, W-TinyLFU and OPT as lines, the bound dashed. */
export function hitRatioSpec(points: readonly HitRatioPoint[], subtitle: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Hit ratio vs cache size', subtitle },
    data: { values: points as unknown as Record<string, unknown>[] },
    facet: {
      field: 'trace',
      type: 'nominal',
      title: null,
      header: { labelFontSize: 13, labelFontWeight: 'bold' },
    },
    columns: 4,
    spec: {
      width: 220,
      height: 160,
      mark: { type: 'line', point: { size: 25 }, strokeWidth: 2 },
      encoding: {
        x: {
          field: 'sizePct',
          type: 'quantitative',
          scale: { type: 'log' },
          title: 'cache size (% of distinct keys)',
          axis: { values: [1, 2, 5, 10, 20, 50, 100], format: '~s' },
        },
        y: {
          field: 'hitRatio',
          type: 'quantitative',
          scale: { domain: [0, 1] },
          title: 'hit ratio',
          axis: { format: '.0%' },
        },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: {
            domain: [...HIT_RATIO_SERIES],
            range: ['#1f77b4', '#2ca02c', '#d62728', '#7f7f7f'],
          },
          legend: { orient: 'top', labelLimit: 240 },
        },
        strokeDash: {
          field: 'series',
          type: 'nominal',
          scale: {
            domain: [...HIT_RATIO_SERIES],
            range: [
              [1, 0],
              [1, 0],
              [1, 0],
              [4, 3],
            ],
          },
          // Same field and domain as color, so vega-lite merges both into one legend.
          legend: { orient: 'top', labelLimit: 240 },
        },
        tooltip: [
          { field: 'trace' },
          { field: 'series' },
          { field: 'entries', title: 'entries' },
          { field: 'hitRatio', format: '.2%' },
        ],
      },
    },
    resolve: { scale: { x: 'shared', y: 'shared' } },
  } as TopLevelSpec;
}

/** Per-tier shares of requests for the simulated stack, one stacked bar per trace. */
export function stackSpec(shares: readonly StackShare[], subtitle: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Where requests are served: L1 → L2 → L3 → loader', subtitle },
    data: { values: shares as unknown as Record<string, unknown>[] },
    width: 520,
    height: { step: 22 },
    mark: 'bar',
    encoding: {
      y: { field: 'trace', type: 'nominal', title: null, sort: null },
      x: {
        field: 'share',
        type: 'quantitative',
        stack: 'normalize',
        title: 'share of requests',
        axis: { format: '.0%' },
      },
      color: {
        field: 'tier',
        type: 'nominal',
        title: null,
        sort: ['L1', 'L2', 'L3', 'loader'],
        scale: { domain: ['L1', 'L2', 'L3', 'loader'], range: ['#2ca02c', '#1f77b4', '#9467bd', '#d62728'] },
        legend: { orient: 'top' },
      },
      order: { field: 'order', type: 'quantitative' },
      tooltip: [{ field: 'trace' }, { field: 'tier' }, { field: 'share', format: '.2%' }],
    },
  } as TopLevelSpec;
}

/** One point of an empirical CDF. */
export interface CdfPoint {
  readonly series: string;
  /** Latency, ms (may be negative when the clock origin is after the event). */
  readonly ms: number;
  /** Fraction of samples at or below `ms`. */
  readonly fraction: number;
}

/** Samples (ms) as CDF points, thinned to at most `max` points per series. */
export function cdfPoints(series: string, samplesMs: readonly number[], max = 400): CdfPoint[] {
  const s = [...samplesMs].sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(s.length / max));
  const out: CdfPoint[] = [];
  for (let i = 0; i < s.length; i += step)
    out.push({ series, ms: s[i] as number, fraction: (i + 1) / s.length });
  if (s.length > 0) out.push({ series, ms: s.at(-1) as number, fraction: 1 });
  return out;
}

/**
 * Latency CDFs on a log axis (heavy tails), with a target rule. Samples must be positive
 * (measured from the call); the axis starts a little below the smallest one.
 */
export function cdfSpec(
  points: readonly CdfPoint[],
  title: string,
  subtitle: string,
  targetMs: number,
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle },
    width: 520,
    height: 260,
    layer: [
      {
        data: { values: points as unknown as Record<string, unknown>[] },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x: {
            field: 'ms',
            type: 'quantitative',
            scale: { type: 'log', domain: logDomain(points, targetMs), nice: false },
            title: 'latency (ms, log scale)',
            axis: { values: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], format: '~g' },
          },
          y: {
            field: 'fraction',
            type: 'quantitative',
            title: 'fraction of calls',
            axis: { format: '.0%' },
          },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            legend: { orient: 'top', labelLimit: 400 },
          },
        },
      },
      {
        data: { values: [{ ms: targetMs, label: `target p99 < ${targetMs} ms` }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#d62728' },
        encoding: { x: { field: 'ms', type: 'quantitative' } },
      },
      {
        data: { values: [{ ms: targetMs, label: `target: p99 < ${targetMs} ms` }] },
        mark: { type: 'text', align: 'left', dx: 4, color: '#d62728' },
        // Near the bottom, where the curves have not risen yet at the target.
        encoding: { x: { field: 'ms', type: 'quantitative' }, y: { value: 240 }, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

/** The x range of a CDF on a log axis: from just below the smallest sample to just above the largest (and the target). */
function logDomain(points: readonly CdfPoint[], targetMs: number): [number, number] {
  let min = targetMs;
  let max = targetMs;
  for (const p of points) {
    if (p.ms > 0 && p.ms < min) min = p.ms;
    if (p.ms > max) max = p.ms;
  }
  return [min * 0.8, max * 1.25];
}
