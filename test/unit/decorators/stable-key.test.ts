import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { methodKey, stableStringify, UncacheableArgumentError } from '../../../src/decorators/stable-key.js';
import { MAX_KEY_LENGTH, TierCacheError } from '../../../src/errors.js';

// A small domain, so that random pairs are often equal and collisions would show.
const leaf = fc.oneof(
  fc.constantFrom(0, 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.constantFrom('', '0', '1', 'a', '"', ',', 'null', 'undefined', '1n', 'Date(NaN)'),
  fc.constantFrom(0n, 1n, -1n),
  fc.constantFrom(true, false, null, undefined),
  fc.constantFrom(0, 1, Number.NaN).map((t) => new Date(t)),
  fc.constantFrom([], [0], [1, 2]).map((bytes) => Uint8Array.from(bytes)),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('array'),
    tie('object'),
    tie('map'),
    tie('set'),
  ),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom('a', 'b', 'c', '0', 'a b', '"'), tie('value'), {
    maxKeys: 3,
    noNullPrototype: true,
  }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
}));

/** The same value with every object's keys and every Map's and Set's insertion order reversed. */
function reordered(input: unknown): unknown {
  if (Array.isArray(input)) return input.map(reordered);
  if (input instanceof Map)
    return new Map([...input].reverse().map(([k, v]) => [reordered(k), reordered(v)]));
  if (input instanceof Set) return new Set([...input].reverse().map(reordered));
  if (input !== null && typeof input === 'object' && Object.getPrototypeOf(input) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(input)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    );
  }
  return input;
}

// Two invalid Dates behave alike, and serialize alike; isDeepStrictEqual calls them different.
const INVALID_DATE = Symbol('invalid date');
function normalizeInvalidDates(input: unknown): unknown {
  if (input instanceof Date) return Number.isNaN(input.getTime()) ? INVALID_DATE : input;
  if (Array.isArray(input)) return input.map(normalizeInvalidDates);
  if (input instanceof Map) {
    return new Map([...input].map(([k, v]) => [normalizeInvalidDates(k), normalizeInvalidDates(v)]));
  }
  if (input instanceof Set) return new Set([...input].map(normalizeInvalidDates));
  if (input !== null && typeof input === 'object' && Object.getPrototypeOf(input) === Object.prototype) {
    return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, normalizeInvalidDates(v)]));
  }
  return input;
}

describe('stableStringify', () => {
  it('ignores object key order and Map/Set insertion order', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(stableStringify(reordered(v))).toBe(stableStringify(v));
      }),
    );
  });

  it('gives equal strings only to deeply equal values (no collisions)', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        if (stableStringify(a) === stableStringify(b)) {
          expect(isDeepStrictEqual(normalizeInvalidDates(a), normalizeInvalidDates(b))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('tells apart values that JSON.stringify confuses', () => {
    const distinct = [
      undefined,
      null,
      1,
      '1',
      1n,
      Number.NaN,
      'NaN',
      [undefined],
      [null],
      [],
      {},
      { a: undefined },
      { a: null },
      new Date(0),
      new Date(0).toISOString(),
      new Map(),
      new Set(),
      new Map([[1, 2]]),
      new Set([1, 2]),
      [[1, 2]],
      Uint8Array.from([1, 2]),
    ];
    const strings = distinct.map(stableStringify);
    expect(new Set(strings).size).toBe(distinct.length);
  });

  it('writes readable, documented forms', () => {
    expect(stableStringify({ b: 1, a: [new Date(0), undefined] })).toBe(
      '{"a":[Date("1970-01-01T00:00:00.000Z"),undefined],"b":1}',
    );
    expect(
      stableStringify(
        new Map([
          ['z', 1n],
          ['a', null],
        ]),
      ),
    ).toBe('Map{"a"=>null,"z"=>1n}');
    expect(stableStringify(new Set([2, 1]))).toBe('Set{1,2}');
    expect(stableStringify(Buffer.from('hi'))).toBe(stableStringify(new Uint8Array([0x68, 0x69])));
    expect(stableStringify(-0)).toBe('0');
  });

  it('accepts shared (acyclic) references and null-prototype objects', () => {
    const shared = { x: 1 };
    const bare = Object.assign(Object.create(null), { k: 'v' });
    expect(stableStringify([shared, shared, bare])).toBe('[{"x":1},{"x":1},{"k":"v"}]');
  });
});

describe('methodKey', () => {
  it('prefixes the method and serializes the argument list', () => {
    expect(methodKey('ProductRepository.findById', [42])).toBe('ProductRepository.findById:[42]');
    expect(methodKey('R.m', [])).toBe('R.m:[]');
    expect(methodKey('R.m', [{ b: 2, a: 1 }, 'x'])).toBe(methodKey('R.m', [{ a: 1, b: 2 }, 'x']));
    expect(methodKey('R.m', [undefined])).not.toBe(methodKey('R.m', [null]));
    expect(methodKey('R.m', [undefined])).not.toBe(methodKey('R.m', []));
  });

  it('hashes arguments that would make a key longer than MAX_KEY_LENGTH, keeping the method prefix', () => {
    const big = 'x'.repeat(MAX_KEY_LENGTH);
    const key = methodKey('R.m', [big]);
    expect(key.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
    expect(key).toMatch(/^R\.m:#[A-Za-z0-9_-]{43}$/);
    expect(methodKey('R.m', [big])).toBe(key);
    expect(methodKey('R.m', [`${big}y`])).not.toBe(key);
    expect(methodKey('R.other', [big])).not.toBe(key);
  });

  it.each([
    ['a function', [1, { onDone: () => {} }], 1, 'args[1].onDone', /a function \(onDone\)/],
    ['a symbol', [Symbol('s')], 0, 'args[0]', /a symbol \(Symbol\(s\)\)/],
    ['a class instance', ['ok', [new (class Money {})()]], 1, 'args[1][0]', /an instance of Money/],
    ['a RegExp', [/x/], 0, 'args[0]', /an instance of RegExp/],
    ['a boxed string', [Object('s')], 0, 'args[0]', /an instance of String/],
    [
      'a Map value that is a function',
      [new Map([['k', Math.max]])],
      0,
      'args[0].get("k")',
      /a function \(max\)/,
    ],
    ['a symbol key', [{ [Symbol('k')]: 1 }], 0, 'args[0]', /symbol key/],
  ])('refuses %s with a typed error naming the method, index and path', (_, args, index, path, reason) => {
    let caught: unknown;
    try {
      methodKey('Repo.find', args);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UncacheableArgumentError);
    expect(caught).toBeInstanceOf(TierCacheError);
    const error = caught as UncacheableArgumentError;
    expect(error.method).toBe('Repo.find');
    expect(error.index).toBe(index);
    expect(error.path).toBe(path);
    expect(error.message).toMatch(reason);
    expect(error.message).toContain(`Repo.find(): argument ${index}`);
    expect(error.message).toContain('`key` option');
  });

  it('refuses cyclic arguments instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = { id: 1 };
    cyclic.self = cyclic;
    expect(() => methodKey('Repo.find', ['a', cyclic])).toThrow(
      expect.objectContaining({ index: 1, path: 'args[1].self', message: expect.stringMatching(/cycle/) }),
    );
    const list: unknown[] = [];
    list.push(list);
    expect(() => methodKey('Repo.find', [list])).toThrow(UncacheableArgumentError);
  });
});
