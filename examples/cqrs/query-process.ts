// One query-side process (forked by processes.ts): builds its Queries and answers its
// parent's calls over IPC, so a demo or a test can drive two of them.
import { Queries, type QueryConfig } from './queries.js';

/** A call from the parent: a method of {@link Queries} (or `counts`, `invalidations`, `close`) and its arguments. */
export interface Call {
  readonly id: number;
  readonly method: 'balance' | 'history' | 'counts' | 'invalidations' | 'close';
  readonly args: number[];
}

const config = JSON.parse(process.env.CQRS_QUERY_CONFIG ?? 'null') as QueryConfig | null;
if (config === null || typeof process.send !== 'function') {
  throw new Error('query-process.ts runs as a child process: use startQueryProcess() from processes.ts');
}
const send = process.send.bind(process);
const queries = new Queries(config);

const methods: Record<Call['method'], (...args: number[]) => unknown> = {
  balance: (id) => queries.balance(id as number),
  history: (id) => queries.history(id as number),
  counts: () => queries.counts,
  invalidations: () => queries.invalidations(),
  close: async () => {
    await queries.close();
    setImmediate(() => process.disconnect());
  },
};

process.on('message', async ({ id, method, args }: Call) => {
  try {
    send({ id, value: (await methods[method](...args)) ?? null });
  } catch (error) {
    send({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
await queries.cache.ready();
send({ ready: true });
