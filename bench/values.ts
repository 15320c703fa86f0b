/**
 * The values the bench caches: about 1 KB once encoded, shaped like what a data-access
 * layer caches (a user row with its profile): strings, numbers, booleans, a Date and a
 * nested array of objects. Deterministic per id, so a baseline and the cache hold equal
 * values.
 */

/** A user row of about 1 KB encoded (msgpack), the same for the same `id`. */
export function benchValue(id: number): Record<string, unknown> {
  return {
    id,
    name: `User ${id}`,
    email: `user${id}@example.com`,
    active: id % 3 !== 0,
    score: id * 1.5,
    createdAt: new Date(1_700_000_000_000 + id * 1_000),
    roles: ['reader', id % 7 === 0 ? 'admin' : 'member'],
    address: { street: `${id} Main Street`, city: 'Springfield', zip: String(10_000 + (id % 90_000)) },
    bio: `User ${id} writes about caches, queues and databases. `.repeat(9),
    orders: Array.from({ length: 8 }, (_, i) => ({
      orderId: id * 10 + i,
      sku: `SKU-${(id * 31 + i * 7) % 100_000}`,
      quantity: 1 + ((id + i) % 5),
      price: 9.99 + i,
      status: i % 2 === 0 ? 'shipped' : 'pending',
    })),
  };
}

/** The id in a bench key `<anything>:<id>`. */
export function idOf(key: string): number {
  return Number(key.slice(key.lastIndexOf(':') + 1));
}
