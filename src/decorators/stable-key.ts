import { createHash } from 'node:crypto';
import { describe, MAX_KEY_LENGTH, TierCacheError } from '../errors.js';

/**
 * An argument of a `@Cached` method cannot be turned into a cache key: a function, a
 * symbol, a class instance, a cyclic object, or an object with symbol keys. Thrown
 * (as a rejection of the decorated call) instead of building a key that would be
 * silently wrong. Pass a `key` option to build the key yourself.
 */
export class UncacheableArgumentError extends TierCacheError {
  static override readonly code: string = 'E_UNCACHEABLE_ARGUMENT';
  /** The decorated method, as `ClassName.method`. */
  readonly method: string;
  /** The index of the offending argument. */
  readonly index: number;
  /** Where in the argument the offending value sits, for example `args[1].filter.sort`. */
  readonly path: string;
  /** The value that could not be serialized. */
  readonly received: unknown;
  constructor(method: string, index: number, path: string, reason: string, received: unknown) {
    super(
      `Cannot build a cache key for ${method}(): argument ${index} is not serializable: ${path} is ${reason}. ` +
        'Arguments may be primitives, plain objects, arrays, Date, Map, Set or Uint8Array; ' +
        'pass a `key` option to build the key yourself.',
    );
    this.method = method;
    this.index = index;
    this.path = path;
    this.received = received;
  }
}

/** Internal: where serialization failed, turned into an UncacheableArgumentError by the caller. */
class Unserializable {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly value: unknown,
  ) {}
}

/**
 * Serializes a value to a string that is the same for equal values and different for
 * different ones:
 *
 * - object key order does not matter (keys are sorted); array order does;
 * - `undefined` and `null` differ (`undefined`, `null`), as do `1`, `1n` and `"1"`;
 *   `NaN`, `Infinity` and `-Infinity` are written as such; `-0` is written as `0`;
 * - `Date` becomes `Date("<ISO>")` (or `Date(NaN)` when invalid), `Map` and `Set` list
 *   their entries sorted by their serialized form, `Uint8Array` (and `Buffer`) become
 *   `Bytes(<hex>)`.
 *
 * Strings are JSON-quoted, so no two distinct values collide.
 *
 * @throws UncacheableArgumentError (with `method` `'<value>'` and index 0) for functions,
 *   symbols, class instances, cyclic objects and objects with enumerable symbol keys.
 * @example
 * stableStringify({ b: 1, a: [new Date(0), undefined] }); // '{"a":[Date("1970-01-01T00:00:00.000Z"),undefined],"b":1}'
 */
export function stableStringify(value: unknown): string {
  try {
    return write(value, 'value', []);
  } catch (error) {
    if (error instanceof Unserializable) {
      throw new UncacheableArgumentError('<value>', 0, error.path, error.reason, error.value);
    }
    throw error;
  }
}

/**
 * The default cache key of a decorated method: `ClassName.method:` followed by the
 * stable serialization of the argument list. Keys longer than {@link MAX_KEY_LENGTH}
 * become `ClassName.method:#<sha256 of the serialization>`, so large arguments still
 * make a valid key.
 *
 * @param method `ClassName.method`, used as the key's prefix and in error messages.
 * @throws UncacheableArgumentError naming the method and the argument's index.
 * @example
 * methodKey('ProductRepository.findById', [42]); // 'ProductRepository.findById:[42]'
 */
export function methodKey(method: string, args: readonly unknown[]): string {
  let serialized = '[';
  for (let i = 0; i < args.length; i++) {
    if (i > 0) serialized += ',';
    try {
      serialized += write(args[i], `args[${i}]`, []);
    } catch (error) {
      if (error instanceof Unserializable) {
        throw new UncacheableArgumentError(method, i, error.path, error.reason, error.value);
      }
      throw error;
    }
  }
  serialized += ']';
  const key = `${method}:${serialized}`;
  if (key.length <= MAX_KEY_LENGTH) return key;
  // The cache rejects keys over MAX_KEY_LENGTH; a digest keeps large arguments cacheable,
  // and the method prefix keeps keys of different methods apart.
  return `${method}:#${createHash('sha256').update(serialized).digest('base64url')}`;
}

function write(value: unknown, path: string, ancestors: object[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // String() writes NaN and ±Infinity unquoted, so they stay apart from strings; -0 prints as 0.
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'undefined';
    case 'function':
      throw new Unserializable(path, `a function (${value.name || 'anonymous'})`, value);
    case 'symbol':
      throw new Unserializable(path, `a symbol (${String(value)})`, value);
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.includes(object)) throw new Unserializable(path, 'a reference to itself (a cycle)', value);
  if (object instanceof Date) {
    const time = object.getTime();
    return Number.isNaN(time) ? 'Date(NaN)' : `Date(${JSON.stringify(object.toISOString())})`;
  }
  if (object instanceof Uint8Array)
    return `Bytes(${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('hex')})`;
  ancestors.push(object);
  const out = writeContainer(object, path, ancestors);
  ancestors.pop();
  return out;
}

/** An array, Map, Set or plain object, its members written in a stable order. */
function writeContainer(object: object, path: string, ancestors: object[]): string {
  if (Array.isArray(object)) {
    let out = '[';
    for (let i = 0; i < object.length; i++) {
      if (i > 0) out += ',';
      out += write(object[i], `${path}[${i}]`, ancestors);
    }
    return `${out}]`;
  }
  if (object instanceof Map) {
    const entries: string[] = [];
    for (const [k, v] of object) {
      const ks = write(k, `${path}.<map key>`, ancestors);
      entries.push(`${ks}=>${write(v, `${path}.get(${ks})`, ancestors)}`);
    }
    return `Map{${entries.sort().join(',')}}`;
  }
  if (object instanceof Set) {
    const items: string[] = [];
    for (const item of object) items.push(write(item, `${path}.<set item>`, ancestors));
    return `Set{${items.sort().join(',')}}`;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    throw new Unserializable(
      path,
      `${name ? `an instance of ${name}` : describe(object)} (not a plain object)`,
      object,
    );
  }
  for (const symbol of Object.getOwnPropertySymbols(object)) {
    if (Object.prototype.propertyIsEnumerable.call(object, symbol)) {
      throw new Unserializable(path, `an object with a symbol key (${String(symbol)})`, object);
    }
  }
  const keys = Object.keys(object).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) out += ',';
    out += `${JSON.stringify(key)}:${write((object as Record<string, unknown>)[key], `${path}.${key}`, ancestors)}`;
  }
  return `${out}}`;
}
