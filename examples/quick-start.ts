import { TieredCache } from 'tiercache';
import { postgresStore } from 'tiercache/postgres';
import { redisBus, redisStore } from 'tiercache/redis';

interface User {
  id: number;
  name: string;
}

// Stands in for your database; counts the queries that reach it.
let queries = 0;
const db = {
  async findUser(id: number, _options?: { signal?: AbortSignal }): Promise<User | null> {
    queries++;
    return id === 404 ? null : { id, name: `user ${id}` };
  },
  async findUsers(ids: number[]): Promise<User[]> {
    queries++;
    return ids.map((id) => ({ id, name: `user ${id}` }));
  },
};

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const cache = new TieredCache({
  namespace: process.env.CACHE_NAMESPACE ?? 'quick-start', // every tier's key prefix and the bus channel
  l1: { max: 10_000 }, // in-process LRU (or false)
  stores: [
    redisStore({ url: redisUrl }), // L2, shared by every instance
    postgresStore({ connectionString: databaseUrl }), // L3, creates its table on first use
  ],
  bus: redisBus({ url: redisUrl }), // drops other instances' L1 copies on every write
  ttl: '5m',
  grace: '1h',
  failSafe: true,
  timeouts: { soft: 50, hard: 2_000 },
  // A store that fails is skipped, not a failed request: see why here.
  onError: (error) => console.error('tiercache:', error.message),
});

await cache.ready(); // optional: the bus is subscribed
const id = 1;
const ids = [2, 3, 4];

// Read-through: 100 concurrent calls for one key run the loader once (single-flight).
const load = () => cache.getOrSet(`user:${id}`, ({ signal }) => db.findUser(id, { signal }));
const users = await Promise.all(Array.from({ length: 100 }, load));
console.log(users[0], `queries: ${queries}`); // { id: 1, name: 'user 1' } queries: 1

// Missing rows are cached too (negative caching).
await cache.getOrSet('user:404', () => db.findUser(404));
await cache.getOrSet('user:404', () => db.findUser(404));
console.log(`queries: ${queries}`); // queries: 2

// Many keys, one loader call for the ones no tier holds (the DataLoader pattern).
const many = await cache.getOrSetMany(
  ids.map((id) => `user:${id}`),
  (keys) => db.findUsers(keys.map((key) => Number(key.slice('user:'.length)))),
);
const names = many.map((user) => user.name);
console.log(names, `queries: ${queries}`); // [ 'user 2', 'user 3', 'user 4' ] queries: 3

// Cache-aside: the type is given per call, so one cache holds users, orders, ...
await cache.set<User>('user:5', { id: 5, name: 'set by hand' });
console.log(await cache.get<User>('user:5')); // { id: 5, name: 'set by hand' }
await cache.delete('user:5'); // every tier, then every instance's L1 via the bus
console.log(await cache.get('user:5')); // undefined

// A function, cached by its arguments.
const findUser = cache.wrap((id: number) => db.findUser(id), { key: (id) => `user:${id}` });
console.log((await findUser(1))?.name, `queries: ${queries}`); // user 1 queries: 3

console.log(cache.getLocal<User>('user:1')?.name); // user 1 (synchronous, L1 only)
console.log(cache.stats().loader.coalesced); // 99: callers that shared another's load
console.log(cache.health().status); // up: per-tier breaker state, for your health endpoint

await cache.clear(); // this example's keys, from every tier
await cache.close(); // closes the Redis and Postgres connections: the process can exit
