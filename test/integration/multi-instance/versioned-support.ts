/**
 * Shared by the issue-17 regression tests (versioned-writes*.test.ts): application
 * instances over the real Redis and Postgres (each with its own clients), raw reads of
 * what each store holds, and a store wrapper that records every write the cache made
 * (its version and value) and tracks the calls still on the wire.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import type { InvalidationBus } from '../../../src/bus/bus.js';
import { EntryCodec } from '../../../src/entry/codec.js';
import type { Entry } from '../../../src/entry/entry.js';
import { TieredCache } from '../../../src/index.js';
import { postgresBus, postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';
import type { StoreTier, StoreWrite } from '../../../src/stores/store.js';
import { postgresUrlForTests, redisUrlForTests } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

export const codec = new EntryCodec();

/** A promise with its resolve, for loaders and gates the test controls. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** One write as the cache handed it to a store. */
export interface RecordedWrite {
  readonly key: string;
  readonly version: string;
  readonly entry: Entry;
}

/**
 * A pass-through store that records every write (decoded) and keeps the calls in
 * flight, so a test can wait until every write it caused, late ones included, has
 * reached the server ({@link quiesce}).
 */
export class RecordingStore implements StoreTier {
  readonly name: string;
  readonly defaultTimeoutMs?: number;
  readonly writes: RecordedWrite[] = [];
  readonly #inner: StoreTier;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(inner: StoreTier) {
    this.#inner = inner;
    this.name = inner.name;
    if (inner.defaultTimeoutMs !== undefined) this.defaultTimeoutMs = inner.defaultTimeoutMs;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#track(this.#inner.get(key));
  }
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return this.#track(this.#inner.getMany(keys));
  }
  setMany(writes: readonly StoreWrite[]): Promise<void> {
    for (const w of writes)
      this.writes.push({ key: w.key, version: w.version, entry: codec.decode(w.value) });
    return this.#track(this.#inner.setMany(writes));
  }
  deleteMany(keys: readonly string[]): Promise<void> {
    return this.#track(this.#inner.deleteMany(keys));
  }
  clear(prefix: string): Promise<void> {
    return this.#track(this.#inner.clear(prefix));
  }
  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Settles once every call made so far (and any made meanwhile) has settled. */
  async quiesce(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  #track<T>(call: Promise<T>): Promise<T> {
    this.#inflight.add(call);
    const done = () => this.#inflight.delete(call);
    call.then(done, done);
    return call;
  }
}

/** The servers, this file's Redis prefix and Postgres schema, and raw clients to them. */
export class Servers {
  redisUrl = '';
  pgUrl = '';
  redis!: Redis;
  admin!: pg.Pool;
  readonly caches: TieredCache<unknown>[] = [];

  constructor(
    /** Prepended to every Redis key by the stores (`redisStore({ prefix })`). */
    readonly prefix: string,
    readonly schema: string,
  ) {}

  async start(): Promise<void> {
    this.redisUrl = await redisUrlForTests();
    this.pgUrl = await postgresUrlForTests();
    this.redis = new Redis(this.redisUrl);
    this.admin = new pg.Pool({ connectionString: this.pgUrl, max: 2 });
    this.admin.on('error', () => {});
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.caches.map((cache) => cache.close()));
    await this.wipeRedis('').catch(() => {});
    this.redis?.disconnect();
    await this.admin?.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(this.schema)} CASCADE`);
    await this.admin?.end();
  }

  newRedisStore(url = this.redisUrl) {
    return redisStore({ url, prefix: this.prefix, timeoutMs: 2_000 });
  }

  newPostgresStore() {
    return testPostgresStore(this.pgUrl, this.schema);
  }

  newBus(kind: 'redis' | 'postgres', url = this.redisUrl): InvalidationBus {
    return kind === 'redis' ? redisBus({ url }) : postgresBus({ connectionString: this.pgUrl });
  }

  /** An application instance: its own L1 and clients; closed by {@link stop}. */
  instance<V = string>(
    namespace: string,
    options: {
      redis?: StoreTier;
      postgres?: StoreTier;
      bus?: InvalidationBus;
      strict?: boolean;
      clock?: { now(): number };
      guard?: { timeout?: number; failureThreshold?: number; cooldown?: number };
    } = {},
  ): TieredCache<V> {
    const cache = new TieredCache<V>({
      namespace,
      l1: { max: 10_000 },
      stores: [options.redis ?? this.newRedisStore(), options.postgres ?? this.newPostgresStore()],
      ...(options.bus ? { bus: options.bus } : {}),
      ttl: '10m',
      jitter: 0,
      // Generous store timeouts unless a test wants the guard to fire: a busy shared
      // machine must not turn a slow call into a skipped store.
      guard: options.guard ?? { timeout: 5_000 },
      strict: options.strict ?? true,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    this.caches.push(cache as TieredCache<unknown>);
    return cache;
  }

  /** The entry each store holds for `key` (namespace-qualified), read through fresh stores. */
  async stored(key: string, redisUrl = this.redisUrl): Promise<{ redis?: Entry; postgres?: Entry }> {
    const r = this.newRedisStore(redisUrl);
    const p = this.newPostgresStore();
    try {
      const [rb, pb] = await Promise.all([r.get(key), p.get(key)]);
      return {
        ...(rb !== undefined ? { redis: codec.decode(rb) } : {}),
        ...(pb !== undefined ? { postgres: codec.decode(pb) } : {}),
      };
    } finally {
      await Promise.all([r.close(), p.close()]);
    }
  }

  /** The entries each store holds for `keys`, in order, through one fresh store each. */
  async storedMany(
    keys: readonly string[],
  ): Promise<{ redis: Array<Entry | undefined>; postgres: Array<Entry | undefined> }> {
    return readStores(this.newRedisStore(), this.newPostgresStore(), keys);
  }

  /** Deletes every Redis key under this file's prefix + `under`, with the raw client. */
  async wipeRedis(under: string, client: Redis = this.redis): Promise<void> {
    const match = `${(this.prefix + under).replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** A Postgres store on `schema` for these tests: no sweeper, a generous timeout. */
export function testPostgresStore(connectionString: string, schema: string) {
  return postgresStore({ connectionString, schema, sweepIntervalMs: 0, timeoutMs: 5_000 });
}

/** The entries `redis` and `postgres` hold for `keys`, decoded; closes both stores. */
export async function readStores(
  redis: StoreTier,
  postgres: StoreTier,
  keys: readonly string[],
): Promise<{ redis: Array<Entry | undefined>; postgres: Array<Entry | undefined> }> {
  const decode = (b: Uint8Array | undefined) => (b === undefined ? undefined : codec.decode(b));
  try {
    const [rb, pb] = await Promise.all([redis.getMany(keys), postgres.getMany(keys)]);
    return { redis: rb.map(decode), postgres: pb.map(decode) };
  } finally {
    await Promise.all([redis.close(), postgres.close()]);
  }
}

/** The value an entry read from a store holds: `undefined` for none or a tombstone. */
export function liveValue(entry: Entry | undefined): unknown {
  return entry === undefined || entry.deleted === true ? undefined : entry.value;
}

/** Waits, bounded, until every held call has arrived at its gate. */
export async function arrived(
  gates: ReadonlyArray<{ readonly entered: Promise<void> }>,
  what: string,
): Promise<void> {
  let count = 0;
  for (const gate of gates) void gate.entered.then(() => count++);
  await waitFor(what, () => count === gates.length, 10_000, 1);
}
