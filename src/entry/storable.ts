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

/** Objects walked before cycles are looked for: a value of a few dozen objects allocates no set. */
const SEEN_AFTER = 256;

/** How a node hangs from its parent, for the path in an error. */
enum Edge {
  Property,
  Index,
  MapKey,
  MapValue,
  SetMember,
}

/**
 * Throws a TypeError naming the first part of `value` the default codec cannot read
 * back as itself (a function, a symbol, an instance of a class not in `classes`), with
 * its path (`value.items[2].owner`). Cycles are allowed (the codec keeps them).
 * Iterative: an object nested 100,000 deep is walked, not a stack overflow.
 *
 * On the write path of every value, so it allocates little: primitives are never
 * pushed, a node is three array slots (its parent and edge, for a path built only when
 * one is thrown), and cycles are looked for only past {@link SEEN_AFTER} objects (a
 * cycle repeats its objects, so it is found then).
 */
export function checkStorable(
  value: unknown,
  classes: ReadonlySet<abstract new (...args: never[]) => unknown>,
): void {
  if (!reference(value)) return;
  visits = 0;
  if (plainTree(value, 0)) return;
  const walk = new StorableWalk(value);
  const { nodes } = walk;
  for (let next = walk.pending.pop(); next !== undefined; next = walk.pending.pop()) {
    const at = nodes[next];
    if (typeof at !== 'object') throw unstorable(`a ${typeof at}`, walk.path(next));
    if (walk.visited(at as object)) continue;
    const object = at as object;
    const proto = Object.getPrototypeOf(object);
    if (proto === Object.prototype || proto === null) {
      for (const key of Object.keys(object)) {
        walk.reach((object as Record<string, unknown>)[key], next, Edge.Property, key);
      }
    } else if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) walk.reach(object[i], next, Edge.Index, i);
    } else if (object instanceof Map) {
      for (const [key, item] of object) {
        walk.reach(key, next, Edge.MapKey, undefined);
        walk.reach(item, next, Edge.MapValue, key);
      }
    } else if (object instanceof Set) {
      for (const item of object) walk.reach(item, next, Edge.SetMember, undefined);
    } else if (!ArrayBuffer.isView(object) && !isLeaf(object, proto, classes)) {
      const name = (proto?.constructor as { name?: string } | undefined)?.name || 'an unknown class';
      throw unstorable(`an instance of ${name}`, walk.path(next));
    }
  }
}

/** Objects the allocation-free walk looks at before it leaves the value to the full walk. */
const QUICK_VISITS = 4_096;
/** How deep the allocation-free walk recurses. */
const QUICK_DEPTH = 64;
let visits = 0;

/**
 * Whether `value` is certainly storable: a tree of plain objects, arrays, primitives and
 * the usual leaves (Date, RegExp, typed arrays, ArrayBuffer), walked recursively without
 * allocating (a value on the write path is usually such a tree). `false` is no verdict:
 * anything else (a Map, a class instance, a function, a cycle or a graph too deep or too
 * large to walk here) goes to the full walk, which also names what it refuses.
 */
function plainTree(value: unknown, depth: number): boolean {
  if (typeof value !== 'object') return !reference(value);
  if (value === null) return true;
  if (++visits > QUICK_VISITS || depth > QUICK_DEPTH) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    // for-in also walks inherited enumerable properties: more values looked at, never fewer.
    for (const key in value) {
      if (!plainTree((value as Record<string, unknown>)[key], depth + 1)) return false;
    }
    return true;
  }
  if (proto === Array.prototype) {
    const array = value as unknown[];
    for (let i = 0; i < array.length; i++) if (!plainTree(array[i], depth + 1)) return false;
    return true;
  }
  return (
    proto === Date.prototype ||
    proto === RegExp.prototype ||
    ArrayBuffer.isView(value) ||
    proto === ArrayBuffer.prototype
  );
}

/** Whether `value` needs a look: an object, or a function or symbol (refused). */
function reference(value: unknown): boolean {
  const type = typeof value;
  return type === 'object' ? value !== null : type === 'function' || type === 'symbol';
}

/** The nodes of one {@link checkStorable} walk: what was reached, from where, and what is left. */
class StorableWalk {
  /** Every object, function or symbol reached, by node number. */
  readonly nodes: unknown[] = [];
  readonly #parents: number[] = [];
  readonly #edges: Edge[] = [];
  readonly #keys: unknown[] = [];
  /** Node numbers still to look at. */
  readonly pending: number[] = [];
  #objects = 0;
  #seen: Set<object> | undefined;

  constructor(root: unknown) {
    this.reach(root, -1, Edge.Property, undefined);
  }

  /** `value` hangs from node `parent`: pushed unless it is a primitive. */
  reach(value: unknown, parent: number, edge: Edge, key: unknown): void {
    if (!reference(value)) return;
    this.pending.push(this.nodes.length);
    this.nodes.push(value);
    this.#parents.push(parent);
    this.#edges.push(edge);
    this.#keys.push(key);
  }

  /** Whether `object` was walked already (known only past {@link SEEN_AFTER} objects). */
  visited(object: object): boolean {
    if (++this.#objects <= SEEN_AFTER) return false;
    this.#seen ??= new Set();
    if (this.#seen.has(object)) return true;
    this.#seen.add(object);
    return false;
  }

  /** Node `at`'s path from the root: `value.items[2].owner`. */
  path(at: number): string {
    const parts: string[] = [];
    for (let node = at; this.#parents[node] !== -1; node = this.#parents[node] as number) {
      const key = this.#keys[node];
      const edge = this.#edges[node];
      parts.push(
        edge === Edge.Property
          ? `.${String(key)}`
          : edge === Edge.Index
            ? `[${String(key)}]`
            : edge === Edge.MapKey
              ? ' (a Map key)'
              : edge === Edge.MapValue
                ? `.get(${String(key)})`
                : ' (a Set member)',
      );
    }
    return `value${parts.reverse().join('')}`;
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
