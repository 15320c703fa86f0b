// Runtime behaviour of @Cached / @CacheEvict / @CachePut against a real L1-only
// TieredCache. Vitest's transform (oxc) does not lower TC39 decorators, so each test
// applies the decorator by hand exactly as the compiled code does, once per protocol;
// test/unit/decorators-fixtures.test.ts runs real tsc output of both kinds.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  Cached,
  CacheEvict,
  CachePut,
  InvalidDecoratorTargetError,
  UncacheableArgumentError,
} from '../../../src/decorators/index.js';
import { InvalidOptionError, TierCacheError, TieredCache } from '../../../src/index.js';

type Protocol = 'standard' | 'legacy';
type Ctor = abstract new (...args: never[]) => unknown;

/** Applies `decorator` to `Class.prototype[name]` (or the static member) as the compiler would. */
function decorate(protocol: Protocol, decorator: unknown, Class: Ctor, name: string, isStatic = false): void {
  const holder = (isStatic ? Class : Class.prototype) as Record<string, unknown>;
  const descriptor = Object.getOwnPropertyDescriptor(holder, name) as PropertyDescriptor;
  const apply = decorator as (...args: unknown[]) => unknown;
  if (protocol === 'standard') {
    const context = {
      kind: 'method',
      name,
      static: isStatic,
      private: false,
      access: { has: () => true, get: (o: Record<string, unknown>) => o[name] },
      addInitializer: () => {},
      metadata: {},
    };
    const replaced = apply(descriptor.value, context);
    Object.defineProperty(holder, name, { ...descriptor, value: replaced ?? descriptor.value });
  } else {
    const replaced = apply(holder, name, descriptor) as PropertyDescriptor | undefined;
    Object.defineProperty(holder, name, replaced ?? descriptor);
  }
}

const caches: TieredCache[] = [];
function newCache(clock?: { now(): number }): TieredCache {
  const cache = new TieredCache({
    namespace: 'dec',
    l1: { max: 1000 },
    jitter: 0,
    ...(clock ? { clock } : {}),
  });
  caches.push(cache);
  return cache;
}
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

interface Product {
  id: number;
  name: string;
}

describe.each<Protocol>(['standard', 'legacy'])('%s decorators', (protocol) => {
  function repoClass(
    cache: TieredCache | ((self: never) => TieredCache),
    options: Record<string, unknown> = {},
  ) {
    class ProductRepository {
      calls: unknown[][] = [];
      rows = new Map<number, Product>([[1, { id: 1, name: 'one' }]]);
      async findById(id: number, _filter?: unknown): Promise<Product | undefined> {
        this.calls.push([id, _filter]);
        await Promise.resolve();
        return this.rows.get(id);
      }
      static count = 0;
      static async total(): Promise<number> {
        ProductRepository.count++;
        return 7;
      }
    }
    decorate(protocol, Cached({ cache: cache as TieredCache, ...options }), ProductRepository, 'findById');
    decorate(protocol, Cached({ cache: cache as TieredCache }), ProductRepository, 'total', true);
    return ProductRepository;
  }

  describe('@Cached', () => {
    it('reads through: one execution per key, `this` and arguments preserved', async () => {
      const cache = newCache();
      const repo = new (repoClass(cache))();
      expect(await repo.findById(1)).toEqual({ id: 1, name: 'one' });
      expect(await repo.findById(1)).toEqual({ id: 1, name: 'one' });
      expect(repo.calls).toEqual([[1, undefined]]);
      expect(await repo.findById(2)).toBeUndefined();
      expect(await repo.findById(2)).toBeUndefined();
      expect(repo.calls).toEqual([
        [1, undefined],
        [2, undefined],
      ]);
    });

    it('builds the default key from the runtime class and the arguments', async () => {
      const cache = newCache();
      const Repo = repoClass(cache);
      const repo = new Repo();
      await repo.findById(1, { b: [1, 2], a: new Date(0) });
      expect(
        await cache.get('ProductRepository.findById:[1,{"a":Date("1970-01-01T00:00:00.000Z"),"b":[1,2]}]'),
      ).toEqual({ id: 1, name: 'one' });
      // Same object with another key order: a hit. Another array order: a miss.
      await repo.findById(1, { a: new Date(0), b: [1, 2] });
      expect(repo.calls).toHaveLength(1);
      await repo.findById(1, { a: new Date(0), b: [2, 1] });
      expect(repo.calls).toHaveLength(2);
      // undefined and null are different arguments.
      await repo.findById(1, null);
      expect(repo.calls).toHaveLength(3);
      expect(await Repo.total()).toBe(7);
      expect(await Repo.total()).toBe(7);
      expect(Repo.count).toBe(1);
      expect(await cache.get('ProductRepository.total:[]')).toBe(7);
    });

    it('keys a subclass by its own name, so subclasses that read different data never share entries', async () => {
      const cache = newCache();
      class Base {
        constructor(readonly table: string) {}
        async find(id: number): Promise<string> {
          return `${this.table}#${id}`;
        }
      }
      decorate(protocol, Cached({ cache }), Base, 'find');
      class Users extends Base {
        constructor() {
          super('users');
        }
      }
      class Orders extends Base {
        constructor() {
          super('orders');
        }
      }
      expect(await new Users().find(1)).toBe('users#1');
      expect(await new Orders().find(1)).toBe('orders#1');
      expect(await cache.get('Users.find:[1]')).toBe('users#1');
    });

    it('shares one execution between concurrent calls', async () => {
      const cache = newCache();
      const repo = new (repoClass(cache))();
      const results = await Promise.all(Array.from({ length: 50 }, () => repo.findById(1)));
      expect(new Set(results.map((r) => r?.name))).toEqual(new Set(['one']));
      expect(repo.calls).toHaveLength(1);
    });

    it('uses a key function called with the arguments and the instance as `this`', async () => {
      const cache = newCache();
      const seen: unknown[] = [];
      const Repo = repoClass(cache, {
        key(this: { rows: unknown }, id: number, filter: unknown) {
          seen.push([this instanceof Object && 'rows' in this, id, filter]);
          return `product:${id}`;
        },
      });
      const repo = new Repo();
      await repo.findById(1, 'x');
      await repo.findById(1, 'y');
      expect(repo.calls).toEqual([[1, 'x']]);
      expect(seen).toEqual([
        [true, 1, 'x'],
        [true, 1, 'y'],
      ]);
      expect(await cache.get('product:1')).toEqual({ id: 1, name: 'one' });
    });

    it('passes entry options to getOrSet (ttl)', async () => {
      let now = 1_000_000;
      const cache = newCache({ now: () => now });
      const repo = new (repoClass(cache, { ttl: '1m' }))();
      await repo.findById(1);
      now += 59_000;
      await repo.findById(1);
      expect(repo.calls).toHaveLength(1);
      now += 2_000;
      await repo.findById(1);
      expect(repo.calls).toHaveLength(2);
    });

    it('resolves a cache function lazily, on each call, with the instance', async () => {
      const cache = newCache();
      const other = newCache();
      let current: TieredCache | undefined;
      const instances: unknown[] = [];
      const Repo = repoClass((self: never) => {
        instances.push(self);
        return current as TieredCache;
      });
      const repo = new Repo();
      current = cache;
      await repo.findById(1);
      current = other;
      await repo.findById(1);
      expect(repo.calls).toHaveLength(2);
      expect(instances).toEqual([repo, repo]);
      current = undefined;
      await expect(repo.findById(1)).rejects.toThrow(InvalidOptionError);
      await expect(repo.findById(1)).rejects.toThrow(/@Cached cache/);
    });

    it('rejects an unserializable argument with a typed error naming the method and index, without running it', async () => {
      const cache = newCache();
      const repo = new (repoClass(cache))();
      const error = await repo.findById(1, { onRow: () => {} }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UncacheableArgumentError);
      expect(error).toBeInstanceOf(TierCacheError);
      expect(error).toMatchObject({ method: 'ProductRepository.findById', index: 1, path: 'args[1].onRow' });
      expect((error as Error).message).toMatch(/ProductRepository\.findById\(\): argument 1/);
      class Money {}
      await expect(repo.findById(1, new Money())).rejects.toThrow(/an instance of Money/);
      expect(repo.calls).toEqual([]);
    });

    it('does not cache a rejection: the next call runs the method again', async () => {
      const cache = newCache();
      let attempt = 0;
      class Flaky {
        async load(): Promise<string> {
          attempt++;
          if (attempt === 1) throw new Error('source down');
          return 'ok';
        }
      }
      decorate(protocol, Cached({ cache }), Flaky, 'load');
      const flaky = new Flaky();
      await expect(flaky.load()).rejects.toThrow('source down');
      expect(await flaky.load()).toBe('ok');
      expect(await flaky.load()).toBe('ok');
      expect(attempt).toBe(2);
    });
  });

  describe('@CacheEvict and @CachePut', () => {
    function writableRepo(cache: TieredCache) {
      class Repo {
        reads = 0;
        names = new Map<number, string>([
          [1, 'one'],
          [2, 'two'],
        ]);
        async read(id: number): Promise<string | undefined> {
          this.reads++;
          return this.names.get(id);
        }
        async rename(id: number, name: string): Promise<void> {
          if (name === '') throw new Error('empty name');
          this.names.set(id, name);
        }
        async renameMany(ids: number[], name: string): Promise<number> {
          for (const id of ids) this.names.set(id, name);
          return ids.length;
        }
        async reset(): Promise<void> {
          this.names.clear();
        }
        async save(id: number, name: string): Promise<string> {
          if (name === '') throw new Error('empty name');
          this.names.set(id, name);
          return name.toUpperCase();
        }
      }
      decorate(protocol, Cached({ cache, key: (id: number) => `name:${id}` }), Repo, 'read');
      decorate(protocol, CacheEvict({ cache, key: (id: number) => `name:${id}` }), Repo, 'rename');
      decorate(
        protocol,
        CacheEvict({ cache, keys: (ids: number[]) => ids.map((id) => `name:${id}`) }),
        Repo,
        'renameMany',
      );
      decorate(protocol, CacheEvict({ cache, allEntries: true }), Repo, 'reset');
      decorate(protocol, CachePut({ cache, key: (id: number) => `name:${id}`, ttl: '1m' }), Repo, 'save');
      return new Repo();
    }

    it('evicts the key after the method succeeds, so the next read loads again', async () => {
      const cache = newCache();
      const repo = writableRepo(cache);
      expect(await repo.read(1)).toBe('one');
      await repo.rename(1, 'uno');
      expect(await cache.get('name:1')).toBeUndefined();
      expect(await repo.read(1)).toBe('uno');
      expect(repo.reads).toBe(2);
    });

    it('never evicts when the method rejects', async () => {
      const cache = newCache();
      const repo = writableRepo(cache);
      await repo.read(1);
      await expect(repo.rename(1, '')).rejects.toThrow('empty name');
      expect(await cache.get('name:1')).toBe('one');
      expect(await repo.read(1)).toBe('one');
      expect(repo.reads).toBe(1);
    });

    it('evicts several keys, or every entry of the cache, and returns the result', async () => {
      const cache = newCache();
      const repo = writableRepo(cache);
      await Promise.all([repo.read(1), repo.read(2)]);
      await cache.set('unrelated', 'x');
      expect(await repo.renameMany([1, 2], 'same')).toBe(2);
      expect(await cache.get('name:1')).toBeUndefined();
      expect(await cache.get('name:2')).toBeUndefined();
      expect(await cache.get('unrelated')).toBe('x');
      await repo.read(1);
      await repo.reset();
      expect(await cache.get('name:1')).toBeUndefined();
      expect(await cache.get('unrelated')).toBeUndefined();
    });

    it('clears only the namespace view it was given with allEntries', async () => {
      const cache = newCache();
      const products = cache.namespace('products');
      class Admin {
        async wipe(): Promise<void> {}
      }
      decorate(protocol, CacheEvict({ cache: products, allEntries: true }), Admin, 'wipe');
      await products.set('p1', 1);
      await cache.set('u1', 2);
      await new Admin().wipe();
      expect(await products.get('p1')).toBeUndefined();
      expect(await cache.get('u1')).toBe(2);
    });

    it('puts the result under the key after success, and writes nothing on failure', async () => {
      const cache = newCache();
      const repo = writableRepo(cache);
      expect(await repo.save(1, 'uno')).toBe('UNO');
      expect(await cache.get('name:1')).toBe('UNO');
      expect(await repo.read(1)).toBe('UNO');
      expect(repo.reads).toBe(0);
      await expect(repo.save(1, '')).rejects.toThrow('empty name');
      expect(await cache.get('name:1')).toBe('UNO');
    });

    it('stacks: an evicting method that is itself cached-by-key keeps working', async () => {
      const cache = newCache();
      class Repo {
        n = 0;
        async bump(): Promise<number> {
          return ++this.n;
        }
      }
      // Inner first, as the compiler applies them bottom-up: @CacheEvict({key:'other'}) @CachePut({key:'n'}).
      decorate(protocol, CachePut({ cache, key: 'n' }), Repo, 'bump');
      decorate(protocol, CacheEvict({ cache, key: 'other' }), Repo, 'bump');
      await cache.set('other', 'x');
      expect(await new Repo().bump()).toBe(1);
      expect(await cache.get('n')).toBe(1);
      expect(await cache.get('other')).toBeUndefined();
    });
    it('stacks over @Cached, whose wrapper returns the cache promise without being an async function', async () => {
      const cache = newCache();
      class Repo {
        loads = 0;
        async touch(id: number): Promise<number> {
          this.loads++;
          return id;
        }
      }
      decorate(protocol, Cached({ cache, key: (id: number) => `t:${id}` }), Repo, 'touch');
      decorate(protocol, CacheEvict({ cache, key: 'other' }), Repo, 'touch');
      const repo = new Repo();
      await cache.set('other', 'x');
      expect(await repo.touch(1)).toBe(1);
      expect(await repo.touch(1)).toBe(1);
      expect(repo.loads).toBe(1);
      expect(await cache.get('other')).toBeUndefined();
    });
  });

  describe('decoration-time errors', () => {
    it('refuses a method that is not declared async', () => {
      const cache = newCache();
      class Repo {
        find(id: number): Promise<number> {
          return Promise.resolve(id);
        }
        sync(): number {
          return 1;
        }
      }
      expect(() => decorate(protocol, Cached({ cache }), Repo, 'find')).toThrow(InvalidDecoratorTargetError);
      expect(() => decorate(protocol, CacheEvict({ cache, allEntries: true }), Repo, 'sync')).toThrow(
        /@CacheEvict can only decorate async methods, but (Repo\.)?sync is not async/,
      );
    });

    it('refuses an async generator', () => {
      const cache = newCache();
      class Repo {
        async *rows(): AsyncGenerator<number> {
          yield 1;
        }
      }
      expect(() => decorate(protocol, Cached({ cache }), Repo, 'rows')).toThrow(/is an async generator/);
    });
  });
});

describe('decoration-time errors specific to a protocol', () => {
  const cache = new TieredCache({ namespace: 'dec-errors', l1: { max: 10 } });
  afterAll(() => cache.close());

  it.each(['getter', 'setter', 'field', 'accessor', 'class'])('standard: refuses a %s', (kind) => {
    const decorator = Cached({ cache }) as unknown as (value: unknown, context: unknown) => unknown;
    expect(() => decorator(undefined, { kind, name: 'price', static: false, private: false })).toThrow(
      new InvalidDecoratorTargetError('@Cached', 'price', `a ${kind}`),
    );
  });

  it('legacy: refuses a getter, a setter and a property', () => {
    const decorator = Cached({ cache }) as unknown as (
      t: unknown,
      k: string,
      d?: PropertyDescriptor,
    ) => unknown;
    class Repo {}
    const proto = Repo.prototype;
    expect(() => decorator(proto, 'price', { get: () => 1, configurable: true })).toThrow(
      /@Cached can only decorate async methods, but Repo\.price is a getter/,
    );
    expect(() => decorator(proto, 'price', { set: () => {}, configurable: true })).toThrow(/is a setter/);
    expect(() => decorator(proto, 'price', undefined)).toThrow(/is a property/);
  });

  it('refuses being applied without options or to a non-member', () => {
    const decorator = Cached({ cache }) as unknown as (...args: unknown[]) => unknown;
    expect(() => decorator(class {})).toThrow(InvalidDecoratorTargetError);
  });

  it('validates options when the decorator is created', () => {
    const bad = (fn: () => unknown) => expect(fn).toThrow(InvalidOptionError);
    bad(() => Cached(undefined as never));
    bad(() => Cached({ cache: undefined as never }));
    bad(() => Cached({ cache: {} as never }));
    bad(() => Cached({ cache, key: 42 as never }));
    expect(() => Cached({ cache, ttl: 'soon' })).toThrow(/Invalid option `ttl`/);
    expect(() => Cached({ cache, tll: '1m' } as never)).toThrow(/tll/);
    expect(() => CacheEvict({ cache })).toThrow(
      /exactly one of `key`, `keys` or `allEntries: true`, received "none of them"/,
    );
    expect(() => CacheEvict({ cache, key: 'a', allEntries: true })).toThrow(/more than one/);
    bad(() => CacheEvict({ cache, keys: 'a' as never }));
    bad(() => CachePut({ cache } as never));
    bad(() => CachePut({ cache, key: 'k', ttl: -1 }));
  });
});
