import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import {
  CacheClosedError,
  InvalidKeyError,
  InvalidOptionError,
  MAX_KEY_LENGTH,
} from '../../../src/errors.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

const clock = new FakeClock();

function construct(extra: Record<string, unknown>): () => TieredCache {
  return () => new TieredCache({ namespace: 'opts', clock, ...extra } as unknown as TieredCacheOptions);
}

function optionError(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('expected an InvalidOptionError, nothing was thrown');
}

/** The text an error message uses for a received value. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

describe('constructor options', () => {
  it('accepts a full valid set, with durations as strings', () => {
    const cache = new TieredCache({
      namespace: 'ok',
      l1: { max: 10, maxSize: 100, sizeCalculation: () => 1 },
      stores: [new ByteStore('a', clock), new ByteStore('b', clock)],
      ttl: '5m',
      jitter: 0,
      grace: '1h',
      failSafe: { throttle: '10s' },
      timeouts: { soft: '50ms', hard: '2s' },
      maxConcurrentLoads: 4,
      negativeCaching: false,
      tags: ['t'],
      guard: { timeout: 30, failureThreshold: 2, cooldown: '1s' },
      strict: true,
      onError: () => {},
      clock,
      random: () => 0,
    });
    expect(cache).toBeInstanceOf(TieredCache);
  });

  it('parses duration strings: ttl 5m, grace 1h', async () => {
    const store = new ByteStore('s', clock);
    const cache = new TieredCache({
      namespace: 'dur',
      clock,
      random: () => 0.9,
      jitter: 0,
      ttl: '5m',
      grace: '1h',
      stores: [store],
    });
    await cache.set('k', 1);
    const entry = store.entry('dur:k');
    expect(entry?.staleAt).toBe(clock.now() + 300_000);
    expect(entry?.expiresAt).toBe(clock.now() + 300_000 + 3_600_000);
  });

  it.each([
    ['ttl', -1],
    ['ttl', Number.NaN],
    ['ttl', Number.POSITIVE_INFINITY],
    ['ttl', 'abc'],
    ['ttl', 0],
    ['ttl', '5 min'],
    ['grace', -5],
    ['grace', 'soon'],
    ['jitter', 1],
    ['jitter', -0.1],
    ['jitter', Number.NaN],
    ['jitter', '0.1'],
    ['negativeCaching', 'yes'],
    ['strict', 1],
    ['maxConcurrentLoads', 0],
    ['maxConcurrentLoads', 1.5],
    ['maxConcurrentLoads', -3],
    ['maxQueuedLoads', -1],
    ['maxQueuedLoads', 2.5],
    ['random', 0.5],
    ['onError', 'log'],
    ['failSafe', 'on'],
    ['tags', 'a'],
    ['tags', ['']],
    ['namespace', ''],
    ['namespace', 'has space'],
    ['namespace', 42],
    ['l1', 10],
    ['clock', Date],
    ['stores', 'redis'],
    ['timeouts', 5],
    ['guard', 5],
  ])('rejects %s = %j with InvalidOptionError naming it and the value', (option, value) => {
    const error = optionError(construct({ [option]: value }));
    expect(error.option).toBe(option);
    expect(error.received).toBe(value);
    expect(error.message).toContain(`\`${option}\``);
    if (typeof value !== 'object' && typeof value !== 'function')
      expect(error.message).toContain(shown(value));
  });

  it.each([
    ['l1.max', { l1: { max: 0 } }, 0],
    ['l1.max', { l1: { max: -1 } }, -1],
    ['l1.max', { l1: { max: 1.5 } }, 1.5],
    ['l1.max', { l1: {} }, undefined],
    ['l1.max', { l1: { max: 2 ** 23 + 1, admission: 'w-tinylfu' } }, 2 ** 23 + 1],
    ['l1.max', { l1: { max: 1e12, admission: 'w-tinylfu' } }, 1e12],
    ['l1.maxSize', { l1: { max: 5, maxSize: 0, sizeCalculation: () => 1 } }, 0],
    ['l1.sizeCalculation', { l1: { max: 5, maxSize: 10 } }, undefined],
    ['l1.sizeCalculation', { l1: { max: 5, sizeCalculation: 3 } }, 3],
    ['timeouts.soft', { timeouts: { soft: -1 } }, -1],
    ['timeouts.hard', { timeouts: { hard: 'never' } }, 'never'],
    ['timeouts.hard', { timeouts: { hard: 0 } }, 0],
    ['timeouts.soft', { timeouts: { soft: 100, hard: 100 } }, 100],
    ['timeouts.soft', { timeouts: { soft: '2s', hard: '1s' } }, 2000],
    ['failSafe.throttle', { failSafe: { throttle: 'x' } }, 'x'],
    ['guard.timeout', { guard: { timeout: 0 } }, 0],
    ['guard.failureThreshold', { guard: { failureThreshold: 0 } }, 0],
    ['guard.cooldown', { guard: { cooldown: Number.NaN } }, Number.NaN],
  ])('rejects nested %s with InvalidOptionError naming it', (option, extra, value) => {
    const error = optionError(construct(extra));
    expect(error.option).toBe(option);
    expect(error.received).toBe(value);
    expect(error.message).toContain(option);
    if (typeof value !== 'object') expect(error.message).toContain(shown(value));
  });

  it.each([
    ['ttl5', { ttl5: 3 }],
    ['l1.maxx', { l1: { max: 1, maxx: 2 } }],
    ['timeouts.sofft', { timeouts: { sofft: 2 } }],
    ['guard.retries', { guard: { retries: 2 } }],
    ['failSafe.throttel', { failSafe: { throttel: 2 } }],
  ])('rejects the unknown option %s, naming it and the known ones', (option, extra) => {
    const error = optionError(construct(extra));
    expect(error.option).toBe(option);
    expect(error.message).toContain(option);
    expect(error.message).toContain('known options');
  });

  it('requires a namespace', () => {
    const error = optionError(() => new TieredCache({ clock } as unknown as TieredCacheOptions));
    expect(error.option).toBe('namespace');
    expect(error.message).toContain('undefined');
  });

  it('rejects a non-object', () => {
    expect(optionError(() => new TieredCache(null as unknown as TieredCacheOptions)).option).toBe('options');
  });

  it('rejects stores with duplicate names, and a store named l1', () => {
    const dup = optionError(construct({ stores: [new ByteStore('x', clock), new ByteStore('x', clock)] }));
    expect(dup.option).toBe('stores[1].name');
    expect(dup.message).toContain('"x"');
    const l1 = optionError(construct({ stores: [new ByteStore('l1', clock)] }));
    expect(l1.option).toBe('stores[0].name');
  });

  it('rejects a store that lacks a method', () => {
    const bad = { name: 'half', get: async () => undefined };
    const error = optionError(construct({ stores: [bad] }));
    expect(error.option).toBe('stores[0]');
  });

  it('accepts maxConcurrentLoads Infinity and a durations of 0 where 0 means off', () => {
    expect(
      construct({ maxConcurrentLoads: Number.POSITIVE_INFINITY, grace: 0, timeouts: { soft: 0 } })(),
    ).toBeInstanceOf(TieredCache);
  });
});

describe('per-call options', () => {
  it('are validated on the call and reject (not throw) with InvalidOptionError', async () => {
    const cache = new TieredCache<number>({ namespace: 'percall', clock, random: () => 0 });
    const loader = async () => 1;
    const calls = [
      () => cache.getOrSet('k', loader, { ttl: -1 }),
      () => cache.getOrSet('k', loader, { jitter: 2 }),
      () => cache.getOrSet('k', loader, { nope: 1 } as never),
      () => cache.set('k', 1, { ttl: 'abc' }),
      () => cache.setMany([{ key: 'k', value: 1, options: { grace: -1 } }]),
      () => cache.getOrSetMany(['k'], async () => [1], { timeouts: { soft: 10, hard: 5 } }),
      () => cache.getOrSet('k', 'not a function' as never),
    ];
    for (const call of calls) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = call();
      }).not.toThrow();
      await expect(result).rejects.toBeInstanceOf(InvalidOptionError);
    }
    const ttl = await cache.getOrSet('k', loader, { ttl: NaN }).catch((e: InvalidOptionError) => e);
    expect((ttl as InvalidOptionError).option).toBe('ttl');
    expect((ttl as InvalidOptionError).message).toContain('NaN');
    // Nothing was written by the rejected calls.
    expect(cache.getLocal('k')).toBeUndefined();
  });

  it('wrap validates its options at wrap time', () => {
    const cache = new TieredCache<number>({ namespace: 'wrapopts', clock });
    expect(() => cache.wrap(async () => 1, { key: () => 'k', ttl: 'forever' })).toThrow(InvalidOptionError);
    expect(() => cache.wrap(async () => 1, {} as never)).toThrow(InvalidOptionError);
  });
});

describe('keys', () => {
  const cache = new TieredCache<number>({ namespace: 'keys', clock, stores: [new ByteStore('s', clock)] });
  const bad: unknown[] = [
    '',
    42,
    null,
    undefined,
    { k: 1 },
    'x'.repeat(MAX_KEY_LENGTH + 1),
    'a\u0000b',
    'lone\ud800',
  ];

  it.each(bad.map((key) => [key]))(
    'rejects key %j with InvalidKeyError from every async method',
    async (key) => {
      const k = key as string;
      const calls: Array<() => Promise<unknown>> = [
        () => cache.get(k),
        () => cache.has(k),
        () => cache.set(k, 1),
        () => cache.delete(k),
        () => cache.getOrSet(k, async () => 1),
        () => cache.getMany([k]),
        () => cache.setMany([{ key: k, value: 1 }]),
        () => cache.deleteMany([k]),
        () => cache.getOrSetMany([k], async () => [1]),
      ];
      for (const call of calls) {
        let result: Promise<unknown> | undefined;
        expect(() => {
          result = call();
        }).not.toThrow();
        const error = await (result as Promise<unknown>).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidKeyError);
        expect((error as InvalidKeyError).key).toBe(key);
      }
    },
  );

  it('accepts a key of exactly MAX_KEY_LENGTH', async () => {
    const key = 'k'.repeat(MAX_KEY_LENGTH);
    await cache.set(key, 7);
    expect(await cache.get(key)).toBe(7);
  });

  it('rejects non-array key lists with InvalidOptionError', async () => {
    await expect(cache.getMany('k' as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(cache.deleteMany('k' as never)).rejects.toBeInstanceOf(InvalidOptionError);
  });
});

describe('after close()', () => {
  it('every async method rejects with CacheClosedError', async () => {
    const store = new ByteStore('s', clock);
    const cache = new TieredCache<number>({ namespace: 'closed', clock, stores: [store] });
    await cache.set('a', 1);
    await cache.close();
    expect(store.closed).toBe(true);
    const calls: Array<() => Promise<unknown>> = [
      () => cache.get('a'),
      () => cache.has('a'),
      () => cache.set('a', 2),
      () => cache.delete('a'),
      () => cache.clear(),
      () => cache.getOrSet('a', async () => 3),
      () => cache.getMany(['a']),
      () => cache.setMany([{ key: 'a', value: 1 }]),
      () => cache.deleteMany(['a']),
      () => cache.getOrSetMany(['a'], async () => [1]),
      () => cache.wrap(async () => 1, { key: () => 'a' })(),
      () => cache.namespace('v').get('a'),
    ];
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(CacheClosedError);
    // close() is idempotent.
    await expect(cache.close()).resolves.toBeUndefined();
  });
});
