/**
 * Finds the Redis and Postgres servers that tests and the bench run against, in the
 * order DESIGN.md gives: the environment (`REDIS_URL`, `DATABASE_URL`), then the default
 * local ports if something answers there, then a server of our own on a free port.
 * Private servers for fault tests (kill, pause, restart) are always our own.
 *
 * Whatever this module starts, `stopAll()` (and process exit) stops.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const owned = new Set<OwnServer>();

/** Stops every server this module started. */
export async function stopAll(): Promise<void> {
  await Promise.all([...owned].map((server) => server.stop()));
}

/** Kills every server this module started, synchronously: the last resort on exit. */
function killOwned(): void {
  for (const server of owned) {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {}
  }
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

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const HOW_REDIS = 'no Redis server: set REDIS_URL, run one on 127.0.0.1:6379, or put redis-server on PATH';
const HOW_POSTGRES =
  'no PostgreSQL server: set DATABASE_URL, run one on 127.0.0.1:5432 (trust auth), or put initdb and pg_ctl on PATH';

let redisUrl: Promise<string> | undefined;
let postgresUrl: Promise<string> | undefined;

/**
 * The Redis URL to use: `REDIS_URL`, else 127.0.0.1:6379 if it answers, else a
 * `redis-server` of our own. Rejects with one line saying how to provide one.
 */
export function redisUrlForTests(): Promise<string> {
  redisUrl ??= (async () => {
    if (process.env.REDIS_URL) return process.env.REDIS_URL;
    if (await answers('127.0.0.1', 6379)) return 'redis://127.0.0.1:6379';
    if (onPath('redis-server')) return (await startRedisServer()).url;
    throw new Error(HOW_REDIS);
  })();
  return redisUrl;
}

/**
 * The Postgres connection string to use: `DATABASE_URL`, else 127.0.0.1:5432 (database
 * `test`, user `postgres`) if it answers, else a private cluster of our own.
 */
export function postgresUrlForTests(): Promise<string> {
  postgresUrl ??= (async () => {
    if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
    if (await answers('127.0.0.1', 5432)) return 'postgres://postgres@127.0.0.1:5432/test';
    if (onPath('initdb') && onPath('pg_ctl')) return (await startPostgresServer()).url;
    throw new Error(HOW_POSTGRES);
  })();
  return postgresUrl;
}

/**
 * Starts a private `redis-server` on a free port, with no persistence. For tests that
 * kill, pause or restart a server: never do that to the shared one.
 */
export async function startRedisServer(port?: number): Promise<OwnServer> {
  if (!onPath('redis-server')) throw new Error(`cannot start a private Redis: ${HOW_REDIS}`);
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'tiercache-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const server = ownServer(child, `redis://127.0.0.1:${chosen}`, chosen, async () => {
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(
    `redis-server on port ${chosen} to come up`,
    () => answers('127.0.0.1', chosen, 200),
    10_000,
    25,
  );
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
  const pid = Number(
    execFileSync('head', ['-1', join(data, 'postmaster.pid')])
      .toString()
      .trim(),
  );
  let stopped = false;
  const server: OwnServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    signal: (signal) => process.kill(pid, signal),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      owned.delete(server);
      try {
        process.kill(pid, 'SIGCONT');
        run(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  owned.add(server);
  return server;
}

function ownServer(child: ChildProcess, url: string, port: number, cleanup: () => Promise<void>): OwnServer {
  let stopped = false;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const server: OwnServer = {
    url,
    port,
    pid: child.pid as number,
    signal: (signal) => {
      child.kill(signal);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      owned.delete(server);
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
      await cleanup();
    },
  };
  owned.add(server);
  return server;
}

/** A short unique namespace for one test, so runs never see each other's keys. */
export function uniqueNamespace(label: string): string {
  return `t-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
