/**
 * The mixed row's traffic and its two sides, shared by the row (mixed.ts) and the table of
 * what tiercache's guarantees cost in it (mixed-variants.ts): one seeded Zipf trace, the
 * hand-wired cache, and tiercache driven the same way.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { msgpackCodec, type TieredCache } from '../../src/index.js';
import { type CallersRun, runCallers } from '../callers.js';
import { benchValue } from '../values.js';
import { zipfRanks } from '../zipf.js';

export const CALLERS = 16;
export const KEYS = 100_000;
export const L1_MAX = 10_000;
export const ZIPF_S = 0.99;
export const SET_SHARE = 0.1;
const TRACE_OPS = 1 << 20;
export const TTL_MS = 3_600_000;

/** The replayed trace: key ids (Zipf ranks) and which operations are sets. */
export interface Trace {
  readonly keys: readonly string[];
  readonly ids: Int32Array;
  readonly sets: Uint8Array;
}

/** A seeded xorshift32 in [0, 1): the same trace every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** The trace every side replays: {@link TRACE_OPS} operations over {@link KEYS} keys, seeded. */
export function zipfTrace(): Trace {
  const rank = zipfRanks(KEYS, ZIPF_S);
  const next = random(0x5eed);
  const ids = new Int32Array(TRACE_OPS);
  const sets = new Uint8Array(TRACE_OPS);
  for (let i = 0; i < TRACE_OPS; i++) {
    ids[i] = rank(next());
    sets[i] = next() < SET_SHARE ? 1 : 0;
  }
  return { keys: Array.from({ length: KEYS }, (_, i) => `k:${i}`), ids, sets };
}

/** One side: an operation per trace position. */
export interface Side {
  readonly label: string;
  run(key: string, id: number, set: boolean): Promise<unknown>;
}

/** A fixed pool of values for sets, so both sides pay the same to make one. */
const SET_VALUES = Array.from({ length: 64 }, (_, i) => benchValue(1_000_000 + i));

/** Runs `side` with {@link CALLERS} callers over `ops` trace positions from `start`. */
export function drive(side: Side, trace: Trace, start: number, ops: number): Promise<CallersRun> {
  return runCallers(CALLERS, ops, (n) => {
    const i = (start + n) & (TRACE_OPS - 1);
    const id = trace.ids[i] as number;
    return side.run(trace.keys[id] as string, id, trace.sets[i] === 1);
  });
}

/** The hand-wired cache, and what it counted (its own hit shares, for comparison). */
export function handWired(client: Redis, prefix: string) {
  const lru = new LRUCache<string, object>({ max: L1_MAX });
  const codec = msgpackCodec();
  const counts = { reads: 0, l1: 0, redis: 0, loads: 0 };
  const side: Side = {
    label: 'lru-cache + ioredis + msgpackr',
    async run(key, id, set) {
      const full = prefix + key;
      if (set) {
        const value = SET_VALUES[id & 63] as object;
        await client.set(full, codec.encode(value) as Buffer, 'PX', TTL_MS);
        lru.set(key, value);
        return;
      }
      counts.reads++;
      let value: object | undefined = lru.get(key);
      if (value !== undefined) {
        counts.l1++;
        return value;
      }
      const bytes = await client.getBuffer(full);
      if (bytes !== null) {
        counts.redis++;
        value = codec.decode(bytes) as object;
      } else {
        counts.loads++;
        value = benchValue(id);
        await client.set(full, codec.encode(value) as Buffer, 'PX', TTL_MS);
      }
      lru.set(key, value);
      return value;
    },
  };
  return { side, counts };
}

/**
 * tiercache as a side: getOrSet for reads (the loader makes the key's value), set for
 * writes; `reads()` counts the getOrSet calls since the last `resetReads()`.
 */
export function tiercacheSide(cache: TieredCache<unknown>, label: string) {
  let reads = 0;
  const loader = ({ key }: { key: string }) => benchValue(Number(key.slice(2)));
  const side: Side = {
    label,
    run: (key, id, set) => {
      if (set) return cache.set(key, SET_VALUES[id & 63]);
      reads++;
      return cache.getOrSet(key, loader);
    },
  };
  return {
    side,
    reads: () => reads,
    resetReads: () => {
      reads = 0;
    },
  };
}
