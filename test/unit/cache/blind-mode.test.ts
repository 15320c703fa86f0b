import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { type MemoryBus, MemoryBusHub } from '../../../src/testing/memory-bus.js';

// Blind mode, on a fake clock: while the bus link is down, L1 serves each entry as fresh
// for at most `l1.blindMaxAge` after it was last known current, loads once per key per
// bound, lets grace and fail-safe serve what went stale, and is dropped when the link is
// back. (On real servers: test/integration/multi-instance/blind-mode.test.ts.)

const caches: TieredCache<unknown>[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close({ timeout: 0 })));
});

function setup(blindMaxAge = 1_000) {
  const clock = new FakeClock(1_000_000);
  const hub = new MemoryBusHub();
  const source = new Map<string, string>();
  let loads = 0;
  const load = (key: string) => () => {
    loads++;
    const value = source.get(key);
    if (value === undefined) throw new Error(`source: ${key} unavailable`);
    return value;
  };
  const make = () => {
    const bus = hub.bus();
    const cache = new TieredCache<unknown>({
      namespace: 'blind',
      clock,
      bus,
      ttl: '10m',
      l1: { max: 100, blindMaxAge },
    });
    caches.push(cache);
    return { cache, bus };
  };
  const writer = make();
  const reader = make();
  return {
    clock,
    source,
    load,
    loads: () => loads,
    writer: writer.cache,
    reader: reader.cache,
    bus: reader.bus,
  };
}

async function goBlind(bus: MemoryBus, since: number): Promise<void> {
  bus.setLink(false, since);
}

describe('blind mode', () => {
  it('serves an L1 entry for at most blindMaxAge after the link was last known good, then reloads it once per bound', async () => {
    const { clock, source, load, loads, writer, reader, bus } = setup();
    await Promise.all([writer.ready(), reader.ready()]);
    source.set('k', 'v1');
    expect(await reader.getOrSet('k', load('k'))).toBe('v1');
    expect(loads()).toBe(1);

    const since = clock.now() - 200;
    await goBlind(bus, since);
    expect(reader.health().l1.status).toBe('degraded');
    // Changed at the source; the writer's invalidation is lost to the blind reader.
    source.set('k', 'v2');
    await writer.delete('k');
    expect(reader.getLocal('k')).toBe('v1');
    expect(await reader.getOrSet('k', load('k'))).toBe('v1');

    clock.advance(799);
    expect(await reader.getOrSet('k', load('k'))).toBe('v1');
    expect(loads()).toBe(1);
    // The bound: nothing older is served; 100 concurrent readers share one load.
    clock.advance(1);
    expect(reader.getLocal('k')).toBeUndefined();
    const values = await Promise.all(Array.from({ length: 100 }, () => reader.getOrSet('k', load('k'))));
    expect(new Set(values)).toEqual(new Set(['v2']));
    expect(loads()).toBe(2);
    // The reloaded entry is current from the moment it was put in L1, for one bound.
    clock.advance(999);
    expect(await reader.getOrSet('k', load('k'))).toBe('v2');
    expect(loads()).toBe(2);
    clock.advance(1);
    expect(await reader.getOrSet('k', load('k'))).toBe('v2');
    expect(loads()).toBe(3);
  });

  it('lets grace and fail-safe serve an entry past the bound, as any stale entry', async () => {
    const { clock, source, load, loads, reader, bus } = setup();
    await reader.ready();
    source.set('g', 'g1');
    source.set('f', 'f1');
    await reader.getOrSet('g', load('g'), { grace: '1h' });
    await reader.getOrSet('f', load('f'), { grace: '1h', failSafe: true });
    await goBlind(bus, clock.now());
    clock.advance(1_000);
    source.set('g', 'g2');
    source.delete('f');
    // Grace: the stale value at once, one refresh behind it.
    expect(await reader.getOrSet('g', load('g'), { grace: '1h' })).toBe('g1');
    await waitForValue(reader, 'g', 'g2');
    // Fail-safe: the source fails, the stale value is served.
    expect(await reader.getOrSet('f', load('f'), { grace: '1h', failSafe: true })).toBe('f1');
    expect(loads()).toBe(4);
  });

  it('drops L1 when the link is back: it may have missed invalidations', async () => {
    const { clock, source, load, reader, bus } = setup();
    await reader.ready();
    source.set('k', 'v1');
    await reader.getOrSet('k', load('k'));
    await goBlind(bus, clock.now());
    expect(reader.getLocal('k')).toBe('v1');
    bus.setLink(true);
    expect(reader.getLocal('k')).toBeUndefined();
    expect(reader.health().l1.status).toBe('up');
    // And L1 is itself again: entries live their TTL.
    await reader.getOrSet('k', load('k'));
    clock.advance(60_000);
    expect(reader.getLocal('k')).toBe('v1');
  });

  it('a bus that cannot say since when it lost messages gets the strictest reading: nothing old is fresh', async () => {
    const { clock, source, load, loads, reader, bus } = setup();
    await reader.ready();
    source.set('k', 'v1');
    await reader.getOrSet('k', load('k'));
    bus.setLink(false);
    // (A load's version is the millisecond it starts: a reload in the same millisecond is the same write.)
    clock.advance(1);
    expect(reader.getLocal('k')).toBeUndefined();
    expect(await reader.getOrSet('k', load('k'))).toBe('v1');
    expect(loads()).toBe(2);
    // What it loads while blind is fresh for one bound.
    clock.advance(500);
    expect(reader.getLocal('k')).toBe('v1');
  });

  it('blindMaxAge 0: nothing in L1 is fresh while the link is down; a bad value is an InvalidOptionError', async () => {
    const { clock, source, load, loads, reader, bus } = setup(0);
    await reader.ready();
    source.set('k', 'v1');
    await reader.getOrSet('k', load('k'));
    await goBlind(bus, clock.now());
    expect(reader.getLocal('k')).toBeUndefined();
    clock.advance(1);
    await reader.getOrSet('k', load('k'));
    clock.advance(1);
    await reader.getOrSet('k', load('k'));
    expect(loads()).toBe(3);
    expect(() => new TieredCache({ namespace: 'x', l1: { max: 1, blindMaxAge: -1 } })).toThrow(
      /l1\.blindMaxAge/,
    );
    expect(() => new TieredCache({ namespace: 'x', l1: { max: 1, blindMaxAge: 'soon' } })).toThrow(
      /l1\.blindMaxAge/,
    );
  });
});

/** Waits (bounded, microtask turns only: the fake clock does not move) for the background refresh to land. */
async function waitForValue(cache: TieredCache<unknown>, key: string, value: unknown): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (cache.getLocal(key) === value) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${key} never became ${String(value)}`);
}
