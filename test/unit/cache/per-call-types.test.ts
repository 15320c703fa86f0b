// One cache, several kinds of values, no casts: getOrSet / getOrSetMany / wrap infer the
// type per call from the loader, get / getMany / getLocal / set accept one per call, and a
// cache typed as TieredCache<V> keeps holding its calls to V. The type assertions are
// checked by `npm run typecheck` (tsc), the values by vitest.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';

interface User {
  id: number;
  name: string;
}
interface Order {
  id: string;
  total: number;
}

describe('per-call types', () => {
  it('one untyped cache holds users and orders without casts', async () => {
    const cache = new TieredCache({ namespace: 'per-call-types', l1: { max: 100 } });
    const user = await cache.getOrSet('user:1', async (): Promise<User> => ({ id: 1, name: 'Ada' }));
    expectTypeOf(user).toEqualTypeOf<User>();
    const order = await cache.getOrSet('order:1', () => ({ id: 'o1', total: 12 }) as Order);
    expectTypeOf(order).toEqualTypeOf<Order>();
    const count = await cache.getOrSet('count', () => 42);
    expectTypeOf(count).toEqualTypeOf<number>();

    expectTypeOf(await cache.get<User>('user:1')).toEqualTypeOf<User | undefined>();
    expectTypeOf(await cache.getMany<Order>(['order:1'])).toEqualTypeOf<Array<Order | undefined>>();
    expectTypeOf(cache.getLocal<User>('user:1')).toEqualTypeOf<User | undefined>();
    expectTypeOf(await cache.get('user:1')).toEqualTypeOf<unknown>();

    const orders = await cache.getOrSetMany(['order:2', 'order:3'], (keys) =>
      keys.map((id): Order => ({ id, total: 1 })),
    );
    expectTypeOf(orders).toEqualTypeOf<Order[]>();

    const findUser = cache.wrap(async (id: number): Promise<User> => ({ id, name: `user ${id}` }), {
      key: (id) => `user:${id}`,
    });
    expectTypeOf(findUser).toEqualTypeOf<(id: number) => Promise<User>>();

    await cache.set<User>('user:2', { id: 2, name: 'Grace' });
    await cache.setMany<Order>([{ key: 'order:9', value: { id: 'o9', total: 3 } }]);

    expect(user).toEqual({ id: 1, name: 'Ada' });
    expect(order.total).toBe(12);
    expect(await cache.get<User>('user:2')).toEqual({ id: 2, name: 'Grace' });
    expect(await findUser(5)).toEqual({ id: 5, name: 'user 5' });
    expect((await cache.get<Order>('order:9'))?.total).toBe(3);
    expect(orders.map((o) => o.id)).toEqual(['order:2', 'order:3']);
    await cache.close();
  });

  it('TieredCache<V> still types every call as V', async () => {
    const users = new TieredCache<User | null>({ namespace: 'per-call-typed', l1: { max: 10 } });
    const user = await users.getOrSet('user:1', async () => null);
    expectTypeOf(user).toEqualTypeOf<User | null>();
    expectTypeOf(await users.get('user:1')).toEqualTypeOf<User | null | undefined>();
    // @ts-expect-error an Order is not a User
    await users.set('user:2', { id: 'o1', total: 1 });
    // @ts-expect-error a loader returning numbers does not fit a cache of users
    await users.getOrSet('user:3', () => 3).catch(() => {});
    expect(user).toBeNull();
    await users.close();
  });
});
