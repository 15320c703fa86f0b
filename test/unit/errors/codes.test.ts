import { describe, expect, it } from 'vitest';
import { InvalidDecoratorTargetError } from '../../../src/decorators/decorators.js';
import { UncacheableArgumentError } from '../../../src/decorators/stable-key.js';
import {
  BulkheadFullError,
  BusUnavailableError,
  CacheClosedError,
  CodecError,
  InvalidKeyError,
  InvalidOptionError,
  LoaderTimeoutError,
  StoreDataError,
  StoreUnavailableError,
  TierCacheError,
} from '../../../src/errors.js';

// Codes are part of the public contract: logs and alerts match on them across versions,
// so they are pinned here, value by value.
type ErrorClass = { readonly code: string; readonly name: string } & (abstract new (
  ...args: never[]
) => TierCacheError);

const CASES: Array<[ErrorClass, TierCacheError, string]> = [
  [TierCacheError, new TierCacheError('x'), 'E_TIERCACHE'],
  [InvalidOptionError, new InvalidOptionError('ttl', 'a duration', -1), 'E_INVALID_OPTION'],
  [InvalidKeyError, new InvalidKeyError('', 'empty'), 'E_INVALID_KEY'],
  [LoaderTimeoutError, new LoaderTimeoutError('k', 10), 'E_LOADER_TIMEOUT'],
  [CacheClosedError, new CacheClosedError('get'), 'E_CACHE_CLOSED'],
  [StoreUnavailableError, new StoreUnavailableError('redis', 'down'), 'E_STORE_UNAVAILABLE'],
  [StoreDataError, new StoreDataError('redis', 'ns:k', 'WRONGTYPE'), 'E_STORE_DATA'],
  [BulkheadFullError, new BulkheadFullError('k', 1), 'E_BULKHEAD_FULL'],
  [CodecError, new CodecError('bad bytes'), 'E_CODEC'],
  [BusUnavailableError, new BusUnavailableError('redis', 'down'), 'E_BUS_UNAVAILABLE'],
  [
    InvalidDecoratorTargetError,
    new InvalidDecoratorTargetError('@Cached', 'name', 'a getter'),
    'E_INVALID_DECORATOR_TARGET',
  ],
  [
    UncacheableArgumentError,
    new UncacheableArgumentError('find', 0, 'args[0]', 'a function', () => 0),
    'E_UNCACHEABLE_ARGUMENT',
  ],
];

describe('error codes', () => {
  it.each(CASES)('%o carries its stable code on the class and on each error', (cls, error, code) => {
    expect(cls.code).toBe(code);
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(TierCacheError);
    expect(error).toBeInstanceOf(cls);
    expect(error.name).toBe(cls.name);
  });

  it('gives every class its own code', () => {
    const codes = CASES.map(([cls]) => cls.code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
