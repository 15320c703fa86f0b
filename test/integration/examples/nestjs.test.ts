// examples/nestjs: a NestJS app whose CacheModule stores in tiercache (createKeyv) over real
// L1 + Redis + Postgres. Compiled by tsc with the example's own tsconfig (legacy decorators,
// emitted metadata: how a Nest project builds), run as its own process, driven over HTTP,
// then stopped with SIGTERM: it must exit by itself once the app (and the cache) closed.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryCodec, TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const root = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const namespace = uniqueNamespace('nest');
const schema = `tc_nest_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let out: string;
let redisUrl: string;
let pgUrl: string;
let app: ChildProcess;
let base: string;
let stdout = '';
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

beforeAll(async () => {
  [redisUrl, pgUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
  out = mkdtempSync(join(tmpdir(), 'tiercache-nest-'));
  try {
    await run(process.execPath, [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'examples', 'nestjs'),
      '--outDir',
      out,
    ]);
  } catch (error) {
    const { stdout: o, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p examples/nestjs failed:\n${o ?? ''}${stderr ?? ''}`);
  }
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
  app = spawn(process.execPath, [join(out, 'examples', 'nestjs', 'main.js')], {
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      DATABASE_URL: pgUrl,
      PORT: '0',
      CACHE_NAMESPACE: namespace,
      CACHE_SCHEMA: schema,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  let stderr = '';
  app.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  exited = new Promise((resolve) =>
    app.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  await waitFor(
    'the Nest app to listen',
    () => {
      if (app.exitCode !== null) throw new Error(`the app exited: ${stderr}`);
      return /listening on \d+/.test(stdout);
    },
    20_000,
  );
  base = `http://127.0.0.1:${/listening on (\d+)/.exec(stdout)?.[1]}`;
}, 90_000);

afterAll(async () => {
  if (app !== undefined && app.exitCode === null) app.kill('SIGKILL');
  if (out !== undefined) rmSync(out, { recursive: true, force: true });
  if (redisUrl === undefined) return;
  const cleaner = new TieredCache({
    namespace,
    stores: [redisStore({ url: redisUrl }), postgresStore({ connectionString: pgUrl, schema })],
  });
  await cleaner.clear().catch(() => {});
  await cleaner.close();
  const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

async function get<T>(path: string): Promise<T> {
  const response = await fetch(base + path);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/**
 * Waits until the entry the app holds under `key` (read from Redis, as every tier holds
 * the same entry) is past its TTL: no read through the app, which would refresh it.
 */
async function untilStale(key: string): Promise<void> {
  const stored = redisStore({ url: redisUrl });
  try {
    await waitFor(
      `${key} to go stale`,
      async () => {
        const bytes = await stored.get(key);
        return bytes !== undefined && Date.now() >= codec.decode(bytes).staleAt;
      },
      5_000,
      10,
    );
  } finally {
    await stored.close();
  }
}
const codec = new EntryCodec();

const queries = async () => (await get<{ queries: number }>('/queries')).queries;

describe('examples/nestjs', () => {
  it("CacheInterceptor stores responses in tiercache; concurrent misses share one query (the cache's single-flight)", async () => {
    const products = await Promise.all(Array.from({ length: 20 }, () => get('/products/1')));
    expect(products).toEqual(Array.from({ length: 20 }, () => ({ id: 1, name: 'product 1', price: 30 })));
    expect(await queries()).toBe(1);
    // The interceptor's entry is in the cache (read back through CACHE_MANAGER, i.e. Keyv).
    expect((await get<{ cached: unknown }>('/queries')).cached).toEqual({
      id: 1,
      name: 'product 1',
      price: 30,
    });
    expect(await get('/products/1')).toEqual({ id: 1, name: 'product 1', price: 30 });
    expect(await queries()).toBe(1);
  });

  it("a stale price is served at once within the grace while one refresh runs (the cache's grace)", async () => {
    const before = await queries();
    expect(await get('/prices/2')).toEqual({ price: 8 });
    await get('/reprice/2/9');
    await untilStale(`${namespace}:price:2`);
    const stale = await Promise.all(Array.from({ length: 10 }, () => get('/prices/2')));
    expect(stale).toEqual(Array.from({ length: 10 }, () => ({ price: 8 })));
    let latest: unknown;
    await waitFor('the refreshed price', async () => {
      latest = await get('/prices/2');
      return (latest as { price: number }).price === 9;
    });
    expect(await queries()).toBe(before + 2);
  });

  it("CACHE_MANAGER's wrap stores through tiercache", async () => {
    expect(await get('/summary')).toEqual({ products: 2 });
    // The app's TieredCache holds what cache-manager wrote, under the same key.
    expect(await get('/cached/summary')).toEqual({ value: { products: 2 } });
    expect(await get('/cached/%2Fproducts%2F1')).toEqual({ value: { id: 1, name: 'product 1', price: 30 } });
  });

  it('exits by itself after SIGTERM: the app closes, CacheModule disconnects the store, the cache closes', async () => {
    app.kill('SIGTERM');
    await waitFor('the app to close', () => stdout.includes('closed'), 10_000);
    const closedAt = performance.now();
    const { code, signal, at } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(at - closedAt).toBeLessThan(1_000);
  });
});
