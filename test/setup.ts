import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

// Every test file fails on an unhandled rejection: a background refresh or a store
// write that rejects with nobody listening is a bug, not noise.
process.on('unhandledRejection', (reason) => {
  throw reason;
});

// Nothing left behind in the shared Redis: every key of a namespace this process made
// (`t-<label>-<pid>-...`, see uniqueNamespace), including what a file's own cleanup does
// not know of (the epoch a clear() writes lives 50 days, a lease's landed marker).
// Test files run one at a time in a worker, so the keys of this pid are this file's.
afterAll(async () => {
  if (process.env.REDIS_URL === undefined && !(await sharedRedisAnswers())) return;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  try {
    await redis.connect();
    const pattern = `t-*-${process.pid}-*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // No shared Redis here (the services helper started private ones): nothing to clean.
  } finally {
    redis.disconnect();
  }
});

/** Whether the shared Redis answers on its default port (bounded: never holds a run up). */
function sharedRedisAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(300, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
