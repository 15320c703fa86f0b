// Cache-aside in a service function: read the cache, fall back to the database and fill
// the cache, and delete the key after a write. Runs on L1 alone; pass `stores` (and a
// `bus`) to add Redis and Postgres without changing the service code.
//
//   npx tsx examples/cache-aside.ts
//
// In your project, import from 'tiercache'.
import { pathToFileURL } from 'node:url';
import { TieredCache } from '../src/index.js';

export interface User {
  id: string;
  name: string;
  email: string;
}

/** Stands in for a database table; counts the queries that reach it. */
export class UserTable {
  queries = 0;
  readonly #rows = new Map<string, User>();

  async select(id: string): Promise<User | undefined> {
    this.queries++;
    const row = this.#rows.get(id);
    return row && { ...row };
  }

  async upsert(user: User): Promise<void> {
    this.queries++;
    this.#rows.set(user.id, { ...user });
  }
}

const userKey = (id: string) => `user:${id}`;

/** The service: plain functions over a cache and a table. */
export function userService(cache: TieredCache<User>, table: UserTable) {
  return {
    /** Cache-aside read: the cache first, then the table (and the cache is filled). */
    async getUser(id: string): Promise<User | undefined> {
      const cached = await cache.get(userKey(id));
      if (cached !== undefined) return cached;
      const user = await table.select(id);
      // Absent users are not cached here (getOrSet would cache them; see the guide).
      if (user !== undefined) await cache.set(userKey(id), user, { ttl: '5m' });
      return user;
    },

    /** Write, then delete the key: every tier, and every other instance's L1 over the bus. */
    async renameUser(id: string, name: string): Promise<void> {
      const user = await table.select(id);
      if (user === undefined) throw new Error(`no user ${id}`);
      await table.upsert({ ...user, name });
      await cache.delete(userKey(id));
    },

    /** Create, and put the new value in the cache straight away. */
    async createUser(user: User): Promise<void> {
      await table.upsert(user);
      await cache.set(userKey(user.id), user);
    },
  };
}

// Run as a script (not when imported by the test): a short walk-through on L1 alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cache = new TieredCache<User>({ namespace: 'cache-aside-example', l1: { max: 1_000 }, ttl: '5m' });
  const table = new UserTable();
  const users = userService(cache, table);
  await users.createUser({ id: 'u1', name: 'Ada', email: 'ada@example.com' });
  console.log(await users.getUser('u1'), await users.getUser('u1'));
  await users.renameUser('u1', 'Ada Lovelace');
  console.log(await users.getUser('u1'));
  console.log(`queries that reached the table: ${table.queries}`);
  await cache.close();
}
