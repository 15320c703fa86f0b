/**
 * What the default codec can store and read back as the same shape, checked before a
 * value is encoded: msgpackr itself turns a function into `undefined`, a class instance
 * into a plain object, and a URL into a string, so L1 (which holds the value itself)
 * and L2/L3 (which hold its bytes) would return different things for one value.
 */

/** Built-ins the default codec reads back as themselves. */
const LEAF_TYPES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [
  Date,
  RegExp,
  ArrayBuffer,
  Error,
];
const ERROR_PROTOTYPES = new Set<unknown>(
  [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map((E) => E.prototype),
);

/**
 * Throws a TypeError naming the first part of `value` the default codec cannot read
 * back as itself (a function, a symbol, an instance of a class not in `classes`), with
 * its path (`value.items[2].owner`). Cycles are allowed (the codec keeps them).
 * Iterative: an object nested 100,000 deep is walked, not a stack overflow.
 */
export function checkStorable(
  value: unknown,
  classes: ReadonlySet<abstract new (...args: never[]) => unknown>,
): void {
  const seen = new Set<object>();
  const stack: Array<{ value: unknown; path: () => string }> = [{ value, path: () => 'value' }];
  while (stack.length > 0) {
    const { value: at, path } = stack.pop() as (typeof stack)[number];
    const type = typeof at;
    if (type === 'function' || type === 'symbol') throw unstorable(`a ${type}`, path());
    if (type !== 'object' || at === null || seen.has(at as object)) continue;
    const object = at as object;
    seen.add(object);
    const proto = Object.getPrototypeOf(object);
    if (proto === Object.prototype || proto === null) {
      for (const key of Object.keys(object)) {
        stack.push({ value: (object as Record<string, unknown>)[key], path: () => `${path()}.${key}` });
      }
      continue;
    }
    if (Array.isArray(object)) {
      object.forEach((item, i) => {
        stack.push({ value: item, path: () => `${path()}[${i}]` });
      });
      continue;
    }
    if (object instanceof Map) {
      for (const [key, item] of object) {
        stack.push({ value: key, path: () => `${path()} (a Map key)` });
        stack.push({ value: item, path: () => `${path()}.get(${String(key)})` });
      }
      continue;
    }
    if (object instanceof Set) {
      for (const item of object) stack.push({ value: item, path: () => `${path()} (a Set member)` });
      continue;
    }
    if (ArrayBuffer.isView(object) || isLeaf(object, proto, classes)) continue;
    const name = (proto?.constructor as { name?: string } | undefined)?.name || 'an unknown class';
    throw unstorable(`an instance of ${name}`, path());
  }
}

function isLeaf(
  object: object,
  proto: unknown,
  classes: ReadonlySet<abstract new (...args: never[]) => unknown>,
): boolean {
  if (object instanceof Error) return ERROR_PROTOTYPES.has(proto);
  for (const type of LEAF_TYPES) if (object instanceof type) return proto === type.prototype;
  for (const type of classes) if (object instanceof type) return true;
  return false;
}

function unstorable(what: string, path: string): TypeError {
  return new TypeError(
    `${what} at ${path} cannot be stored: it would read back from Redis or Postgres as something else ` +
      '(register its class with msgpackCodec({ extensions }) or pass a codec of your own)',
  );
}
