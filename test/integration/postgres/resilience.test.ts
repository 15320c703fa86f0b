/**
 * Postgres faults against a private cluster: the store's backends are terminated in the
 * middle of queries (held behind a table lock so they are surely in flight). The cache
 * keeps answering, the next calls are served by L3 again, and the pool keeps no dead or
 * leaked clients.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import type { PostgresStore } from '../../../src/postgres/store.js';
import { type OwnServer, startPostgresServer, stopAll, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const PG_TIMEOUT_MS = 200; // postgresStore's documented default guard timeout
const BOUND_MS = PG_TIMEOUT_MS + 250;
/** Poll interval of the waits whose every check is itself a cache read. */
const PROBE_INTERVAL_MS = 10;

let server: OwnServer;
let admin: pg.Client;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startPostgresServer();
  admin = new pg.Client({ connectionString: server.url, application_name: 'resilience-admin' });
  admin.on('error', () => {});
  await admin.connect();
});

afterAll(async () => {
  await Promise.allSettled(toClose.map((c) => c.close()));
  await admin?.end().catch(() => {});
  await stopAll();
});

/** The store's backends, as Postgres sees them (it names its pool `tiercache`). */
async function storeBackends(): Promise<Array<{ pid: number; state: string; wait: string | null }>> {
  const { rows } = await admin.query<{ pid: number; state: string; wait: string | null }>(
    "SELECT pid, state, wait_event_type AS wait FROM pg_stat_activity WHERE application_name = 'tiercache'",
  );
  return rows;
}

describe('Postgres backends terminated mid-query', () => {
  it('keeps answering, serves from L3 again, and leaks no client', async () => {
    const schema = `pgres_${Math.random().toString(36).slice(2, 8)}`;
    const store = postgresStore({ connectionString: server.url, schema, sweepIntervalMs: 0 });
    const pool = (store as unknown as { pool: pg.Pool }).pool;
    const cache = new TieredCache<string>({
      namespace: uniqueNamespace('pg-kill'),
      l1: false,
      stores: [store],
      ttl: '10m',
      guard: { cooldown: 200 },
    });
    toClose.push(cache);
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    await cache.setMany(keys.map((key) => ({ key, value: `v:${key}` })));
    // Keys the load never touches: after the fault they must still come from L3.
    const untouched = keys.slice(200);

    const latencies: number[] = [];
    let failed = 0;
    let wrong = 0;
    let running = true;
    const worker = async (w: number) => {
      for (let i = w; running; i += 8) {
        const key = keys[i % 200] as string;
        const started = performance.now();
        try {
          if ((await cache.getOrSet(key, () => `v:${key}`)) !== `v:${key}`) wrong++;
        } catch {
          failed++;
        }
        latencies.push(performance.now() - started);
        // With the breaker open every step settles in microtasks: yield, or the timer
        // that ends the load (and the I/O of the recovery) never runs.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const load = Array.from({ length: 8 }, (_, w) => worker(w));

    // Hold the store's queries behind a lock so they are in flight, then kill their backends.
    // The lock is held on a connection of its own: pg_stat_activity is a snapshot taken
    // once per transaction, so polling it inside the locking transaction would see nothing new.
    const locker = new pg.Client({ connectionString: server.url, application_name: 'resilience-locker' });
    locker.on('error', () => {});
    await locker.connect();
    let rows: Array<{ killed: boolean }>;
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${(store as PostgresStore).qualifiedTable} IN ACCESS EXCLUSIVE MODE`);
      await waitFor('a store query to wait on the lock', async () =>
        (await storeBackends()).some((b) => b.state === 'active' && b.wait === 'Lock'),
      );
      ({ rows } = await admin.query<{ killed: boolean }>(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'tiercache'",
      ));
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end().catch(() => {});
    }

    // Let the load run on through the recovery.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    running = false;
    await Promise.all(load);

    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    console.log('pg terminate', {
      calls: latencies.length,
      failed,
      terminated: rows.length,
      maxMs: latencies.at(-1),
      p99Ms: p99,
      errors: cache.stats().stores.postgres?.errors,
    });
    expect(failed).toBe(0);
    expect(wrong).toBe(0);
    expect(latencies.at(-1)).toBeLessThan(BOUND_MS);
    expect(cache.stats().stores.postgres?.errors).toBeGreaterThan(0);

    // The next calls are served by L3 again, with no loader call.
    await waitFor(
      'the postgres store to answer again',
      async () => {
        await cache.get('probe');
        return cache.health().stores.postgres?.status === 'up';
      },
      5_000,
      PROBE_INTERVAL_MS,
    );
    let loads = 0;
    for (const key of untouched) {
      expect(
        await cache.getOrSet(key, () => {
          loads++;
          return 'reloaded';
        }),
      ).toBe(`v:${key}`);
    }
    expect(loads).toBe(0);

    // No leaked or dead clients: every client the pool holds is a live, idle backend,
    // none idle in a transaction, and nobody waits for one.
    await waitFor(
      'the pool to hold only live idle clients',
      async () => {
        const backends = await storeBackends();
        return (
          pool.waitingCount === 0 &&
          pool.idleCount === pool.totalCount &&
          backends.length === pool.totalCount &&
          backends.every((b) => b.state === 'idle')
        );
      },
      5_000,
    );
    expect(pool.totalCount).toBeLessThanOrEqual(10);
    expect((await storeBackends()).some((b) => b.state.startsWith('idle in transaction'))).toBe(false);
  });

  it('survives idle backends being terminated (pool error events) and reconnects', async () => {
    const schema = `pgidle_${Math.random().toString(36).slice(2, 8)}`;
    const cache = new TieredCache<string>({
      namespace: uniqueNamespace('pg-idle'),
      l1: false,
      stores: [postgresStore({ connectionString: server.url, schema, sweepIntervalMs: 0 })],
      ttl: '10m',
    });
    toClose.push(cache);
    await cache.set('k', 'v');
    await Promise.all(Array.from({ length: 5 }, () => cache.get('k')));
    const before = await storeBackends();
    expect(before.length).toBeGreaterThan(0);
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tiercache'",
    );
    await waitFor('the terminated backends to be gone', async () => {
      const now = await storeBackends();
      return !now.some((b) => before.some((old) => old.pid === b.pid));
    });
    // The process is still here (an unhandled pool `error` would have crashed it), and L3 answers.
    await waitFor(
      'L3 to answer',
      async () => (await cache.get('k')) === 'v' && cache.health().stores.postgres?.status === 'up',
      5_000,
    );
  });
});
