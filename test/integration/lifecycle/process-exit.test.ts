// A process exits when the user is done: after close() nothing delays the exit (reachable
// or unreachable Redis, Postgres), and with only L1 and Postgres it exits even when close()
// is forgotten. A Redis client keeps the process alive until close(), as an ioredis client
// does: the README says so, and the last test pins it.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const root = resolve(import.meta.dirname, '../../..');
const schema = `tc_exit_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let redisUrl: string;
let pgUrl: string;

beforeAll(async () => {
  [redisUrl, pgUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
});

afterAll(async () => {
  if (pgUrl === undefined) return;
  const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

interface Run {
  namespace: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

function start(redis: string, postgres: string, mode: 'close' | 'forget'): Run {
  const namespace = uniqueNamespace('exit');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/process-exit/main.ts', redis, postgres, mode, namespace, schema],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    out += chunk;
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: performance.now() })),
  );
  return { namespace, child, output: () => out, exited };
}

/** How long after `close()` resolved the process took to exit. */
async function exitDelayAfterClose(run: Run): Promise<number> {
  await waitFor('close() to resolve', () => run.output().includes('closed'), 20_000);
  const closedAt = performance.now();
  const { code, at } = await run.exited;
  expect(code, run.output()).toBe(0);
  return at - closedAt;
}

describe('process exit', () => {
  it('after close() with Redis (store and bus) and Postgres, nothing delays the exit', async () => {
    expect(await exitDelayAfterClose(start(redisUrl, pgUrl, 'close'))).toBeLessThan(500);
  });

  it('after close() with an unreachable Redis, nothing delays the exit (ioredis would hold it 2 s)', async () => {
    // Port 1 (tcpmux): nothing listens there, so every connect is refused. A port that
    // freePort() found free could be taken meanwhile by a server another test file
    // starts (a cluster node, later paused), and the "unreachable" Redis would answer.
    const nobody = 'redis://127.0.0.1:1';
    expect(await exitDelayAfterClose(start(nobody, '-', 'close'))).toBeLessThan(500);
  });

  it('with L1 and Postgres only, the process exits even if close() is forgotten', async () => {
    const run = start('-', pgUrl, 'forget');
    const { code } = await run.exited;
    expect(code, run.output()).toBe(0);
    expect(run.output()).toContain('done');
  });

  it('a Redis client keeps the process alive until close(), as ioredis does', async () => {
    const run = start(redisUrl, '-', 'forget');
    await waitFor('the script to finish its work', () => run.output().includes('done'), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGKILL');
    await run.exited;
    const cleaner = new TieredCache({ namespace: run.namespace, stores: [redisStore({ url: redisUrl })] });
    await cleaner.clear();
    await cleaner.close();
  });
});
