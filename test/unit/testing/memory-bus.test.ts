import { describe, expect, it } from 'vitest';
import type { BusListener, BusMessage } from '../../../src/bus/bus.js';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { TierCacheError } from '../../../src/errors.js';
import { ChaosBus, MemoryBus, MemoryBusHub } from '../../../src/testing/index.js';
import { waitFor } from '../../support/wait.js';

function recorder() {
  const events: string[] = [];
  const listener: BusListener = {
    onMessage: (message: BusMessage) => events.push(`${message.op} ${message.keys.join(',')}`),
    onResync: () => events.push('resync'),
    onLinkChange: (up) => events.push(up ? 'up' : 'down'),
  };
  return { events, listener };
}

describe('MemoryBus', () => {
  it('delivers a microtask later, never inside publish(), with a copy of the keys', async () => {
    const hub = new MemoryBusHub();
    const a = hub.bus();
    const b = new MemoryBus(hub);
    const rb = recorder();
    await a.start('ns', 'a', recorder().listener);
    await b.start('ns', 'b', rb.listener);
    const keys = ['k1'];
    const sent = a.publish({ origin: 'a', op: 'delete', keys });
    keys.push('changed-after-publish');
    expect(rb.events).toEqual([]);
    await sent;
    await waitFor('b to hear a', () => rb.events.length === 1);
    expect(rb.events).toEqual(['delete k1']);
    expect(hub.buses).toEqual([a, b]);
  });

  it('setLink: resync and link change on each edge, nothing delivered and publish refused while down', async () => {
    const hub = new MemoryBusHub();
    const a = hub.bus();
    const b = hub.bus();
    const rb = recorder();
    await a.start('ns', 'a', recorder().listener);
    await b.start('ns', 'b', rb.listener);
    b.setLink(false);
    b.setLink(false); // no change, no event
    expect(b.health().status).toBe('down');
    await expect(b.publish({ origin: 'b', op: 'delete', keys: ['x'] })).rejects.toBeInstanceOf(
      TierCacheError,
    );
    await a.publish({ origin: 'a', op: 'delete', keys: ['lost'] });
    b.setLink(true);
    await a.publish({ origin: 'a', op: 'delete', keys: ['heard'] });
    await waitFor('b to hear the message after the link came back', () => rb.events.includes('delete heard'));
    expect(rb.events).toEqual(['down', 'resync', 'resync', 'up', 'delete heard']);
  });

  it('hub.setLink takes every bus down and back', async () => {
    const hub = new MemoryBusHub();
    const a = hub.bus();
    const b = hub.bus();
    const [ra, rb] = [recorder(), recorder()];
    await a.start('ns', 'a', ra.listener);
    await b.start('ns', 'b', rb.listener);
    hub.setLink(false);
    hub.setLink(true);
    expect(ra.events).toEqual(['down', 'resync', 'resync', 'up']);
    expect(rb.events).toEqual(['down', 'resync', 'resync', 'up']);
  });

  it('keeps two caches L1 honest', async () => {
    const hub = new MemoryBusHub();
    const a = new TieredCache<string>({ namespace: 'mb', bus: hub.bus(), ttl: '1m' });
    const b = new TieredCache<string>({ namespace: 'mb', bus: hub.bus(), ttl: '1m' });
    try {
      await Promise.all([a.ready(), b.ready()]);
      await b.set('k', 'old');
      await a.set('k', 'new');
      // b has no shared store: once a's invalidation lands, b's L1 copy is gone.
      await waitFor("b's L1 to drop k", async () => (await b.get('k')) === undefined);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('ChaosBus', () => {
  async function pair() {
    const hub = new MemoryBusHub();
    const a = new ChaosBus(hub.bus());
    const b = new ChaosBus(hub.bus());
    const [ra, rb] = [recorder(), recorder()];
    await a.start('ns', 'a', ra.listener);
    await b.start('ns', 'b', rb.listener);
    return { a, b, ra, rb };
  }

  it('fail rejects publishes, drop loses them, heal passes them again', async () => {
    const { a, rb } = await pair();
    a.fail();
    await expect(a.publish({ origin: 'a', op: 'delete', keys: ['failed'] })).rejects.toThrow(/chaos/);
    a.heal();
    a.drop(['publish']);
    await a.publish({ origin: 'a', op: 'delete', keys: ['dropped'] });
    a.heal();
    await a.publish({ origin: 'a', op: 'delete', keys: ['sent'] });
    await waitFor('b to hear the healed publish', () => rb.events.length === 1);
    expect(rb.events).toEqual(['delete sent']);
    expect(a.published.map((m) => m.keys[0])).toEqual(['failed', 'dropped', 'sent']);
  });

  it('hold(deliver) delays one message while later ones overtake it', async () => {
    const { a, b, rb } = await pair();
    const gate = b.hold('deliver');
    await a.publish({ origin: 'a', op: 'delete', keys: ['first'] });
    await gate.entered;
    await a.publish({ origin: 'a', op: 'delete', keys: ['second'] });
    await waitFor('b to hear the second message', () => rb.events.length === 1);
    gate.release();
    await waitFor('b to hear the held message', () => rb.events.length === 2);
    expect(rb.events).toEqual(['delete second', 'delete first']);
  });

  it("hold(publish, 'before') sends on release", async () => {
    const { a, rb } = await pair();
    const gate = a.hold('publish');
    const sent = a.publish({ origin: 'a', op: 'delete', keys: ['late'] });
    await gate.entered;
    expect(rb.events).toEqual([]);
    gate.release();
    await sent;
    await waitFor('b to hear the released publish', () => rb.events.length === 1);
  });

  it('linkDown / linkUp report resync and link changes, and lose deliveries meanwhile', async () => {
    const { a, b, rb } = await pair();
    b.linkDown();
    expect(b.health().status).toBe('down');
    await a.publish({ origin: 'a', op: 'delete', keys: ['lost'] });
    await waitFor('the message to reach the wrapper', () => b.arrived.length === 1);
    b.linkUp();
    expect(b.health().status).toBe('up');
    expect(rb.events).toEqual(['down', 'resync', 'resync', 'up']);
  });
});
