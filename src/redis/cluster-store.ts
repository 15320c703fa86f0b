import type { Cluster } from 'ioredis';
import { TierCacheError } from '../errors.js';
import type { LeaseStore } from '../stores/lease.js';
import type { StoreWrite } from '../stores/store.js';
import { redisLeases } from './lease.js';
import { pipelinePerNode } from './slots.js';
import { clearMatch, KEYS_PER_COMMAND, type RedisStore, SCAN_COUNT } from './store.js';
import {
  type ClearUpTo,
  defineClearUpTo,
  defineSetIfNewer,
  queueClearUpTo,
  type SetIfNewer,
  unframe,
  unframeReply,
} from './versioned.js';

/** A Redis L2 store on a Redis Cluster, as {@link redisStore} returns it for a `Cluster` client. */
export interface RedisClusterStore extends Omit<RedisStore, 'client'> {
  /** The cluster client the store talks through (yours: `close()` leaves it open). */
  readonly client: Cluster;
}

/**
 * The store on an ioredis `Cluster`. Every command names keys of one slot only:
 *
 * - `get` is one GET (ioredis routes it by slot).
 * - `getMany`, `setMany` and `deleteMany` group the keys by slot and the slots by node
 *   (`slots.ts`), and send each node one pipeline of single-slot MGET / script / UNLINK
 *   commands, all nodes at once.
 * - The versioned write and `clear`'s conditional delete are the single-node scripts
 *   (`versioned.ts`), each call given the keys of one slot: a script never reads or
 *   writes a key outside its `KEYS`, so it needs no hash tag. Tombstones and the
 *   namespace's epoch (`<namespace>#epoch:<prefix>`) are single-key writes through it:
 *   their own slot, no tag either.
 * - `clear` SCANs every master (`cluster.nodes('master')`) and deletes what each
 *   returns, grouped the same way.
 *
 * Keys are never hash-tagged by the store: a namespace's keys spread over every master.
 */
export class RedisClusterStoreTier implements RedisClusterStore {
  readonly name = 'redis' as const;
  readonly defaultTimeoutMs: number;
  readonly prefix: string;
  readonly client: Cluster;
  readonly leases: LeaseStore;
  readonly #setIfNewer: SetIfNewer;
  readonly #clearUpTo: ClearUpTo;

  constructor(client: Cluster, prefix: string, timeoutMs: number) {
    this.client = client;
    this.#setIfNewer = defineSetIfNewer(client);
    this.#clearUpTo = defineClearUpTo(client); // also queued by name in pipelines (queueClearUpTo)
    // One key per lease script: ioredis routes each call to the key's slot.
    this.leases = redisLeases(client, prefix);
    this.prefix = prefix;
    this.defaultTimeoutMs = timeoutMs;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return unframeReply(await this.client.getBuffer(this.prefix + key));
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const out: Array<Uint8Array | undefined> = new Array(keys.length).fill(undefined);
    if (keys.length === 0) return out;
    const full = keys.map((key) => this.prefix + key);
    const indices = full.map((_, i) => i);
    const keyOf = (i: number) => full[i] as string;
    const replies = await pipelinePerNode(
      this.client,
      indices,
      keyOf,
      KEYS_PER_COMMAND,
      (pipeline, chunk) => pipeline.mgetBuffer(chunk.map(keyOf)),
      (chunk) => this.client.mgetBuffer(chunk.map(keyOf)),
    );
    for (const [chunk, reply] of replies) {
      const values = reply as Array<Buffer | null>;
      for (let j = 0; j < chunk.length; j++) {
        const value = values[j];
        if (value !== null && value !== undefined) out[chunk[j] as number] = unframe(value);
      }
    }
    return out;
  }

  async setMany(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const now = Date.now();
    const prefix = this.prefix;
    const keyOf = (write: StoreWrite) => prefix + write.key;
    await pipelinePerNode(
      this.client,
      writes,
      keyOf,
      KEYS_PER_COMMAND,
      (pipeline, chunk) => this.#setIfNewer.queue(pipeline, chunk, prefix, now),
      (chunk) => this.#setIfNewer.call(chunk, prefix, now),
    );
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#unlink(keys.map((key) => this.prefix + key));
  }

  async clear(prefix: string, upTo?: string): Promise<void> {
    const match = clearMatch(this.prefix + prefix, upTo);
    const masters = this.client.nodes('master');
    if (masters.length === 0) {
      throw new TierCacheError('redisStore.clear: no master of the cluster is known yet (not connected)');
    }
    await Promise.all(
      masters.map(async (master) => {
        let cursor = '0';
        do {
          // Bytes in, bytes out: a key that is not valid UTF-8 is still deleted exactly.
          const [next, keys] = await master.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
          cursor = next.toString();
          if (keys.length > 0) await this.#unlink(keys, upTo);
        } while (cursor !== '0');
      }),
    );
  }

  async close(): Promise<void> {
    // The cluster client is the caller's: nothing of ours to close.
  }

  /** Unlinks `keys` (or, with `upTo`, those holding no version or one `<= upTo`), per slot. */
  async #unlink(keys: ReadonlyArray<string | Buffer>, upTo?: string): Promise<void> {
    await pipelinePerNode(
      this.client,
      keys,
      (key) => key,
      KEYS_PER_COMMAND,
      (pipeline, chunk) => {
        if (upTo === undefined) pipeline.unlink(...chunk);
        else queueClearUpTo(pipeline, chunk, upTo);
      },
      (chunk) => (upTo === undefined ? this.client.unlink(...chunk) : this.#clearUpTo(chunk, upTo)),
    );
  }
}
