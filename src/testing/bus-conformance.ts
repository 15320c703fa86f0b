import { afterEach, describe, expect, it } from 'vitest';
import type { BusListener, BusMessage, BusOp, InvalidationBus } from '../bus/bus.js';
import { TierCacheError } from '../errors.js';
import { pollUntil } from './poll.js';
import { nextVersion } from './versions.js';

/** What a bus conformance factory returns: one fresh bus, not started, and how to tidy up after it. */
export interface BusUnderTest {
  readonly bus: InvalidationBus;
  /** Runs after the bus is closed: stop a server, close a client or pool you passed in. */
  readonly cleanup?: () => Promise<void>;
}

/**
 * Makes a fresh, unstarted bus for the conformance suite. Every bus it makes must reach
 * the others (same server, same hub): the suite starts several per test.
 */
export type BusFactory = () => Promise<BusUnderTest> | BusUnderTest;

/** Options of {@link registerBusConformanceSuite}. */
export interface BusSuiteOptions {
  /** How long the suite waits for a message to arrive before failing, in ms. Default 10 000. */
  readonly deliveryTimeoutMs?: number;
}

/** One bus of a test, started, with what its listener heard. */
interface Started {
  readonly bus: InvalidationBus;
  readonly heard: Recorder;
}

/** What a test gets from the suite: fresh buses and namespaces, closed and cleaned up after it. */
interface SuiteContext {
  /** A bus from the factory, not started. */
  open(): Promise<InvalidationBus>;
  /** A bus from the factory, started on `namespace` as instance `id` with a recording listener. */
  started(namespace: string, id: string): Promise<Started>;
  /** A namespace of the test's own. */
  namespace(): string;
  /** Waits until `check` holds, failing with `what` after the delivery timeout. */
  until(what: string, check: () => boolean): Promise<void>;
}

/**
 * Registers the bus conformance suite with vitest (an optional peer: install it to use
 * this entry). Every {@link InvalidationBus} passes it: Redis pub/sub, Postgres
 * LISTEN/NOTIFY, the in-memory `MemoryBus`, and any bus of your own. The factory is
 * called for every bus a test starts (up to four per test); each test uses namespaces
 * of its own (`bconf-<random>`), so a server shared with other suites is fine, and it
 * closes every bus it made (then runs its `cleanup`) when it ends. Nothing sleeps:
 * deliveries are awaited with a bounded poll.
 *
 * Covers: delivery to the other instances on a namespace and not back to the origin;
 * namespace isolation (also from a namespace extending another); `set`, `delete` and
 * `clear` with keys of every kind (unicode, `:`, quotes, empty, 1,024 characters) and a
 * batch of 5,000 long keys, exactly and in order, however the bus splits them into
 * messages; `start()` resolving with the link `up` and no resync; a throwing listener
 * not stopping delivery; `close()` idempotent, reporting `down` and stopping delivery;
 * `TierCacheError` rejections for a second `start()`, `start()` after `close()`, and
 * `publish()` before `start()` or after `close()`; `versions` delivered aligned with the
 * keys (one per key; a `clear`'s one version on every message it arrives as), also for
 * a batch large enough to be split, and no `versions` on a message sent without them.
 *
 * Not covered, because the built-in buses differ and each is right for its transport:
 * `health()` before `start()`, and how many messages a large batch arrives as.
 *
 * @example
 * ```ts
 * import { registerBusConformanceSuite } from 'tiercache/testing';
 * registerBusConformanceSuite('my bus', async () => {
 *   const bus = myBus({ url: process.env.MY_URL });
 *   return { bus, cleanup: async () => {} };
 * });
 * ```
 */
export function registerBusConformanceSuite(
  name: string,
  factory: BusFactory,
  options: BusSuiteOptions = {},
): void {
  const timeoutMs = options.deliveryTimeoutMs ?? 10_000;
  describe(`InvalidationBus conformance: ${name}`, () => {
    const made: BusUnderTest[] = [];
    const context: SuiteContext = {
      async open() {
        const subject = await factory();
        made.push(subject);
        return subject.bus;
      },
      async started(namespace, id) {
        const bus = await context.open();
        const heard = new Recorder();
        await bus.start(namespace, id, heard);
        return { bus, heard };
      },
      namespace: () => `bconf-${Math.random().toString(36).slice(2, 10)}`,
      until: (what, check) => pollUntil(`${what} (bus ${name})`, timeoutMs, check),
    };

    afterEach(async () => {
      for (const subject of made.splice(0)) {
        await subject.bus.close();
        await subject.cleanup?.();
      }
    });

    registerDeliveryTests(context);
    registerRoundTripTests(context, timeoutMs);
    registerVersionTests(context, timeoutMs);
    registerLifecycleTests(context);
  });
}

/** Who hears what: the origin, the namespace, a throwing listener. */
function registerDeliveryTests(ctx: SuiteContext): void {
  it('start() resolves with the link up, calling neither onResync nor onLinkChange', async () => {
    const { bus, heard } = await ctx.started(ctx.namespace(), 'a');
    expect(typeof bus.name, 'bus.name').toBe('string');
    expect(bus.name.length, 'bus.name length').toBeGreaterThan(0);
    expect(bus.health().status).toBe('up');
    expect(heard.resyncs, 'onResync calls').toBe(0);
    expect(heard.links, 'onLinkChange calls').toEqual([]);
  });

  it('a message reaches the other instance on the namespace, and not its own origin', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['k1'] });
    await ctx.until("b to receive a's message", () => b.heard.keys().length >= 1);
    expect(b.heard.messages).toEqual([{ origin: 'a', op: 'delete', keys: ['k1'] }]);
    expect(typeof b.bus.health().lastMessageAt, "b's health().lastMessageAt").toBe('number');
    // b's reply travels after a's own message: once a hears it, a's own would have come first.
    await b.bus.publish({ origin: 'b', op: 'set', keys: ['reply'] });
    await ctx.until("a to receive b's reply", () => a.heard.keys().length >= 1);
    expect(a.heard.messages).toEqual([{ origin: 'b', op: 'set', keys: ['reply'] }]);
  });

  it('namespaces are isolated, also from a namespace that extends another', async () => {
    const ns = ctx.namespace();
    const inNs = await ctx.started(ns, 'in-ns');
    const other = await ctx.started(`${ns}:sub`, 'other');
    const sender = await ctx.started(ns, 'sender');
    const marker = await ctx.started(`${ns}:sub`, 'marker');
    await sender.bus.publish({ origin: 'sender', op: 'delete', keys: ['only-ns'] });
    await ctx.until('the instance on the namespace to receive', () => inNs.heard.keys().length >= 1);
    await marker.bus.publish({ origin: 'marker', op: 'delete', keys: ['only-sub'] });
    await ctx.until('the instance on the other namespace to receive', () => other.heard.keys().length >= 1);
    expect(other.heard.keys()).toEqual(['only-sub']);
    expect(inNs.heard.keys()).toEqual(['only-ns']);
  });

  it('a listener that throws does not stop later deliveries', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    b.heard.throwOnMessage = true;
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['first'] });
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['second'] });
    await ctx.until('b to receive both messages', () => b.heard.keys().length >= 2);
    expect(b.heard.keys()).toEqual(['first', 'second']);
    expect(b.bus.health().status).toBe('up');
  });
}

/** Every op, every kind of key, and a batch large enough to be split. */
function registerRoundTripTests(ctx: SuiteContext, timeoutMs: number): void {
  it('set, delete and clear carry their keys exactly and in order', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    const sent: Array<[BusOp, string[]]> = [
      ['set', ODD_KEYS],
      ['delete', [...ODD_KEYS].reverse()],
      ['clear', ['']],
      ['clear', ['user:']],
    ];
    for (const [op, keys] of sent) await a.bus.publish({ origin: 'a', op, keys });
    const expected = sent.flatMap(([op, keys]) => keys.map((key) => `${op} ${key}`));
    await ctx.until('b to receive every key', () => b.heard.opKeys().length >= expected.length);
    expect(b.heard.opKeys()).toEqual(expected);
    expect(b.heard.messages.every((message) => message.origin === 'a')).toBe(true);
  });

  it('a batch of 5,000 long keys arrives whole and in order', { timeout: timeoutMs * 3 }, async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    const keys = Array.from({ length: 5_000 }, (_, i) => `${i}:${'k'.repeat(150)}:ключ:"q"\\`);
    await a.bus.publish({ origin: 'a', op: 'delete', keys });
    await ctx.until('b to receive 5,000 keys', () => b.heard.keys().length >= keys.length);
    expect(b.heard.keys()).toEqual(keys);
    expect(b.heard.messages.every((m) => m.origin === 'a' && m.op === 'delete')).toBe(true);
  });
}

/** Versions travel with their keys, however a bus splits a message; none when none were sent. */
function registerVersionTests(ctx: SuiteContext, timeoutMs: number): void {
  it('versions arrive aligned with their keys for set and delete, and a clear keeps its one version', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    const setVersions = ODD_KEYS.map(() => nextVersion());
    const deleteVersions = ODD_KEYS.map(() => nextVersion());
    const clearVersion = nextVersion();
    await a.bus.publish({ origin: 'a', op: 'set', keys: ODD_KEYS, versions: setVersions });
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ODD_KEYS, versions: deleteVersions });
    await a.bus.publish({ origin: 'a', op: 'clear', keys: ['user:'], versions: [clearVersion] });
    await ctx.until('b to receive every key', () => b.heard.keys().length >= 2 * ODD_KEYS.length + 1);
    const byOp = (op: BusOp) => b.heard.messages.filter((message) => message.op === op);
    for (const message of b.heard.messages) {
      expect(message.versions, `versions of a ${message.op} message`).toHaveLength(message.keys.length);
    }
    expect(byOp('set').flatMap((message) => message.versions)).toEqual(setVersions);
    expect(byOp('delete').flatMap((message) => message.versions)).toEqual(deleteVersions);
    expect(byOp('clear')).toEqual([{ origin: 'a', op: 'clear', keys: ['user:'], versions: [clearVersion] }]);
  });

  it('versions of a batch of 5,000 long keys stay aligned however it is split', {
    timeout: timeoutMs * 3,
  }, async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    const keys = Array.from({ length: 5_000 }, (_, i) => `${i}:${'v'.repeat(150)}:ключ:"q"\\`);
    const versions = keys.map(() => nextVersion());
    await a.bus.publish({ origin: 'a', op: 'set', keys, versions });
    await ctx.until('b to receive 5,000 keys', () => b.heard.keys().length >= keys.length);
    for (const message of b.heard.messages) expect(message.versions).toHaveLength(message.keys.length);
    expect(b.heard.keys()).toEqual(keys);
    expect(b.heard.messages.flatMap((message) => message.versions)).toEqual(versions);
  });

  it('the partial and external flags arrive as sent, and only where sent', async () => {
    // `partial` (a write that missed a store) makes receivers refuse older store entries
    // of its keys: a bus that drops it lets them serve data the write replaced.
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    const version = nextVersion();
    await a.bus.publish({ origin: 'a', op: 'set', keys: ['missed'], versions: [version], partial: true });
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['row:1'], external: true });
    await a.bus.publish({ origin: 'a', op: 'set', keys: ['whole'], versions: [version] });
    await ctx.until('b to receive the three messages', () => b.heard.keys().length >= 3);
    expect(b.heard.messages).toEqual([
      { origin: 'a', op: 'set', keys: ['missed'], versions: [version], partial: true },
      { origin: 'a', op: 'delete', keys: ['row:1'], external: true },
      { origin: 'a', op: 'set', keys: ['whole'], versions: [version] },
    ]);
  });

  it('a message without versions arrives without them', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['plain'] });
    await a.bus.publish({ origin: 'a', op: 'clear', keys: [''] });
    await ctx.until('b to receive both messages', () => b.heard.keys().length >= 2);
    for (const message of b.heard.messages)
      expect(message.versions, `${message.op} versions`).toBeUndefined();
    expect(b.heard.opKeys()).toEqual(['delete plain', 'clear ']);
  });
}

/** start(), publish() and close() in the wrong order or twice. */
function registerLifecycleTests(ctx: SuiteContext): void {
  it('close() is idempotent, reports the link down and stops delivery', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const closed = await ctx.started(ns, 'closed');
    const open = await ctx.started(ns, 'open');
    await closed.bus.close();
    await closed.bus.close();
    expect(closed.bus.health().status).toBe('down');
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['after-close'] });
    await ctx.until('the open instance to receive', () => open.heard.keys().length >= 1);
    expect(closed.heard.messages, 'messages delivered after close()').toEqual([]);
  });

  it('publish() after close() rejects with a TierCacheError', async () => {
    const { bus } = await ctx.started(ctx.namespace(), 'a');
    await bus.close();
    await expect(bus.publish({ origin: 'a', op: 'delete', keys: ['k'] })).rejects.toBeInstanceOf(
      TierCacheError,
    );
  });

  it('a second start() rejects with a TierCacheError, and the first subscription goes on', async () => {
    const ns = ctx.namespace();
    const a = await ctx.started(ns, 'a');
    const b = await ctx.started(ns, 'b');
    await expect(b.bus.start(ns, 'b2', new Recorder())).rejects.toBeInstanceOf(TierCacheError);
    await a.bus.publish({ origin: 'a', op: 'delete', keys: ['still-heard'] });
    await ctx.until('b to receive after the refused start()', () => b.heard.keys().length >= 1);
    expect(b.heard.keys()).toEqual(['still-heard']);
  });

  it('start() after close() and publish() before start() reject with a TierCacheError', async () => {
    const closed = await ctx.open();
    await closed.close();
    await expect(closed.start(ctx.namespace(), 'a', new Recorder())).rejects.toBeInstanceOf(TierCacheError);
    const unstarted = await ctx.open();
    await expect(unstarted.publish({ origin: 'a', op: 'delete', keys: ['k'] })).rejects.toBeInstanceOf(
      TierCacheError,
    );
  });
}

/** Keys a bus must carry untouched: separators, quotes, escapes, unicode, empty, and 1,024 characters. */
const ODD_KEYS = [
  'user:1',
  'a:b:c:',
  ':leading',
  'with space',
  `quote'"\``,
  'back\\slash',
  'ünïcødé ✓ ключ 键',
  'emoji 🙂',
  'nul\u0000byte',
  'line\nbreak',
  '',
  'x'.repeat(1024),
  'é'.repeat(1024),
  '\u0001'.repeat(1024),
];

/** A listener that records what it hears; it can be told to throw after recording. */
class Recorder implements BusListener {
  readonly messages: BusMessage[] = [];
  resyncs = 0;
  readonly links: boolean[] = [];
  throwOnMessage = false;

  onMessage(message: BusMessage): void {
    const { origin, op, keys, versions, external, partial } = message;
    // Each optional field only when delivered: a message sent without it must arrive without it.
    this.messages.push({
      origin,
      op,
      keys: [...keys],
      ...(versions !== undefined ? { versions: [...versions] } : {}),
      ...(external !== undefined ? { external } : {}),
      ...(partial !== undefined ? { partial } : {}),
    });
    if (this.throwOnMessage) throw new Error('conformance listener throws on purpose');
  }

  onResync(): void {
    this.resyncs++;
  }

  onLinkChange(up: boolean): void {
    this.links.push(up);
  }

  /** Every key heard, in order, across messages (a bus may split one publish into several). */
  keys(): string[] {
    return this.messages.flatMap((message) => message.keys);
  }

  /** Every key heard as `<op> <key>`. */
  opKeys(): string[] {
    return this.messages.flatMap((message) => message.keys.map((key) => `${message.op} ${key}`));
  }
}
