import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCoalescer } from '../../../src/redis/coalesce.js';
import { redisStore } from '../../../src/redis/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { rawClients } from './helpers.js';

const url = await redisUrlForTests();
const opened = rawClients(url);

afterAll(() => opened.quitAll());

/** Counts the socket writes (`write` / `writev` at the stream's own level) of `client`. */
function countWrites(client: Redis): { readonly count: number } {
  const socket = client.stream as Socket & { _writev?: unknown; _write: unknown };
  const counter = { count: 0 };
  const write = socket._write as (...args: unknown[]) => void;
  const writev = socket._writev as (...args: unknown[]) => void;
  socket._write = (...args: unknown[]) => {
    counter.count++;
    write.apply(socket, args);
  };
  socket._writev = (...args: unknown[]) => {
    counter.count++;
    writev.apply(socket, args);
  };
  return counter;
}

describe('redis write coalescing', () => {
  it('under concurrency, sends the commands of one tick in one socket write, each with its own answer', async () => {
    const client = opened.client();
    await client.ping();
    const prefix = `${uniqueNamespace('coalesce')}:`;
    await client.set(`${prefix}a`, 'A');
    await client.set(`${prefix}b`, 'B');
    const writes = countWrites(client);
    const coalesce = writeCoalescer(client);
    // A command on an idle connection leaves at once.
    coalesce();
    const first = client.get(`${prefix}a`);
    expect((client.stream as Socket).writableCorked).toBe(0);
    expect(writes.count).toBe(1);
    // With it in flight, the next ones wait for the tick to end, and leave together.
    const replies: Array<Promise<string | null>> = [];
    for (const key of ['a', 'b', 'missing', 'a']) {
      coalesce();
      replies.push(client.get(prefix + key));
    }
    expect((client.stream as Socket).writableCorked).toBe(1);
    expect(writes.count).toBe(1);
    expect(await Promise.all([first, ...replies])).toEqual(['A', 'A', 'B', null, 'A']);
    expect(writes.count).toBe(2);
    expect((client.stream as Socket).writableCorked).toBe(0);
    await client.unlink(`${prefix}a`, `${prefix}b`);
  });

  it('leaves a client that is not ready alone: the command fails as ioredis fails it', async () => {
    const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const coalesce = writeCoalescer(client);
    coalesce();
    await expect(client.get('x')).rejects.toThrow(/enableOfflineQueue/);
    client.disconnect();
  });

  it("the store's reads, writes and leases of one tick share a write", async () => {
    const client = opened.client();
    await client.ping();
    const namespace = uniqueNamespace('coalesce-store');
    const store = redisStore({ client, prefix: `${namespace}:` });
    const writes = countWrites(client);
    const expiresAt = Date.now() + 60_000;
    const version = nextVersion();
    // The first leaves at once (nothing in flight); the others of the tick together.
    await Promise.all([
      store.setMany([{ key: 'k1', value: bytes('one'), expiresAt, version }]),
      store.setMany([{ key: 'k2', value: bytes('two'), expiresAt, version }]),
      store.leases.acquire('lease', 'token', 1_000),
    ]);
    expect(writes.count).toBe(2);
    const [one, two, none] = await Promise.all([store.get('k1'), store.get('k2'), store.getMany(['k3'])]);
    expect(writes.count).toBe(4);
    expect([text(one), text(two), none]).toEqual(['one', 'two', [undefined]]);
    await store.deleteMany(['k1', 'k2', 'lease']);
    await store.close();
  });
});
