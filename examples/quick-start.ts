// Runnable: `npx tsx examples/quick-start.ts` (L1 only; no server needed).
// The README's API tour follows this file.
import { TieredCache } from '../src/index.js';

interface User {
  id: number;
  name: string;
}

let queries = 0;
async function findUser(id: number): Promise<User | null> {
  queries++;
  return id === 404 ? null : { id, name: `user ${id}` };
}

const cache = new TieredCache<User | null>({ namespace: 'quick-start', ttl: '5m', grace: '1h' });

// Read-through: 100 concurrent calls for one key run the loader once.
const users = await Promise.all(
  Array.from({ length: 100 }, () => cache.getOrSet('user:1', () => findUser(1))),
);
console.log(users[0], `queries: ${queries}`); // { id: 1, name: 'user 1' } queries: 1

// Missing rows are cached too (negative caching), so they don't hammer the database.
await cache.getOrSet('user:404', () => findUser(404));
await cache.getOrSet('user:404', () => findUser(404));
console.log(`queries: ${queries}`); // queries: 2

// Cache-aside.
await cache.set('user:2', { id: 2, name: 'set by hand' });
console.log(await cache.get('user:2'), cache.getLocal('user:2')?.name);
await cache.delete('user:2');
console.log(await cache.get('user:2')); // undefined

// Wrap a function; the key is derived from its arguments.
const cachedFindUser = cache.wrap(findUser, { key: (id) => `user:${id}` });
await cachedFindUser(3);
await cachedFindUser(3);
console.log(`queries: ${queries}`, `coalesced: ${cache.stats().loader.coalesced}`); // queries: 3 coalesced: 99

await cache.close();
