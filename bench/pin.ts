/**
 * CPU placement for the rows that talk to Redis over loopback (mixed traffic, L2 hits).
 * Over loopback, where the scheduler puts the client and the server decides much of a
 * round trip's cost (same core: no wake-up across cores, but they take turns), so the
 * figure of an unpinned run depends on the machine's mood. These rows start a private
 * `redis-server` and, where `taskset` exists and there are two CPUs or more, pin this
 * process to CPU 0 and the server to CPU 1, and print which placement was used.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { onPath, startRedisServer } from '../test/support/services.js';
import type { SectionContext } from './section.js';

/** A Redis for one row, and where it and this process run. */
export interface PinnedRedis {
  readonly url: string;
  /** One line for the table's notes: which placement was used. */
  readonly placement: string;
  /** Stops the private server (if one was started) and gives this process all CPUs back. */
  stop(): Promise<void>;
}

function taskset(cpuList: string, pid: number): boolean {
  // -a: every thread of the process (libuv's pool, V8's helpers), not only the main one.
  const result = spawnSync('taskset', ['-a', '-cp', cpuList, String(pid)], { stdio: 'ignore' });
  return result.status === 0;
}

/**
 * A private Redis pinned apart from this process when possible; else the bench's shared
 * Redis, unpinned (the placement line says so).
 */
export async function pinnedRedis(ctx: SectionContext): Promise<PinnedRedis> {
  const count = cpus().length;
  if (!onPath('redis-server')) {
    return {
      url: await ctx.services.redis(),
      placement: 'not pinned: no redis-server on PATH for a private server (shared Redis used)',
      stop: async () => {},
    };
  }
  const server = await startRedisServer();
  const all = `0-${count - 1}`;
  let placement: string;
  if (count < 2) placement = 'not pinned: one CPU (private redis-server)';
  else if (!onPath('taskset')) placement = 'not pinned: no taskset on PATH (private redis-server)';
  else if (taskset('0', process.pid) && taskset('1', server.pid))
    placement = `pinned: bench on CPU 0, private redis-server on CPU 1 (taskset; ${count} CPUs)`;
  else {
    taskset(all, process.pid);
    placement = 'not pinned: taskset refused (private redis-server)';
  }
  return {
    url: server.url,
    placement,
    stop: async () => {
      if (count >= 2 && onPath('taskset')) taskset(all, process.pid);
      await server.stop();
    },
  };
}
