/** The shape every bench section shares, and what the runner hands it. */
import type { BenchArgs, SectionName } from './args.js';
import type { Table } from './report.js';
import type { BenchServices } from './services.js';

/** What a section gets from the runner. */
export interface SectionContext {
  readonly args: BenchArgs;
  readonly services: BenchServices;
  /** Prints a progress line (also when bars are drawn). */
  readonly log: (line: string) => void;
  /** Writes a file next to the JSON (`<stem>-<suffix>`); returns its path. */
  readonly writeArtifact: (suffix: string, content: string) => string;
}

/** One goal a section checks: what was measured against what it should reach. */
export interface Target {
  /** The row, as the section's table names it. */
  readonly row: string;
  /** The goal, in the table's words (`≤ 1.20x`, `p99 ≤ 1.5 ms`). */
  readonly goal: string;
  /** What was measured, in the same unit as the goal. */
  readonly measured: string;
  readonly met: boolean;
}

/** What a section returns: machine-readable figures for the JSON, tables for the end of the run. */
export interface SectionResult {
  readonly figures: Record<string, unknown>;
  readonly tables: readonly Table[];
  /** The goals this run checked; `--check` fails the run when one is missed. */
  readonly targets?: readonly Target[];
  /** Parts that could not run here, each with the one line saying how to provide what was missing. */
  readonly skippedParts?: readonly string[];
}

/** One benchmark section. */
export interface Section {
  readonly name: SectionName;
  readonly title: string;
  run(ctx: SectionContext): Promise<SectionResult>;
}

/** Lets timers, signals and I/O run between synchronous chunks of work (Ctrl-C stays responsive). */
export function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
