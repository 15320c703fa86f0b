import { afterEach, describe, expect, it } from 'vitest';
import type { CacheEvents, CacheLogger } from '../../../src/index.js';
import { InvalidOptionError, LoaderTimeoutError, TieredCache } from '../../../src/index.js';
import { ChaosStore, FakeClock, MemoryStore } from '../../../src/testing/index.js';

const caches: TieredCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close({ timeout: 0 })));
});

function make(options: Partial<ConstructorParameters<typeof TieredCache>[0]> = {}): TieredCache {
  const cache = new TieredCache({ namespace: 'ev', ...options });
  caches.push(cache);
  return cache;
}

/** Every event of `names` in order, as `[name, payload]`. */
function record<E extends keyof CacheEvents>(cache: TieredCache, names: E[]): Array<[E, CacheEvents[E]]> {
  const seen: Array<[E, CacheEvents[E]]> = [];
  for (const name of names) cache.on(name, (payload) => seen.push([name, payload]));
  return seen;
}

/** A logger that keeps its lines. */
function memoryLogger(): CacheLogger & { lines: Array<[string, object, string | undefined]> } {
  const lines: Array<[string, object, string | undefined]> = [];
  const at = (level: string) => (object: object, message?: string) => lines.push([level, object, message]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('typed events', () => {
  it('a miss through a store, the load, then an L1 hit', async () => {
    const cache = make({ stores: [new MemoryStore('l2')] });
    const seen = record(cache, ['hit', 'miss', 'load', 'set']);
    await cache.getOrSet('a', () => 1);
    await cache.getOrSet('a', () => 2);
    await cache.set('b', 2);
    expect(seen.map(([name, p]) => [name, 'tier' in p ? p.tier : undefined, 'key' in p ? p.key : p])).toEqual(
      [
        ['miss', 'l1', 'a'],
        ['miss', 'l2', 'a'],
        ['load', undefined, 'a'],
        ['hit', 'l1', 'a'],
        ['set', undefined, { keys: ['b'] }],
      ],
    );
  });

  it('loadError says whether it was a timeout', async () => {
    const cache = make({ timeouts: { hard: 5 } });
    const seen = record(cache, ['loadError']);
    await expect(cache.getOrSet('x', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(cache.getOrSet('y', () => new Promise(() => {}))).rejects.toBeInstanceOf(LoaderTimeoutError);
    expect(seen.map(([, p]) => [p.key, p.timeout])).toEqual([
      ['x', false],
      ['y', true],
    ]);
  });

  it('a throwing handler is caught and reported; the call goes on, other handlers still run', async () => {
    const errors: Error[] = [];
    const cache = make({ onError: (e) => errors.push(e) });
    let second = 0;
    cache.on('load', () => {
      throw new Error('handler bug');
    });
    cache.on('load', () => second++);
    const onErrorEvents = record(cache, ['error']);
    await expect(cache.getOrSet('k', () => 'v')).resolves.toBe('v');
    expect(second).toBe(1);
    expect(errors.map((e) => e.message)).toEqual(['handler bug']);
    // Never to the `error` event: a throwing `error` handler cannot loop.
    expect(onErrorEvents).toEqual([]);
  });

  it('off() removes the handler; unknown events and non-functions are refused', async () => {
    const cache = make();
    let hits = 0;
    const off = cache.on('hit', () => hits++);
    await cache.set('k', 1);
    await cache.getOrSet('k', () => 2);
    off();
    off();
    await cache.getOrSet('k', () => 2);
    expect(hits).toBe(1);
    expect(() => cache.on('hits' as 'hit', () => {})).toThrow(InvalidOptionError);
    expect(() => cache.on('hit', 'x' as unknown as () => void)).toThrow(InvalidOptionError);
  });

  it('breaker changes and store failures as events', async () => {
    const l2 = new ChaosStore(new MemoryStore('l2'));
    const cache = make({ stores: [l2], guard: { failureThreshold: 2, cooldown: '1h' } });
    const seen: string[] = [];
    cache.on('breaker', (p) => seen.push(`${p.store} ${p.previous}->${p.state}`));
    cache.on('error', (p) => seen.push(`error ${p.source}`));
    l2.fail(['get']);
    await cache.get('a');
    await cache.get('b');
    await cache.get('c');
    expect(seen).toEqual([
      'error l2',
      // The second failure opens the breaker before it is reported.
      'l2 closed->open',
      'error l2',
      'error l2',
    ]);
  });
});

describe('logger', () => {
  it('logs a store failure once per change, its recovery once, and the breaker changes', async () => {
    const l2 = new ChaosStore(new MemoryStore('l2'));
    const logger = memoryLogger();
    const clock = new FakeClock();
    const cache = make({ stores: [l2], logger, clock, guard: { failureThreshold: 3, cooldown: '1s' } });
    await cache.get('warm');
    l2.fail();
    for (let i = 0; i < 5; i++) await cache.get(`k${i}`);
    l2.heal();
    clock.advance(1_000);
    await cache.get('ok');
    l2.fail();
    await cache.get('again');
    expect(
      logger.lines.map(([level, , message]) => `${level} ${message?.replace(/^tiercache ev: /, '')}`),
    ).toEqual([
      expect.stringMatching(/^warn l2 failing: Store "l2" is unavailable: chaos/),
      'warn breaker of l2 closed -> open',
      'info breaker of l2 open -> half-open',
      'info l2 recovered',
      'info breaker of l2 half-open -> closed',
      expect.stringMatching(/^warn l2 failing/),
    ]);
    expect(logger.lines[0]?.[1]).toMatchObject({ source: 'l2', namespace: 'ev' });
  });

  it('is validated: an object with debug, info, warn and error', () => {
    expect(() => new TieredCache({ namespace: 'x', logger: {} as CacheLogger })).toThrow(/logger/);
  });
});

describe('process.emitWarning when there is neither a logger nor onError', () => {
  it('warns once per store per change', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if (w.name === 'TierCacheWarning' && w.message.startsWith('tiercache ev-warn:')) warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const l2 = new ChaosStore(new MemoryStore('l2'));
      const cache = make({ namespace: 'ev-warn', stores: [l2] });
      await cache.get('warm');
      l2.fail();
      for (let i = 0; i < 4; i++) await cache.get(`k${i}`);
      l2.heal();
      await cache.get('ok');
      l2.fail();
      await cache.get('again');
      // 'warning' events are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.message)).toEqual([
        'tiercache ev-warn: l2 failing: Store "l2" is unavailable: chaos: get failed on command',
        'tiercache ev-warn: l2 failing: Store "l2" is unavailable: chaos: get failed on command',
      ]);
      expect((warnings[0] as Error & { code?: string }).code).toBe('E_STORE_UNAVAILABLE');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
