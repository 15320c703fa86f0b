import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { postgresStore } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes } from '../../support/bytes.js';
import { postgresUrlForTests } from '../../support/services.js';

const schema = `tc_sweep_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const HOUR = 3_600_000;

let url: string;
let admin: pg.Pool;
let tables = 0;
const nextTable = () => `t${++tables}`;
const rows = async (table: string): Promise<number> =>
  (
    await admin.query(
      `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
    )
  ).rows[0]?.n;

beforeAll(async () => {
  url = await postgresUrlForTests();
  admin = new pg.Pool({ connectionString: url, max: 2 });
  admin.on('error', () => {});
});

afterAll(async () => {
  await admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin?.end();
});

describe('sweep', () => {
  it('deletes every expired row in batches of sweepBatch and nothing live', async () => {
    const table = nextTable();
    const store = postgresStore({
      connectionString: url,
      schema,
      table,
      sweepBatch: 1000,
      sweepIntervalMs: 0,
    });
    try {
      const now = Date.now();
      const writes = Array.from({ length: 2600 }, (_, i) => ({
        key: `k${i}`,
        value: bytes('v'),
        // 2500 expired (some exactly now: expiry is exclusive), 100 live.
        expiresAt: i < 2500 ? now - (i % 2) : now + HOUR,
        version: nextVersion(),
      }));
      await store.setMany(writes);
      expect(await rows(table)).toBe(2600);
      expect(await store.sweep()).toEqual({ expired: 2500, evicted: 0 });
      expect(await rows(table)).toBe(100);
      expect(await store.sweep()).toEqual({ expired: 0, evicted: 0 });
    } finally {
      await store.close();
    }
  });

  it('two stores sweeping one table at once delete each expired row once between them', async () => {
    const table = nextTable();
    const a = postgresStore({ connectionString: url, schema, table, sweepBatch: 100, sweepIntervalMs: 0 });
    const b = postgresStore({ connectionString: url, schema, table, sweepBatch: 100, sweepIntervalMs: 0 });
    try {
      const past = Date.now() - 1000;
      await a.setMany(
        Array.from({ length: 1000 }, (_, i) => ({
          key: `k${i}`,
          value: bytes('v'),
          expiresAt: past,
          version: nextVersion(),
        })),
      );
      await b.ensureSchema();
      const [ra, rb] = await Promise.all([a.sweep(), b.sweep()]);
      expect(ra.expired + rb.expired).toBe(1000);
      expect(await rows(table)).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('with maxRows, evicts the oldest-written rows beyond the bound, in batches', async () => {
    const table = nextTable();
    let now = 1_000_000;
    const store = postgresStore({
      connectionString: url,
      schema,
      table,
      maxRows: 50,
      sweepBatch: 20,
      sweepIntervalMs: 0,
      clock: { now: () => now },
    });
    try {
      // One write per ms, so creation order is known.
      for (let i = 0; i < 120; i++) {
        now++;
        await store.setMany([
          { key: `k${i}`, value: bytes(String(i)), expiresAt: now + HOUR, version: nextVersion() },
        ]);
      }
      // Rewriting k0 makes it the newest row: FIFO by last write, not first.
      now++;
      await store.setMany([
        { key: 'k0', value: bytes('again'), expiresAt: now + HOUR, version: nextVersion() },
      ]);
      expect(await store.sweep()).toEqual({ expired: 0, evicted: 70 });
      expect(await rows(table)).toBe(50);
      const kept = await admin.query<{ key: string }>(
        `SELECT key FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
      );
      const expected = ['k0', ...Array.from({ length: 49 }, (_, i) => `k${71 + i}`)];
      expect(kept.rows.map((row) => row.key).sort()).toEqual(expected.sort());
      expect(await store.sweep()).toEqual({ expired: 0, evicted: 0 });
    } finally {
      await store.close();
    }
  });

  it('counts expired rows out before evicting by age', async () => {
    const table = nextTable();
    const store = postgresStore({ connectionString: url, schema, table, maxRows: 10, sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      await store.setMany(
        Array.from({ length: 15 }, (_, i) => ({
          key: `e${i}`,
          value: bytes('v'),
          expiresAt: now - 1,
          version: nextVersion(),
        })),
      );
      await store.setMany(
        Array.from({ length: 12 }, (_, i) => ({
          key: `l${i}`,
          value: bytes('v'),
          expiresAt: now + HOUR,
          version: nextVersion(),
        })),
      );
      expect(await store.sweep()).toEqual({ expired: 15, evicted: 2 });
      expect(await rows(table)).toBe(10);
    } finally {
      await store.close();
    }
  });

  it('the background timer sweeps at its interval, and stops on close()', async () => {
    const table = nextTable();
    let clockCalls = 0;
    // Only the sweeper's timer runs on a fake clock: pg's own sockets stay real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const store = postgresStore({
        connectionString: url,
        schema,
        table,
        sweepIntervalMs: 20,
        clock: {
          now: () => {
            clockCalls++;
            return Date.now();
          },
        },
      });
      await store.setMany(
        Array.from({ length: 10 }, (_, i) => ({
          key: `k${i}`,
          value: bytes('v'),
          expiresAt: Date.now() - 1,
          version: nextVersion(),
        })),
      );
      // Each step passes one whole interval (at most 24 ms with jitter); bounded.
      for (let step = 0; step < 200 && (await rows(table)) > 0; step++) await vi.advanceTimersByTimeAsync(25);
      expect(await rows(table), 'the timer swept the 10 expired rows').toBe(0);
      await store.close();
      const after = clockCalls;
      // A minute on the fake clock: a sweeper still scheduled would run and re-arm its
      // timer (a sweep after close() may bail out before reading the clock, so count the
      // timers too); one-shot timers of pg's own (idle timeout, 10 s) fire and are gone.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(clockCalls).toBe(after);
      expect(vi.getTimerCount(), 'timers still scheduled a minute after close()').toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps no process alive: a script that never calls close() exits', async () => {
    const script = `
      import { postgresStore } from './src/postgres/index.ts';
      const store = postgresStore({ connectionString: ${JSON.stringify(url)}, schema: ${JSON.stringify(schema)}, table: 'script', sweepIntervalMs: 50 });
      await store.setMany([{ key: 'k', value: new Uint8Array([1]), expiresAt: Date.now() + 60000, version: '0'.repeat(23) + '1' }]);
      console.log(String((await store.get('k'))?.[0]));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the script did not exit within 15 s: ${out}`));
      }, 15_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(out.trim()).toBe('1');
    expect(code).toBe(0);
  });
});
