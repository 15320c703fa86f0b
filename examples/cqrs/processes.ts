// Forks query-process.ts (with tsx) and calls it over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Balance, History, QueryConfig } from './queries.js';
import type { Call } from './query-process.js';

/** A query process, seen from its parent. */
export interface QueryProcess {
  balance(accountId: number): Promise<Balance | null>;
  history(accountId: number): Promise<History>;
  /** Statements that reached the database for reads, by table. */
  counts(): Promise<{ balances: number; events: number }>;
  /** Invalidations (the trigger's, the command side's) the process has applied. */
  invalidations(): Promise<number>;
  /** Closes its cache and pool and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a query process; resolves once its cache listens on the bus. */
export async function startQueryProcess(config: QueryConfig): Promise<QueryProcess> {
  const child = fork(fileURLToPath(new URL('./query-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, CQRS_QUERY_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (reply: { value?: unknown; error?: string }) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`query process exited during startup (code ${code})`)));
    child.on('message', (message: { id?: number; ready?: boolean; value?: unknown; error?: string }) => {
      if (message.ready === true) resolve();
      else if (message.id !== undefined) waiting.get(message.id)?.(message);
    });
  });
  let next = 0;
  const call = <T>(method: Call['method'], ...args: number[]) =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, (reply) => {
        waiting.delete(id);
        if (reply.error !== undefined) reject(new Error(reply.error));
        else resolve(reply.value as T);
      });
      child.send({ id, method, args } satisfies Call);
    });
  return {
    balance: (accountId) => call('balance', accountId),
    history: (accountId) => call('history', accountId),
    counts: () => call('counts'),
    invalidations: () => call('invalidations'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await call('close').catch(() => {});
      await exited;
      clearTimeout(kill);
    },
  };
}
