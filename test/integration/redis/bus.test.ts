import type { Redis } from 'ioredis';
import { pack } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import type { BusListener, BusMessage } from '../../../src/bus/bus.js';
import { busChannel } from '../../../src/bus/bus.js';
import { BUS_SUBSCRIBER_NAME, type RedisBus, redisBus } from '../../../src/redis/index.js';
import { prototypePollutingMap } from '../../support/msgpack.js';
import {
  freePort,
  redisUrlForTests,
  startRedisServer,
  stopAll,
  uniqueNamespace,
} from '../../support/services.js';
import { waitFor } from '../../support/wait.js';
import { expectOptionErrors, rawClients } from './helpers.js';

const url = await redisUrlForTests();
const opened = rawClients(url);
const client = opened.client;
const buses: RedisBus[] = [];

function bus(options: Parameters<typeof redisBus>[0]): RedisBus {
  const made = redisBus(options);
  buses.push(made);
  return made;
}

afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await opened.quitAll();
  await stopAll();
});

/** A listener that records what it receives. */
class Recorder implements BusListener {
  readonly messages: BusMessage[] = [];
  /** ms since the epoch of each onResync call. */
  readonly resyncs: number[] = [];
  /** Each onLinkChange call, in order. */
  readonly links: boolean[] = [];
  onLinkChange(up: boolean): void {
    this.links.push(up);
  }
  onMessage(message: BusMessage): void {
    this.messages.push(message);
  }
  onResync(): void {
    this.resyncs.push(Date.now());
  }
}

/** Starts two buses on one namespace, as two instances of a cache would. */
async function pair(options: () => Parameters<typeof redisBus>[0]) {
  const namespace = uniqueNamespace('bus');
  const a = { bus: bus(options()), listener: new Recorder() };
  const b = { bus: bus(options()), listener: new Recorder() };
  await a.bus.start(namespace, 'instance-a', a.listener);
  await b.bus.start(namespace, 'instance-b', b.listener);
  return { namespace, a, b };
}

/** The CLIENT LIST ids of connections carrying `name`. */
async function clientIds(admin: Redis, name: string): Promise<string[]> {
  const list = String(await admin.client('LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] as string);
}

describe('redisBus', () => {
  it('delivers another instance’s messages and drops its own', async () => {
    const { a, b } = await pair(() => ({ client: client() }));
    expect(a.bus.health().status).toBe('up');
    await a.bus.publish({ origin: 'instance-a', op: 'delete', keys: ['user:1', 'user:2'] });
    await a.bus.publish({ origin: 'instance-a', op: 'clear', keys: [''] });
    await waitFor('B to receive both messages', () => b.listener.messages.length === 2);
    expect(b.listener.messages).toEqual([
      { origin: 'instance-a', op: 'delete', keys: ['user:1', 'user:2'] },
      { origin: 'instance-a', op: 'clear', keys: [''] },
    ]);
    await waitFor('A to see its own two messages', () => a.bus.stats().ownDropped === 2);
    expect(a.listener.messages).toEqual([]);
    expect(a.bus.stats()).toMatchObject({ published: 2, delivered: 0, ownDropped: 2 });
    expect(b.bus.stats()).toMatchObject({ delivered: 2, undecodable: 0, resyncs: 0 });
    expect(b.bus.health().lastMessageAt).toBeGreaterThan(Date.now() - 5_000);
    expect(a.listener.resyncs).toEqual([]);
  });

  it('keeps namespaces apart', async () => {
    const ns1 = uniqueNamespace('bus-ns1');
    const ns2 = uniqueNamespace('bus-ns2');
    const one = bus({ client: client() });
    const two = bus({ client: client() });
    const heard1 = new Recorder();
    const heard2 = new Recorder();
    await one.start(ns1, 'one', heard1);
    await two.start(ns2, 'two', heard2);
    const sender = bus({ client: client() });
    await sender.start(ns1, 'sender', new Recorder());
    await sender.publish({ origin: 'sender', op: 'set', keys: ['k'] });
    await waitFor('ns1 to receive', () => heard1.messages.length === 1);
    // A marker on ns2 after the ns1 message: once it arrives, the ns1 message would have too.
    await client().publish(busChannel(ns2), pack({ origin: 'marker', op: 'set', keys: ['m'] }));
    await waitFor('ns2 marker', () => heard2.messages.length === 1);
    expect(heard2.messages[0]?.origin).toBe('marker');
  });

  it('drops and counts undecodable and hostile messages, never throws, never pollutes prototypes', async () => {
    const { namespace, b } = await pair(() => ({ client: client() }));
    const raw = client();
    const channel = busChannel(namespace);
    const bad: Array<Buffer | string> = [
      Buffer.from([0xc1]), // never-used msgpack byte
      Buffer.from([0x93, 0x01]), // truncated array
      'not msgpack at all {',
      pack(['instance-a', 'delete', ['k']]),
      pack({ origin: 'x', op: 'explode', keys: ['k'] }),
      pack({ origin: 'x', op: 'delete', keys: [1, 2] }),
      pack({ origin: 7, op: 'delete', keys: ['k'] }),
      pack({ origin: 'x', op: 'delete', keys: 'k' }),
      pack(null),
      Buffer.alloc(0),
    ];
    // `__proto__` and `constructor.prototype` keys beside an origin and an op (and no keys).
    const hostile = prototypePollutingMap({ origin: 'hostile', op: 'delete' });
    for (const payload of bad) await raw.publish(channel, payload);
    await raw.publish(channel, hostile);
    await raw.publish(channel, pack({ origin: 'good', op: 'delete', keys: ['ok'] }));
    await waitFor('the good message after the bad ones', () => b.listener.messages.length >= 1);
    expect(b.listener.messages).toEqual([{ origin: 'good', op: 'delete', keys: ['ok'] }]);
    expect(b.bus.stats().undecodable).toBe(bad.length + 1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted2).toBeUndefined();
    expect(b.bus.health().status).toBe('up');
  });

  it('survives a listener that throws', async () => {
    const namespace = uniqueNamespace('bus-throw');
    const thrower = bus({ client: client() });
    let calls = 0;
    await thrower.start(namespace, 'thrower', {
      onMessage: () => {
        calls++;
        throw new Error('listener bug');
      },
      onResync: () => {},
    });
    const raw = client();
    await raw.publish(busChannel(namespace), pack({ origin: 'o', op: 'delete', keys: ['a'] }));
    await raw.publish(busChannel(namespace), pack({ origin: 'o', op: 'delete', keys: ['b'] }));
    await waitFor('both messages to reach the throwing listener', () => calls === 2);
    expect(thrower.health().lastError).toMatch(/listener bug/);
  });

  it('opens its own publisher and subscriber from a url and closes both', async () => {
    const server = await startRedisServer();
    const admin = client(server.url);
    const { a, b } = await pair(() => ({ url: server.url }));
    await a.bus.publish({ origin: 'instance-a', op: 'delete', keys: ['k'] });
    await waitFor('B to receive', () => b.listener.messages.length === 1);
    expect(await clientIds(admin, BUS_SUBSCRIBER_NAME)).toHaveLength(2);
    expect(await clientIds(admin, 'tiercache-bus-pub')).toHaveLength(2);
    await a.bus.close();
    await b.bus.close();
    await a.bus.close(); // idempotent
    await waitFor('every bus connection to be gone', async () => {
      return (
        (await clientIds(admin, BUS_SUBSCRIBER_NAME)).length === 0 &&
        (await clientIds(admin, 'tiercache-bus-pub')).length === 0
      );
    });
    expect(a.bus.health().status).toBe('down');
    await server.stop();
  });

  it('an own publisher fails fast while Redis is down instead of queueing', async () => {
    const server = await startRedisServer();
    const own = bus({ url: server.url });
    const listener = new Recorder();
    await own.start(uniqueNamespace('bus-down'), 'x', listener);
    await own.publish({ origin: 'x', op: 'delete', keys: ['k'] });
    server.signal('SIGKILL');
    await waitFor('the bus to see its link drop', () => own.health().status === 'down');
    // Publish throughout 1.5 s of reconnect backoff (several attempts at its 500 ms cap):
    // every attempt must reject at once. (With ioredis' offline queue a publish would wait
    // for the next retry to flush it, which grows as the backoff does.)
    const windowEnd = Date.now() + 1_500;
    const slowest: number[] = [];
    while (Date.now() < windowEnd) {
      const started = Date.now();
      await expect(own.publish({ origin: 'x', op: 'delete', keys: ['k'] })).rejects.toThrow();
      slowest.push(Date.now() - started);
      // Let the reconnect attempts' timers and sockets run between publishes.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(Math.max(...slowest), `publish rejection times: ${slowest.join(', ')} ms`).toBeLessThan(150);
    await own.close();
    await server.stop();
  });

  it('close() leaves a given client open', async () => {
    const given = client();
    const b = bus({ client: given });
    await b.start(uniqueNamespace('bus-given'), 'x', new Recorder());
    await b.close();
    expect(await given.ping()).toBe('PONG');
    await expect(b.publish({ origin: 'x', op: 'delete', keys: ['k'] })).rejects.toThrow(/after close/);
  });

  it('CLIENT KILL of the subscriber: resync on the drop and again once resubscribed', async () => {
    const admin = client();
    const namespace = uniqueNamespace('bus-kill');
    const a = { bus: bus({ client: client() }), listener: new Recorder() };
    const subscriberName = `tiercache-bus-sub-${namespace}`;
    const b = { bus: bus({ client: client(), subscriberName }), listener: new Recorder() };
    await a.bus.start(namespace, 'instance-a', a.listener);
    await b.bus.start(namespace, 'instance-b', b.listener);
    const ids = await clientIds(admin, subscriberName);
    expect(ids).toHaveLength(1);
    await admin.client('KILL', 'ID', ids[0] as string);
    await waitFor('B to resync twice (drop, then resubscribed)', () => b.listener.resyncs.length >= 2);
    expect(b.bus.health().status).toBe('up');
    expect(b.listener.links).toEqual([false, true]);
    expect(a.listener.resyncs).toEqual([]);
    // The subscription is really back: a message sent now reaches B.
    await a.bus.publish({ origin: 'instance-a', op: 'delete', keys: ['after-kill'] });
    await waitFor('B to receive after reconnecting', () => b.listener.messages.length === 1);
    expect(b.listener.messages[0]?.keys).toEqual(['after-kill']);
    expect(b.bus.stats().resyncs).toBe(b.listener.resyncs.length);
    // Reconnected under the same name.
    expect(await clientIds(admin, subscriberName)).toHaveLength(1);
  });

  it('SIGSTOP of the server: down and resync within 1 s with no socket error, up and resync after SIGCONT', async () => {
    const server = await startRedisServer();
    const { a, b } = await pair(() => ({ client: client(server.url) }));
    try {
      const stoppedAt = Date.now();
      server.signal('SIGSTOP');
      await waitFor("B's status to turn down", () => b.bus.health().status === 'down', 3_000);
      const detectedMs = Date.now() - stoppedAt;
      expect(b.listener.resyncs.length).toBeGreaterThanOrEqual(1);
      const firstResyncMs = (b.listener.resyncs[0] as number) - stoppedAt;
      expect(detectedMs, 'detection time').toBeLessThan(1_000);
      expect(firstResyncMs, 'first resync').toBeLessThan(1_000);
      expect(b.bus.health().lastError).toBeDefined();
      const resyncsWhileDown = b.listener.resyncs.length;
      expect(b.listener.links).toEqual([false]);

      server.signal('SIGCONT');
      await waitFor("B's status to come back up", () => b.bus.health().status === 'up', 10_000);
      expect(b.listener.resyncs.length).toBeGreaterThan(resyncsWhileDown);
      expect(b.listener.links).toEqual([false, true]);
      await waitFor("A's status to come back up", () => a.bus.health().status === 'up', 10_000);
      await a.bus.publish({ origin: 'instance-a', op: 'set', keys: ['after-stop'] });
      await waitFor('B to receive after SIGCONT', () =>
        b.listener.messages.some((m) => m.keys[0] === 'after-stop'),
      );
    } finally {
      server.signal('SIGCONT');
      await server.stop();
    }
  });

  it('start() rejects when Redis is absent, then subscribes (and resyncs) once it appears', async () => {
    const port = await freePort();
    const listener = new Recorder();
    const late = bus({ url: `redis://127.0.0.1:${port}`, startTimeoutMs: 300 });
    await expect(late.start(uniqueNamespace('bus-late'), 'late', listener)).rejects.toThrow(/within 300 ms/);
    expect(late.health().status).toBe('down');
    expect(listener.links).toEqual([false]);
    const server = await startRedisServer(port);
    await waitFor('the late bus to come up', () => late.health().status === 'up', 10_000);
    expect(listener.resyncs.length).toBe(1);
    expect(listener.links).toEqual([false, true]);
    await late.close();
    await server.stop();
  });

  it('validates its options with InvalidOptionError naming the option', () => {
    const raw = client();
    const cases: Array<[unknown, string]> = [
      [{}, 'client'],
      [{ url, client: raw }, 'client'],
      [{ url: 'tcp://x' }, 'url'],
      [{ client: 'x' }, 'client'],
      [{ client: raw, heartbeatMs: -1 }, 'heartbeatMs'],
      [{ client: raw, heartbeatMs: Number.POSITIVE_INFINITY }, 'heartbeatMs'],
      [{ client: raw, heartbeatTimeoutMs: 0 }, 'heartbeatTimeoutMs'],
      [{ client: raw, startTimeoutMs: '1s' }, 'startTimeoutMs'],
      [{ client: raw, subscriberName: 'has space' }, 'subscriberName'],
      [{ client: raw, subscriberName: '' }, 'subscriberName'],
      [undefined, 'redisBus options'],
    ];
    expectOptionErrors(redisBus, cases);
    expect(() => redisBus({ client: raw, heartbeatMs: 0 })).not.toThrow();
  });

  it('publish before start rejects with a clear error', async () => {
    await expect(bus({ client: client() }).publish({ origin: 'x', op: 'delete', keys: [] })).rejects.toThrow(
      /before start/,
    );
  });
});
