/**
 * The timing harness of the latency section: own loops over process.hrtime.bigint, not
 * tinybench. Two reasons: an L1 hit costs tens of ns, less than the timer itself, so it
 * must be timed in batches; and subject and baseline must run in alternating rounds in
 * one process, which is easier to see in thirty lines than to coax out of a framework.
 *
 * - `batch` mode (sub-µs ops): one sample = one pass over the key set (1,000 calls),
 *   timed as a whole; ns/op = batch time / calls. The tail comes from a second pass of
 *   individually timed calls with the timer's own median cost subtracted.
 * - `perOp` mode (network ops): every call timed on its own; the timer's ~50 ns is
 *   noise against a ~50 µs round trip.
 */
import { percentile, sorted } from './stats.js';

/** One side of a comparison: a call over a key, sync or async. */
export interface Subject {
  readonly label: string;
  readonly mode: 'batch-sync' | 'batch-async' | 'perOp';
  readonly call: (key: string) => unknown;
}

/** What one run (one subject, one round) measured. */
interface Run {
  /** Central ns/op of the run: the mean of batches, or the p50 of per-op samples. */
  readonly center: number;
  /** Per-call samples, ns (timer cost subtracted in batch modes). */
  readonly samples: number[];
  readonly ops: number;
  readonly ns: number;
}

/** The figures of one subject over all rounds. */
export interface SubjectFigures {
  readonly label: string;
  /** Median over rounds of each round's central ns/op. */
  readonly nsPerOp: number;
  readonly p50: number;
  readonly p99: number;
  readonly opsPerSec: number;
  readonly rounds: readonly number[];
  readonly samples: number;
}

/** A subject against its baseline. */
export interface Comparison {
  readonly subject: SubjectFigures;
  readonly baseline: SubjectFigures;
  /** Median over rounds of subject ÷ baseline (paired by round, so drift cancels). */
  readonly ratio: number;
  readonly ratios: readonly number[];
}

const now = process.hrtime.bigint;

/** The median cost of one `hrtime.bigint()` pair, subtracted from individually timed sub-µs calls. */
export function timerOverhead(): number {
  const costs: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const t0 = now();
    costs.push(Number(now() - t0));
  }
  return percentile(sorted(costs), 50);
}

/** One pass of `call` over `keys`. */
type Pass = (call: Subject['call'], keys: readonly string[]) => unknown;

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => Pass;
const passes = new WeakMap<Subject, Pass>();

/**
 * The batch loop of `subject`, its own. One loop shared by every subject would carry
 * all their type feedback: its call site, having seen the baseline, then the subject,
 * then the next rows' pairs, turns polymorphic, then megamorphic, and what V8 inlines
 * there (and so the ratio) would depend on which subject, and which row, ran first. A
 * loop compiled from source for each subject sees only that subject's calls, as a call
 * site in a user's code does.
 */
function passOf(subject: Subject): Pass {
  let pass = passes.get(subject);
  if (pass === undefined) {
    const body = 'for (let i = 0; i < keys.length; i++) ';
    pass =
      subject.mode === 'batch-sync'
        ? (new Function('call', 'keys', `${body}call(keys[i]);`) as Pass)
        : new AsyncFunction('call', 'keys', `${body}await call(keys[i]);`);
    passes.set(subject, pass);
  }
  return pass;
}

async function runBatch(
  subject: Subject,
  keys: readonly string[],
  budgetNs: number,
  overhead: number,
): Promise<Run> {
  const call = subject.call;
  const pass = passOf(subject);
  const n = keys.length;
  let ops = 0;
  let total = 0;
  const started = now();
  // Batches until the time budget is spent.
  do {
    const t0 = now();
    if (subject.mode === 'batch-sync') pass(call, keys);
    else await pass(call, keys);
    total += Number(now() - t0);
    ops += n;
  } while (Number(now() - started) < budgetNs);
  // The tail: one pass of individually timed calls.
  const samples = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    const t0 = now();
    if (subject.mode === 'batch-sync') call(key);
    else await call(key);
    samples[i] = Math.max(0, Number(now() - t0) - overhead);
  }
  return { center: total / ops, samples, ops, ns: total };
}

async function runPerOp(subject: Subject, keys: readonly string[], ops: number): Promise<Run> {
  const call = subject.call;
  const samples = new Array<number>(ops);
  let total = 0;
  for (let i = 0; i < ops; i++) {
    const key = keys[i % keys.length] as string;
    const t0 = now();
    await call(key);
    const ns = Number(now() - t0);
    samples[i] = ns;
    total += ns;
  }
  return { center: percentile(sorted(samples), 50), samples, ops, ns: total };
}

/** How long or how much to run. */
export interface Plan {
  readonly rounds: number;
  /** Batch modes: time budget of one run, ms. */
  readonly batchMs: number;
  /** perOp mode: calls per run. */
  readonly perOpCalls: number;
  /** Warm-up before the rounds: batch ms, or perOp calls. */
  readonly warmupMs: number;
  readonly warmupCalls: number;
}

async function runOnce(
  subject: Subject,
  keys: readonly string[],
  plan: Plan,
  overhead: number,
  warm = false,
): Promise<Run> {
  if (subject.mode === 'perOp') return runPerOp(subject, keys, warm ? plan.warmupCalls : plan.perOpCalls);
  return runBatch(subject, keys, (warm ? plan.warmupMs : plan.batchMs) * 1e6, overhead);
}

function figures(label: string, runs: readonly Run[]): SubjectFigures {
  const centers = runs.map((r) => r.center);
  const all = sorted(runs.flatMap((r) => r.samples));
  const nsPerOp = percentile(sorted(centers), 50);
  const ops = runs.reduce((a, r) => a + r.ops, 0);
  const ns = runs.reduce((a, r) => a + r.ns, 0);
  return {
    label,
    nsPerOp,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    opsPerSec: ops / (ns / 1e9),
    rounds: centers,
    samples: all.length,
  };
}

/**
 * Measures one subject alone (no baseline): warm-up, then `plan.rounds` runs.
 * `onRun` is called after each run (progress).
 */
export async function measure(
  subject: Subject,
  keys: readonly string[],
  plan: Plan,
  onRun?: () => void,
): Promise<SubjectFigures> {
  const overhead = timerOverhead();
  await runOnce(subject, keys, plan, overhead, true);
  const runs: Run[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    runs.push(await runOnce(subject, keys, plan, overhead));
    onRun?.();
  }
  return figures(subject.label, runs);
}

/**
 * Measures `subject` against `baseline` over the same keys, interleaved: each round runs
 * both, and the order flips every round so neither always runs on a warmer (or more
 * tired) machine. Both are warmed up first.
 */
export async function compare(
  subject: Subject,
  baseline: Subject,
  keys: readonly string[],
  plan: Plan,
  onRun?: () => void,
): Promise<Comparison> {
  const overhead = timerOverhead();
  await runOnce(baseline, keys, plan, overhead, true);
  await runOnce(subject, keys, plan, overhead, true);
  const subjectRuns: Run[] = [];
  const baselineRuns: Run[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    const order = r % 2 === 0 ? ([baseline, subject] as const) : ([subject, baseline] as const);
    for (const who of order) {
      const run = await runOnce(who, keys, plan, overhead);
      (who === subject ? subjectRuns : baselineRuns).push(run);
      onRun?.();
    }
  }
  const ratios = subjectRuns.map((run, r) => run.center / (baselineRuns[r] as Run).center);
  return {
    subject: figures(subject.label, subjectRuns),
    baseline: figures(baseline.label, baselineRuns),
    ratio: percentile(sorted(ratios), 50),
    ratios,
  };
}
