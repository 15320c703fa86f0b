import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { msgpackCodec } from '../../../src/entry/codec.js';
import { CodecError, InvalidOptionError } from '../../../src/errors.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

// The default codec refuses what it would not read back as itself, so L1 (the value)
// and L2/L3 (its bytes) never return different shapes for one value; classes round-trip
// through registered extensions.

class Money {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}
  format(): string {
    return `${this.amount} ${this.currency}`;
  }
}

describe('the default codec refuses values that would not read back as themselves', () => {
  const codec = msgpackCodec();
  it.each([
    ['a function', { fn: () => 1 }, /a function at value\.fn/],
    ['a symbol', { list: [1, Symbol('s')] }, /a symbol at value\.list\[1\]/],
    [
      'a class instance',
      { owner: { wallet: new Money(1, 'EUR') } },
      /an instance of Money at value\.owner\.wallet/,
    ],
    ['a URL', new URL('https://example.com'), /an instance of URL at value/],
    ['a boxed primitive', { b: Object(true) }, /an instance of Boolean at value\.b/],
    ['an Error subclass', new (class AppError extends Error {})('x'), /an instance of AppError/],
    ['a function in a Map', new Map([['k', () => 0]]), /a function at value\.get\(k\)/],
  ])('%s', (_name, value, message) => {
    expect(() => codec.encode(value)).toThrow(TypeError);
    expect(() => codec.encode(value)).toThrow(message);
  });

  it('stores what it reads back as itself: plain data, built-ins, cycles, a 100,000-deep object', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const values = [
      { s: 'x', n: 1.5, b: true, u: undefined, nil: null, big: 10n ** 30n },
      [
        new Date(0),
        /re/g,
        new Map([[1, new Set(['a'])]]),
        new Uint8Array([1]),
        new ArrayBuffer(2),
        new TypeError('t'),
      ],
      Object.assign(Object.create(null), { k: 1 }),
    ];
    for (const value of values) expect(() => codec.encode(value)).not.toThrow();
    const back = codec.decode(codec.encode(cyclic)) as Record<string, unknown>;
    expect(back.self).toBe(back);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { next: deep };
    // Checked without overflowing the stack; msgpackr's own depth limit, if any, is a
    // CodecError at the cache (see encode-first.test.ts), never a crash.
    expect(() => msgpackCodec().encode({ ok: deep, bad: () => 0 })).toThrow(/a function at value\.bad/);
  });

  it('accepts any JSON-like value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(() => codec.encode(value)).not.toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it('finds a refused part planted anywhere in a plain tree, and names its path (property)', () => {
    // Plain trees are checked by a quick walk first: it must never pass what the full
    // walk refuses, however deep, wide or shared the tree.
    const refused = fc.constantFrom<[unknown, RegExp]>(
      [() => 0, /a function/],
      [Symbol('s'), /a symbol/],
      [new Money(1, 'EUR'), /an instance of Money/],
      [new Map([['k', () => 0]]), /a function/],
    );
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6 }),
        fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.nat({ max: 3 })), { maxLength: 8 }),
        refused,
        fc.boolean(),
        (tree, steps, [bad, message], shared) => {
          const root: { tree: unknown } = { tree };
          // Walk `steps` down the tree, making containers where the tree has none.
          let parent: Record<string | number, unknown> = root as Record<string, unknown>;
          let edge: string | number = 'tree';
          const path = ['value.tree'];
          for (const step of steps) {
            let child: unknown = parent[edge];
            if (child === null || typeof child !== 'object') {
              child = typeof step === 'number' ? [] : {};
              parent[edge] = child;
            }
            parent = child as Record<string | number, unknown>;
            edge = Array.isArray(child) ? (typeof step === 'number' ? step : 0) : String(step);
            path.push(Array.isArray(child) ? `[${edge}]` : `.${edge}`);
          }
          parent[edge] = bad;
          // A subtree reached twice (not a cycle) is still a tree to the codec.
          const value = shared ? { a: root, b: root } : root;
          const rest = path.join('').slice('value'.length);
          const paths = shared ? [`value.a${rest}`, `value.b${rest}`] : [`value${rest}`];
          expect(() => codec.encode(value)).toThrow(message);
          if (bad instanceof Map) return;
          const thrown = (() => {
            try {
              codec.encode(value);
            } catch (error) {
              return (error as Error).message;
            }
          })();
          expect(paths.some((at) => thrown?.includes(` at ${at} `))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('extensions: a registered class round-trips as itself', () => {
  it('through msgpackCodec({ extensions }), in L1 and in the stores alike', async () => {
    const codec = msgpackCodec({
      extensions: [
        {
          Class: Money,
          type: 42,
          write: (m: Money) => [m.amount, m.currency],
          read: ([a, c]) => new Money(a, c),
        },
      ],
    });
    const store = new MemoryStore('store');
    const writer = new TieredCache<unknown>({ namespace: 'ext', codec, stores: [store] });
    const reader = new TieredCache<unknown>({ namespace: 'ext', codec, l1: false, stores: [store] });
    try {
      await writer.set('m', { price: new Money(3, 'EUR') });
      const fromL1 = writer.getLocal('m') as { price: Money };
      const fromStore = (await reader.get('m')) as { price: Money };
      expect(fromL1.price).toBeInstanceOf(Money);
      expect(fromStore.price).toBeInstanceOf(Money);
      expect(fromStore.price.format()).toBe('3 EUR');
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('a class without an extension is a CodecError naming the key; no tier changes', async () => {
    const store = new MemoryStore('store');
    const cache = new TieredCache<unknown>({ namespace: 'noext', stores: [store] });
    try {
      const error = await cache.set('m', new Money(1, 'USD')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CodecError);
      expect((error as Error).message).toMatch(/"m".*an instance of Money/s);
      expect(cache.getLocal('m')).toBeUndefined();
      expect(store.entry('noext:m')).toBeUndefined();
    } finally {
      await cache.close();
    }
  });

  it('validates extensions, naming the option', () => {
    const ok = { Class: Money, type: 7, write: () => 0, read: () => new Money(0, '') };
    expect(() => msgpackCodec({ extensions: [{ ...ok, type: 0 }] })).toThrow(/extensions\[0\]\.type/);
    expect(() => msgpackCodec({ extensions: [{ ...ok, type: 101 }] })).toThrow(/extensions\[0\]\.type/);
    expect(() => msgpackCodec({ extensions: [{ ...ok, Class: 'Money' as never }] })).toThrow(
      /extensions\[0\]\.Class/,
    );
    expect(() => msgpackCodec({ extensions: [{ ...ok, read: undefined as never }] })).toThrow(
      InvalidOptionError,
    );
    expect(() => msgpackCodec({ extensions: [{ ...ok, tpye: 1 } as never] })).toThrow(/tpye/);
    expect(() => msgpackCodec({ extension: [] } as never)).toThrow(/extension/);
  });
});
