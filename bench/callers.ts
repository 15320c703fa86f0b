/** Concurrent callers, as the rows that measure throughput under load run them (mixed traffic). */

/** What a run of callers measured: its throughput, and the process's CPU time per op. */
export interface CallersRun {
  /** Operations per second. */
  readonly rate: number;
  /** User + system CPU time of the whole process per op, in µs. */
  readonly cpuUs: number;
}

/**
 * Runs operations `0 … ops - 1` with `callers` concurrent callers, each awaiting `op(n)`
 * for the next `n` until none is left; returns the throughput and the CPU time per op.
 */
export async function runCallers(
  callers: number,
  ops: number,
  op: (n: number) => Promise<unknown>,
): Promise<CallersRun> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const caller = async () => {
    while (next < ops) await op(next++);
  };
  await Promise.all(Array.from({ length: callers }, caller));
  const rate = ops / ((performance.now() - t0) / 1000);
  const cpu = process.cpuUsage(cpu0);
  return { rate, cpuUs: (cpu.user + cpu.system) / ops };
}
