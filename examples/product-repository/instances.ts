// Starts instance.ts in child processes (with tsx, which compiles the decorators) and
// calls it over IPC. Used by main.ts and by test/integration/example-products.test.ts.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CacheHealth, CacheStats } from '../../src/index.js';
import type { InstanceConfig, Reply, Request } from './instance.js';
import type { Product } from './schema.js';

/** A running instance, seen from its parent. */
export interface Instance {
  readonly name: string;
  readonly pid: number;
  findById(id: number): Promise<Product | null>;
  updatePrice(id: number, priceCents: number): Promise<boolean>;
  /** Statements this instance sent to the products table since it started: SELECTs, and the rest. */
  productQueries(): Promise<{ reads: number; writes: number }>;
  /** The product in this instance's L1, or null: no other tier is read. */
  peekLocal(id: number): Promise<Product | null>;
  stats(): Promise<CacheStats>;
  health(): Promise<CacheHealth>;
  /** Closes the cache and the pool, and waits for the process to exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL('./instance.ts', import.meta.url));

/** Forks one instance and resolves once its cache is ready (the bus subscribed). */
export async function startInstance(config: InstanceConfig): Promise<Instance> {
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, EXAMPLE_INSTANCE: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const call of pending.values()) {
        call.reject(new Error(`instance ${config.name} exited (${signal ?? code})`));
      }
      pending.clear();
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`instance ${config.name} not ready within 20 s`)),
      20_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance ${config.name} exited during startup (code ${code})`));
    });
    child.on('message', function onReady(message: { ready?: string }) {
      if (message.ready !== config.name) return;
      clearTimeout(timer);
      child.off('message', onReady);
      resolve();
    });
  }).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  child.on('message', (reply: Reply) => {
    const call = pending.get(reply.id);
    if (!call) return;
    pending.delete(reply.id);
    if (reply.ok) call.resolve(reply.value);
    else call.reject(new Error(`${config.name}: ${reply.error}`));
  });

  const call = <T>(op: Request['op'], ...args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(`instance ${config.name} has exited`));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, op, args } satisfies Request);
    });

  return {
    name: config.name,
    pid: child.pid as number,
    findById: (id) => call('findById', id),
    updatePrice: (id, priceCents) => call('updatePrice', id, priceCents),
    productQueries: () => call('productQueries'),
    peekLocal: (id) => call('peekLocal', id),
    stats: () => call('stats'),
    health: () => call('health'),
    stop: async () => {
      if (exited) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await call('close').catch(() => {});
      await exit;
      clearTimeout(kill);
    },
  };
}
