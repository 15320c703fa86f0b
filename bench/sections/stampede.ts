/**
 * Stampede: many concurrent misses of one key. In one process single-flight must make
 * exactly one loader call (the target in docs/architecture.md); across processes on one
 * Redis the lease (on by default with a Redis store) must too. Then the expiry tables
 * (sections/expiry.ts): refresh-ahead on a hot key, TTL jitter on 10,000 keys.
 */

import { TieredCache } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { nextMessage } from '../children.js';
import { isMessage } from '../fixtures/protocol.js';
import { int, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, Target } from '../section.js';
import { SkipSection } from '../services.js';
import { startWorkers, stopWorkers } from '../workers.js';
import { jitterTable, refreshAheadTable } from './expiry.js';

const IN_PROCESS = 1_000;
const PROCESSES = 4;
const PER_PROCESS = 250;
/** How long the loader takes: long enough that every caller arrives while it runs. */
const LOADER_MS = 50;

interface Trial {
  readonly scenario: string;
  readonly callers: string;
  readonly loaderCalls: number[];
  readonly wrongValues: number;
  readonly target: string;
  readonly met: boolean | undefined;
  /** What keeps the processes to one load (the across-processes column). */
  readonly withLock: string;
}

async function inProcess(
  stores: 'none' | 'redis',
  redisUrl: string | undefined,
  trials: number,
): Promise<Trial> {
  const namespace = benchNamespace('stampede');
  const cache = new TieredCache<string>({
    namespace,
    l1: { max: 10_000 },
    stores: stores === 'redis' && redisUrl ? [redisStore({ url: redisUrl, prefix: KEY_PREFIX })] : [],
    ttl: '10m',
  });
  const calls: number[] = [];
  let wrong = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const key = `hot:${t}`;
      let n = 0;
      const loader = async () => {
        n++;
        await new Promise((resolve) => setTimeout(resolve, LOADER_MS));
        return `value-of-${key}`;
      };
      const values = await Promise.all(Array.from({ length: IN_PROCESS }, () => cache.getOrSet(key, loader)));
      wrong += values.filter((v) => v !== `value-of-${key}`).length;
      calls.push(n);
    }
  } finally {
    await inTurn(
      () => cache.close(),
      () => (stores === 'redis' && redisUrl ? removeNamespace(redisUrl, namespace) : undefined),
    );
  }
  return {
    scenario: `one process, ${stores === 'redis' ? 'L1 + Redis' : 'L1 only'}`,
    callers: `1 × ${int(IN_PROCESS)}`,
    loaderCalls: calls,
    wrongValues: wrong,
    target: 'exactly 1',
    met: calls.every((c) => c === 1) && wrong === 0,
    withLock: stores === 'redis' ? 'lease (default)' : '–',
  };
}

async function acrossProcesses(redisUrl: string, trials: number): Promise<Trial> {
  const namespace = benchNamespace('stampede-mp');
  const calls: number[] = [];
  let wrong = 0;
  let workers: Awaited<ReturnType<typeof startWorkers>> = [];
  try {
    workers = await startWorkers(PROCESSES, redisUrl, namespace, false);
    for (let t = 0; t < trials; t++) {
      const key = `hot:${t}`;
      const answers = workers.map((w, i) =>
        nextMessage(w, isMessage('stampeded', key), 30_000, `stampede worker ${i}`),
      );
      // Sent back to back: the workers start within IPC latency (well under LOADER_MS) of each other.
      for (const w of workers)
        w.send({ type: 'stampede', key, concurrency: PER_PROCESS, loaderMs: LOADER_MS });
      const results = await Promise.all(answers);
      calls.push(results.reduce((sum, r) => sum + r.loaderCalls, 0));
      wrong += results.reduce((sum, r) => sum + r.wrong, 0);
    }
  } finally {
    // The workers wrote the keys; they are gone once stopped, so remove them from here.
    await inTurn(
      () => stopWorkers(workers),
      () => removeNamespace(redisUrl, namespace),
    );
  }
  return {
    scenario: `${PROCESSES} processes, one Redis`,
    callers: `${PROCESSES} × ${PER_PROCESS}`,
    loaderCalls: calls,
    wrongValues: wrong,
    target: 'exactly 1',
    met: calls.every((c) => c === 1) && wrong === 0,
    withLock: 'lease (default)',
  };
}

export const stampedeSection: Section = {
  name: 'stampede',
  title: 'concurrent misses of one key → loader calls',
  async run(ctx) {
    const trials = ctx.args.quick ? 2 : 5;
    const results: Trial[] = [await inProcess('none', undefined, trials)];
    const skipped: string[] = [];
    let redisUrl: string | undefined;
    try {
      redisUrl = await ctx.services.redis();
    } catch (error) {
      if (!(error instanceof SkipSection)) throw error;
      skipped.push(`stampede with Redis: ${error.message}`);
    }
    if (redisUrl) {
      results.push(await inProcess('redis', redisUrl, trials));
      ctx.log(`  starting ${PROCESSES} worker processes…`);
      results.push(await acrossProcesses(redisUrl, trials));
    }
    const table: Table = {
      title: `Stampede: concurrent getOrSet misses of one key, loader takes ${LOADER_MS} ms (${trials} trials)`,
      header: [
        'scenario',
        'callers',
        'loader calls per trial',
        'wrong values',
        'goal',
        'met',
        'across processes',
      ],
      rows: results.map((r) => [
        r.scenario,
        r.callers,
        r.loaderCalls.join(', '),
        String(r.wrongValues),
        r.target,
        r.met === undefined ? '' : r.met ? '✓' : '✗',
        r.withLock,
      ]),
      notes: [
        'one process: single-flight must make exactly one loader call (docs/architecture.md)',
        'across processes: the lease (SET NX PX in Redis) makes one load in the fleet; before it, 4 per trial (one per process)',
      ],
    };
    const targets: Target[] = results.flatMap((r) =>
      r.met === undefined
        ? []
        : [
            {
              row: `stampede: ${r.scenario}`,
              goal: `${r.target} loader call(s), no wrong value`,
              measured: `${r.loaderCalls.join(', ')} call(s), ${r.wrongValues} wrong`,
              met: r.met,
            },
          ],
    );
    ctx.log('  refresh-ahead and jitter on the fake clock…');
    const refresh = await refreshAheadTable();
    const jitter = await jitterTable();
    return {
      figures: {
        loaderMs: LOADER_MS,
        trials,
        results,
        refreshAhead: refresh.figures,
        jitter: jitter.figures,
      },
      tables: [table, refresh.table, jitter.table],
      targets,
      skippedParts: skipped,
    };
  },
};
