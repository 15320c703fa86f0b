import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusListener, BusMessage, BusOp, InvalidationBus } from '../../../src/bus/bus.js';
import { InvalidKeyError, InvalidOptionError, TierCacheError } from '../../../src/errors.js';
import {
  decodePayload,
  encodePayloads,
  MAX_NOTIFY_PAYLOAD_BYTES,
  postgresBus,
  postgresChannel,
} from '../../../src/postgres/index.js';
import {
  freePort,
  type OwnServer,
  postgresUrlForTests,
  startPostgresServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

/** A listener that records what it gets. */
function recorder() {
  const messages: BusMessage[] = [];
  let resyncs = 0;
  const links: boolean[] = [];
  const listener: BusListener & { onLinkChange(up: boolean): void } = {
    onMessage: (message) => {
      messages.push(message);
    },
    onResync: () => {
      resyncs++;
    },
    onLinkChange: (up) => {
      links.push(up);
    },
  };
  return {
    listener,
    messages,
    links,
    get resyncs() {
      return resyncs;
    },
    keys: () => messages.flatMap((message) => message.keys),
  };
}

let url: string;
const open: InvalidationBus[] = [];
function bus(options: Parameters<typeof postgresBus>[0]): InvalidationBus {
  const made = postgresBus(options);
  open.push(made);
  return made;
}

beforeAll(async () => {
  url = await postgresUrlForTests();
});

afterAll(async () => {
  await Promise.all(open.map((b) => b.close()));
  await stopAll();
});

describe('postgresBus on the shared server', () => {
  it('delivers a message to the other instance and not back to its sender', async () => {
    const ns = uniqueNamespace('pgbus');
    const a = bus({ connectionString: url });
    const b = bus({ connectionString: url });
    const ra = recorder();
    const rb = recorder();
    await a.start(ns, 'instance-a', ra.listener);
    await b.start(ns, 'instance-b', rb.listener);
    expect(a.health().status).toBe('up');
    await a.publish({ origin: 'instance-a', op: 'delete', keys: ['user:1', 'user:2'] });
    await waitFor('b receiving the delete', () => rb.messages.length === 1);
    expect(rb.messages[0]).toEqual({ origin: 'instance-a', op: 'delete', keys: ['user:1', 'user:2'] });
    // a sees its own message on the channel (lastMessageAt) but does not deliver it; b's
    // reply proves a's link is delivering, so the absence is not a timing accident.
    await b.publish({ origin: 'instance-b', op: 'clear', keys: ['user:'] });
    await waitFor('a receiving the clear', () => ra.messages.length === 1);
    expect(ra.messages).toEqual([{ origin: 'instance-b', op: 'clear', keys: ['user:'] }]);
    expect(rb.messages.length).toBe(1);
    expect(b.health().lastMessageAt).toBeGreaterThan(0);
    expect(ra.resyncs + rb.resyncs).toBe(0);
  });

  it('keeps namespaces apart', async () => {
    const ns1 = uniqueNamespace('pgbus1');
    const ns2 = uniqueNamespace('pgbus2');
    const a = bus({ connectionString: url });
    const b = bus({ connectionString: url });
    const c = bus({ connectionString: url });
    const rb = recorder();
    const rc = recorder();
    await a.start(ns1, 'a', recorder().listener);
    await b.start(ns1, 'b', rb.listener);
    await c.start(ns2, 'c', rc.listener);
    await a.publish({ origin: 'a', op: 'set', keys: ['for-ns1'] });
    await c.publish({ origin: 'c', op: 'set', keys: ['for-ns2'] });
    // b is on ns1 only; c's own message is dropped: publish a marker to c from a's side of ns2.
    const d = bus({ connectionString: url });
    await d.start(ns2, 'd', recorder().listener);
    await d.publish({ origin: 'd', op: 'set', keys: ['marker'] });
    await waitFor('b and c receiving', () => rb.messages.length >= 1 && rc.messages.length >= 1);
    expect(rb.keys()).toEqual(['for-ns1']);
    expect(rc.keys()).toEqual(['marker']);
  });

  it('splits 5,000 long keys into payloads under the NOTIFY limit and delivers them all, in order', async () => {
    const ns = uniqueNamespace('pgbus-big');
    const a = bus({ connectionString: url });
    const b = bus({ connectionString: url });
    const rb = recorder();
    await a.start(ns, 'a', recorder().listener);
    await b.start(ns, 'b', rb.listener);
    const keys = Array.from({ length: 5000 }, (_, i) => `${i}:${'k'.repeat(150)}:ключ:"quoted"\\`);
    const payloads = encodePayloads({ origin: 'a', op: 'delete', keys });
    expect(payloads.length).toBeGreaterThan(100);
    for (const payload of payloads)
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_NOTIFY_PAYLOAD_BYTES);
    await a.publish({ origin: 'a', op: 'delete', keys });
    await waitFor('b receiving 5,000 keys', () => rb.keys().length >= 5000, 15_000);
    expect(rb.keys()).toEqual(keys);
    expect(rb.messages.every((message) => message.op === 'delete' && message.origin === 'a')).toBe(true);
  });

  it('delivers a 1024-character key of the worst escaping alone, and rejects a longer one with InvalidKeyError', async () => {
    const ns = uniqueNamespace('pgbus-long');
    const a = bus({ connectionString: url });
    const b = bus({ connectionString: url });
    const rb = recorder();
    await a.start(ns, 'a', recorder().listener);
    await b.start(ns, 'b', rb.listener);
    // A control character becomes 6 bytes of JSON (\u0001): the largest a key can grow.
    const worst = '\u0001'.repeat(1024);
    const astral = '😀'.repeat(512); // 1024 UTF-16 units, 2048 bytes
    await a.publish({ origin: 'a', op: 'delete', keys: [worst, astral, 'short'] });
    await waitFor('b receiving the long keys', () => rb.keys().length === 3);
    expect(rb.keys()).toEqual([worst, astral, 'short']);

    const tooLong = '\u0001'.repeat(1400);
    const failure = a.publish({ origin: 'a', op: 'delete', keys: ['fine', tooLong] });
    await expect(failure).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(failure).rejects.toThrow(/NOTIFY limit of 7900/);
  });

  it('hashes a namespace too long for a Postgres channel name, and still delivers', async () => {
    const ns = `${uniqueNamespace('pgbus')}-${'n'.repeat(80)}`;
    expect(Buffer.byteLength(postgresChannel(ns))).toBeLessThanOrEqual(63);
    expect(postgresChannel(`${ns}x`)).not.toBe(postgresChannel(ns));
    expect(postgresChannel('app')).toBe('tiercache:v1:app');
    const a = bus({ connectionString: url });
    const b = bus({ connectionString: url });
    const rb = recorder();
    await a.start(ns, 'a', recorder().listener);
    await b.start(ns, 'b', rb.listener);
    await a.publish({ origin: 'a', op: 'delete', keys: ['x'] });
    await waitFor('b receiving on a hashed channel', () => rb.messages.length === 1);
  });

  it('accepts a pool: publishes through it and listens with its settings, leaving it open on close()', async () => {
    const ns = uniqueNamespace('pgbus-pool');
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    pool.on('error', () => {});
    const a = postgresBus({ pool });
    const b = bus({ connectionString: url });
    const ra = recorder();
    const rb = recorder();
    try {
      await a.start(ns, 'a', ra.listener);
      await b.start(ns, 'b', rb.listener);
      await a.publish({ origin: 'a', op: 'delete', keys: ['from-pool'] });
      await b.publish({ origin: 'b', op: 'delete', keys: ['to-pool'] });
      await waitFor('both receiving', () => ra.messages.length === 1 && rb.messages.length === 1);
    } finally {
      await a.close();
    }
    expect(a.health().status).toBe('down');
    expect((await pool.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    await pool.end();
  });

  it('delivers a message sent by SQL (as a trigger would), and ignores malformed payloads', async () => {
    const ns = uniqueNamespace('pgbus-sql');
    const b = bus({ connectionString: url });
    const rb = recorder();
    await b.start(ns, 'b', rb.listener);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const channel = postgresChannel(ns);
      await client.query('SELECT pg_notify($1, $2)', [channel, 'not json']);
      await client.query('SELECT pg_notify($1, $2)', [channel, '{"origin":"x","op":"drop","keys":[]}']);
      await client.query('SELECT pg_notify($1, $2)', [channel, '{"origin":"x","op":"delete","keys":[1]}']);
      await client.query(
        "SELECT pg_notify($1, json_build_object('origin', 'db', 'op', 'delete', 'keys', json_build_array('user:7'))::text)",
        [channel],
      );
      await waitFor('b receiving the trigger-style message', () => rb.messages.length === 1);
      expect(rb.messages[0]).toEqual({ origin: 'db', op: 'delete', keys: ['user:7'] });
      expect(b.health().lastError).toMatch(/malformed/);
      expect(b.health().status).toBe('up');
    } finally {
      await client.end();
    }
  });

  it('close() stops delivery, drops its listening connection, and may be called twice', async () => {
    const ns = uniqueNamespace('pgbus-close');
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const channelListeners = async () =>
        (
          await admin.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tiercache-bus' AND query = $1",
            [`LISTEN ${pg.escapeIdentifier(postgresChannel(ns))}`],
          )
        ).rows[0]?.n as number;
      const b = postgresBus({ connectionString: url, heartbeatMs: 60_000 });
      const rb = recorder();
      await b.start(ns, 'b', rb.listener);
      // With no heartbeat yet, the session's last query is its LISTEN.
      expect(await channelListeners()).toBe(1);
      await b.close();
      await b.close();
      await waitFor('the listening session to end', async () => (await channelListeners()) === 0);
      expect(b.health().status).toBe('down');
      expect(rb.resyncs).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('start() rejects when the server cannot be reached, reports the link down, and close() stops retrying', async () => {
    const b = postgresBus({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      reconnectMinMs: 10,
      reconnectMaxMs: 20,
    });
    const rb = recorder();
    const failure = b.start('ns', 'b', rb.listener);
    await expect(failure).rejects.toBeInstanceOf(TierCacheError);
    await expect(failure).rejects.toThrow(/keeps retrying/);
    expect(rb.links).toEqual([false]);
    expect(b.health().status).not.toBe('up');
    expect(b.health().lastError).toBeTruthy();
    await b.close();
    expect(b.health().status).toBe('down');
    await expect(b.publish({ origin: 'b', op: 'delete', keys: ['k'] })).rejects.toThrow(/after close/);
  });

  it('publish() before start() fails clearly', async () => {
    const b = bus({ connectionString: url });
    await expect(b.publish({ origin: 'b', op: 'delete', keys: ['k'] })).rejects.toThrow(/before start/);
  });

  it('a server that accepts and never answers: start() gives up after connectTimeoutMs', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const b = postgresBus({
      connectionString: `postgres://postgres@127.0.0.1:${port}/x`,
      connectTimeoutMs: 200,
    });
    try {
      await expect(b.start('ns', 'b', recorder().listener)).rejects.toThrow(/took over 200 ms/);
    } finally {
      await b.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a bus that could not start connects once the server is reachable, then resyncs and delivers', async () => {
    const ns = uniqueNamespace('pgbus-late');
    const port = await freePort();
    const target = new URL(url);
    const b = bus({
      connectionString: `postgres://postgres@127.0.0.1:${port}${target.pathname}`,
      reconnectMinMs: 20,
      reconnectMaxMs: 100,
    });
    const rb = recorder();
    await expect(b.start(ns, 'b', rb.listener)).rejects.toThrow(TierCacheError);
    // Now a TCP proxy on that port to the real server: the bus finds it on a retry.
    const sockets = new Set<Socket>();
    const proxy = createServer((inbound) => {
      const outbound = connect(Number(target.port || 5432), target.hostname);
      sockets.add(inbound).add(outbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    try {
      await waitFor('the late connection', () => b.health().status === 'up');
      await waitFor('onResync on the late connection', () => rb.resyncs === 1);
      expect(rb.links).toEqual([false, true]);
      const a = bus({ connectionString: url });
      await a.start(ns, 'a', recorder().listener);
      await a.publish({ origin: 'a', op: 'delete', keys: ['late'] });
      await waitFor('the message through the late bus', () => rb.keys().includes('late'));
    } finally {
      await b.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it.each([
    ['pool', {}],
    ['heartbeatMs', { connectionString: 'postgres://x', heartbeatMs: 0 }],
    ['heartbeatTimeoutMs', { connectionString: 'postgres://x', heartbeatTimeoutMs: -5 }],
    ['reconnectMaxMs', { connectionString: 'postgres://x', reconnectMinMs: 100, reconnectMaxMs: 10 }],
    ['connectionString', { connectionString: '' }],
    ['connectTimeoutMs', { connectionString: 'postgres://x', connectTimeoutMs: 1.5 }],
  ])('rejects an invalid %s with InvalidOptionError naming it', (option, options) => {
    let error: unknown;
    try {
      postgresBus(options as Parameters<typeof postgresBus>[0]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
  });
});

describe('postgresBus link failures (a private server)', () => {
  let server: OwnServer;
  let admin: pg.Client;

  beforeAll(async () => {
    server = await startPostgresServer();
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  const listenerPid = async (): Promise<number> => {
    const result = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'tiercache-bus'",
    );
    expect(result.rows.length).toBe(1);
    return result.rows[0]!.pid;
  };

  it('pg_terminate_backend on the listener: onResync at once, reconnects, resyncs again, messages flow', async () => {
    const ns = uniqueNamespace('pgbus-kill');
    const a = bus({ connectionString: server.url });
    const b = bus({ connectionString: server.url, reconnectMinMs: 20, reconnectMaxMs: 200 });
    const rb = recorder();
    await a.start(ns, 'a', recorder().listener);
    const aPid = await listenerPid();
    await b.start(ns, 'b', rb.listener);
    const pid = (
      await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tiercache-bus' AND pid <> $1",
        [aPid],
      )
    ).rows[0]!.pid;
    await a.publish({ origin: 'a', op: 'delete', keys: ['before'] });
    await waitFor('the first message', () => rb.messages.length === 1);

    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor('onResync after the kill', () => rb.resyncs >= 1);
    await waitFor('the bus to be up again', () => b.health().status === 'up');
    await waitFor('onResync after reconnecting', () => rb.resyncs >= 2);
    expect(rb.links).toEqual([false, true]);
    expect(b.health().lastError).toMatch(/terminat/i);

    await a.publish({ origin: 'a', op: 'delete', keys: ['after'] });
    await waitFor('a message after the reconnect', () => rb.keys().includes('after'));
    expect(rb.keys()).toEqual(['before', 'after']);
  });

  it('a hung listener connection (SIGSTOP) is detected within about 1 s, then recovered', async () => {
    const ns = uniqueNamespace('pgbus-hang');
    const b = bus({ connectionString: server.url, reconnectMinMs: 20, reconnectMaxMs: 200 });
    const rb = recorder();
    // The kill test's buses are still listening: take the newest tiercache-bus session.
    await b.start(ns, 'b', rb.listener);
    const pid = (
      await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tiercache-bus' ORDER BY backend_start DESC LIMIT 1",
      )
    ).rows[0]!.pid;
    const a = bus({ connectionString: server.url });
    await a.start(ns, 'a', recorder().listener);
    process.kill(pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await waitFor('the hang to be detected', () => rb.resyncs >= 1, 3_000);
      const detectedIn = Date.now() - stoppedAt;
      expect(b.health().status).not.toBe('up');
      expect(b.health().lastError).toMatch(/heartbeat/);
      // heartbeatMs 300 + heartbeatTimeoutMs 600 = 900 ms at worst, plus scheduling slack on a busy machine.
      expect(detectedIn).toBeLessThan(1_500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('the bus to be up again', () => b.health().status === 'up');
    await waitFor('onResync after reconnecting', () => rb.resyncs >= 2);
    await a.publish({ origin: 'a', op: 'delete', keys: ['after-hang'] });
    await waitFor('a message after the hang', () => rb.keys().includes('after-hang'));
  });
});

describe('bus payload chunking (no server)', () => {
  it('any keys within the core limit split into payloads under the limit that decode back to the same keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 1024 }), { maxLength: 60 }),
        fc.string({ maxLength: 40 }),
        fc.constantFrom<BusOp>('set', 'delete', 'clear'),
        (keys, origin, op) => {
          const payloads = encodePayloads({ origin, op, keys });
          expect(payloads.length).toBeGreaterThan(0);
          const decoded = payloads.map((payload) => {
            expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_NOTIFY_PAYLOAD_BYTES);
            // What Postgres would deliver is this text, so it must decode on its own.
            const message = decodePayload(payload);
            expect(message?.origin).toBe(origin);
            expect(message?.op).toBe(op);
            return message?.keys ?? [];
          });
          expect(decoded.flat()).toEqual(keys);
        },
      ),
      { numRuns: 200 },
    );
  });
});
