/**
 * Child processes of the bench (stampede and invalidation workers), started with tsx
 * so they run the TypeScript sources directly, and tracked so Ctrl-C or a crash never
 * leaves one behind.
 */
import { type ChildProcess, fork } from 'node:child_process';

const live = new Set<ChildProcess>();

/** Forks `script` (a .ts file) with an IPC channel; the child dies with the bench. */
export function forkWorker(script: string, args: readonly string[] = []): ChildProcess {
  const child = fork(script, [...args], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every worker still running (SIGKILL: they hold no state worth saving). */
export function killWorkers(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/** Resolves with the first IPC message `accept` returns true for; rejects if the child exits first or `timeoutMs` passes. */
export function nextMessage<T>(
  child: ChildProcess,
  accept: (message: unknown) => message is T,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!accept(message)) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${what}: worker exited (code ${code}, signal ${signal}) before answering`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer from worker within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
