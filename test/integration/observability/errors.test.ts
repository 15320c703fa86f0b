/**
 * A store failure says what failed: the store, its endpoint (never a password), and the
 * underlying error as `cause`, with its code (ECONNREFUSED, a Postgres SQLSTATE, ...).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BusUnavailableError, StoreUnavailableError } from '../../../src/errors.js';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import {
  freePort,
  postgresUrlForTests,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

const toClose: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.allSettled(toClose.map((c) => c.close()));
  await stopAll();
});

/** The cache in strict mode, so the failure reaches the caller as it would reach `onError`. */
function strictCache(store: ConstructorParameters<typeof TieredCache>[0]['stores']): TieredCache {
  const cache = new TieredCache({
    namespace: uniqueNamespace('err'),
    stores: store,
    strict: true,
    l1: false,
    // Generous: the failures under test are refusals, not replies slowed by a busy machine.
    guard: { timeout: '2s' },
  });
  toClose.push(cache);
  return cache;
}

async function failure(call: Promise<unknown>): Promise<StoreUnavailableError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreUnavailableError);
  return error as StoreUnavailableError;
}

describe('store errors name the store, the endpoint and the cause', () => {
  it('Redis killed: ECONNREFUSED as the cause, host:port/db in the message', async () => {
    const server = await startRedisServer();
    const store = redisStore({ url: `${server.url}/0` });
    const cache = strictCache([store]);
    await cache.set('k', 'v');
    await server.stop();
    // The client reports the refused reconnect on its own `error` event first.
    await waitFor(
      'the refused reconnect',
      () => (store.connectionError?.() as { code?: string } | undefined)?.code === 'ECONNREFUSED',
    );
    const error = await failure(cache.get('k'));
    expect(error.store).toBe('redis');
    expect(error.endpoint).toBe(`127.0.0.1:${server.port}/0`);
    expect(error.message).toContain(`Store "redis" (127.0.0.1:${server.port}/0) is unavailable`);
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('Postgres refusing connections: ECONNREFUSED, and no password in the message', async () => {
    const port = await freePort();
    const store = postgresStore({
      connectionString: `postgres://app:s3cret-pw@127.0.0.1:${port}/orders`,
      ensureSchema: false,
      timeoutMs: 2_000,
    });
    const cache = strictCache([store]);
    const error = await failure(cache.get('k'));
    expect(error.endpoint).toBe(`127.0.0.1:${port}/orders`);
    expect(error.message).toContain(`Store "postgres" (127.0.0.1:${port}/orders)`);
    expect(error.message).not.toContain('s3cret');
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('Postgres answering with an error: its SQLSTATE as the code (3D000, no such database)', async () => {
    const url = new URL(await postgresUrlForTests());
    url.pathname = '/tiercache_no_such_db';
    const store = postgresStore({ connectionString: url.toString(), ensureSchema: false, timeoutMs: 2_000 });
    const cache = strictCache([store]);
    const error = await failure(cache.get('k'));
    expect(error.endpoint).toBe(`${url.hostname}:${url.port || 5432}/tiercache_no_such_db`);
    expect((error.cause as { code?: string }).code).toBe('3D000');
  });

  it('a call turned away by the open breaker carries the failure that opened it', async () => {
    const port = await freePort();
    const store = postgresStore({ connectionString: `postgres://127.0.0.1:${port}/x`, ensureSchema: false });
    const cache = new TieredCache({
      namespace: uniqueNamespace('err'),
      stores: [store],
      strict: true,
      l1: false,
      guard: { failureThreshold: 1, cooldown: '1h', timeout: 2_000 },
    });
    toClose.push(cache);
    await failure(cache.get('k'));
    const refused = await failure(cache.get('k'));
    expect(refused.message).toMatch(/circuit open/);
    expect((refused.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('a failed bus publish names the bus and its endpoint, with the cause', async () => {
    const server = await startRedisServer();
    const errors: Error[] = [];
    const cache = new TieredCache({
      namespace: uniqueNamespace('err'),
      bus: redisBus({ url: `${server.url}/0` }),
      onError: (error) => errors.push(error),
    });
    toClose.push(cache);
    await cache.ready();
    await server.stop();
    await cache.set('k', 'v');
    await waitFor('the publish failure', () => errors.some((e) => e instanceof BusUnavailableError));
    const error = errors.find((e) => e instanceof BusUnavailableError) as BusUnavailableError;
    expect(error.endpoint).toBe(`127.0.0.1:${server.port}/0`);
    expect(error.message).toContain(
      `Bus "redis" (127.0.0.1:${server.port}/0) is unavailable: publish failed`,
    );
    expect(error.cause).toBeInstanceOf(Error);
  });
});
