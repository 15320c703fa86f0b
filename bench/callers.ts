/** Concurrent callers, as the rows that measure throughput under load run them (mixed traffic). */
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextImmediate } from 'node:timers/promises';

/** What a run of callers measured: its throughput, and the process's CPU and GC time per op. */
export interface CallersRun {
  /** Operations per second. */
  readonly rate: number;
  /** User + system CPU time of the whole process per op, in µs. */
  readonly cpuUs: number;
  /**
   * Time the main thread spent paused in garbage collection per op, in µs (V8's `gc`
   * performance entries that started during the run); part of `cpuUs`, and of the time
   * ops/s is taken over. Collection work V8 does on helper threads is not in it.
   */
  readonly gcUs: number;
}

let observer: PerformanceObserver | undefined;
/** The `gc` entries delivered since the current run started: [startTime, duration] (ms). */
let collected: Array<readonly [number, number]> = [];

function keep(entries: readonly PerformanceEntry[]): void {
  for (const entry of entries) collected.push([entry.startTime, entry.duration]);
}

/** Starts observing the process's `gc` entries (once), and forgets those kept so far. */
function watchGc(): PerformanceObserver {
  if (observer === undefined) {
    observer = new PerformanceObserver((list) => keep(list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
  }
  observer.takeRecords();
  collected = [];
  return observer;
}

/**
 * Runs operations `0 … ops - 1` with `callers` concurrent callers, each awaiting `op(n)`
 * for the next `n` until none is left; returns the throughput and the CPU and GC time
 * per op.
 */
export async function runCallers(
  callers: number,
  ops: number,
  op: (n: number) => Promise<unknown>,
): Promise<CallersRun> {
  const gc = watchGc();
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const caller = async () => {
    while (next < ops) await op(next++);
  };
  await Promise.all(Array.from({ length: callers }, caller));
  const t1 = performance.now();
  const rate = ops / ((t1 - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  // Node makes a gc entry in the immediate after the collection ends, and hands entries
  // to the observer later still: wait one immediate, then take what was not handed yet.
  await nextImmediate();
  keep(gc.takeRecords());
  let gcMs = 0;
  for (const [start, duration] of collected) if (start >= t0 && start < t1) gcMs += duration;
  collected = [];
  return { rate, cpuUs: (cpu.user + cpu.system) / ops, gcUs: (gcMs * 1000) / ops };
}
