/** Starting and stopping bench workers (bench/fixtures/worker.ts) for the multi-process sections. */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { forkWorker, nextMessage } from './children.js';
import { isMessage } from './fixtures/protocol.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/**
 * Forks `count` workers on one namespace and waits until each has its cache ready. A
 * `busy` worker keeps reading hot keys from its L1 in every turn of its event loop, as a
 * service under load does, so a bus message waits for the turn in progress.
 */
export async function startWorkers(
  count: number,
  redisUrl: string,
  namespace: string,
  bus: boolean,
  busy = false,
): Promise<ChildProcess[]> {
  const workers = Array.from({ length: count }, () =>
    forkWorker(SCRIPT, [redisUrl, namespace, bus ? '--bus' : '--no-bus', ...(busy ? ['--busy'] : [])]),
  );
  await Promise.all(workers.map((w, i) => nextMessage(w, isMessage('ready'), 30_000, `worker ${i} start`)));
  // A worker's failure arrives as an 'error' message: surface it instead of timing out.
  for (const w of workers) {
    w.on('message', (m) => {
      if (isMessage('error')(m)) console.error(`  worker ${w.pid} error: ${m.message}`);
    });
  }
  return workers;
}

/** Asks workers to close their caches and exit; kills any that do not within 5 s. */
export async function stopWorkers(workers: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null || w.signalCode !== null) return resolve();
          const timer = setTimeout(() => w.kill('SIGKILL'), 5_000);
          w.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (w.connected) w.send({ type: 'exit' });
          else w.kill('SIGKILL');
        }),
    ),
  );
}
