/**
 * Loads the request traces in bench/traces/ (see its README for sources, citations and
 * checksums): gzip text, one key per line. Keys stay strings: some scarab-recs keys exceed 2^53, so `Number()` would
 * merge distinct keys and inflate hit ratios.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** The eight shipped traces, smallest first so a progress bar moves early. */
export const TRACE_NAMES = [
  'glimpse',
  'web12',
  'sprite',
  'loop',
  'oltp',
  'scarab-recs',
  'p3',
  'orm-busy',
] as const;

/** One of {@link TRACE_NAMES}. */
export type TraceName = (typeof TRACE_NAMES)[number];

/** A trace as requests over dense integer ids (0 .. distinct-1), plus the original keys. */
export interface Trace {
  readonly name: string;
  /** The keys in request order, as read (strings, never parsed as numbers). */
  readonly keys: readonly string[];
  /** `ids[i]` is the dense id of `keys[i]`: the first new key is 0, the next new one 1, ... */
  readonly ids: Int32Array;
  /** Number of distinct keys. */
  readonly distinct: number;
  /** Whether this is a prefix of the full trace (`--quick`), not the whole of it. */
  readonly sampled: boolean;
  /** Requests in the full file, when known (equals `keys.length` unless sampled). */
  readonly fileRequests: number;
}

/** The traces shipped in the repository, beside this file, so any clone has them. */
const shippedTraces = resolve(dirname(fileURLToPath(import.meta.url)), 'traces');

/** The traces folder: `TIERCACHE_TRACES` (other traces, same format), else `bench/traces/`. */
export function tracesDir(): string {
  return process.env.TIERCACHE_TRACES ?? shippedTraces;
}

/** Whether the trace file exists, so the section can say which are missing instead of crashing. */
export function traceAvailable(name: string, dir = tracesDir()): boolean {
  return existsSync(join(dir, `${name}.keys.gz`));
}

/**
 * Reads a trace. With `limit`, keeps only the first `limit` requests (a prefix keeps the
 * request order, so the sample is still a real workload, only shorter).
 */
export function loadTrace(name: string, options: { dir?: string; limit?: number } = {}): Trace {
  const file = join(options.dir ?? tracesDir(), `${name}.keys.gz`);
  // latin1: the files are ASCII digits and '-', and latin1 decoding is the cheapest 1:1 map.
  const all = gunzipSync(readFileSync(file)).toString('latin1').split('\n');
  if (all.at(-1) === '') all.pop();
  const limit = options.limit;
  const keys = limit !== undefined && limit < all.length ? all.slice(0, limit) : all;
  return fromKeys(name, keys, all.length);
}

/** Builds a {@link Trace} from keys in memory (tests, hand-made sequences). */
export function fromKeys(name: string, keys: readonly string[], fileRequests = keys.length): Trace {
  const { ids, distinct } = intern(keys);
  return { name, keys, ids, distinct, sampled: keys.length < fileRequests, fileRequests };
}

/** Maps each distinct key to a dense id in order of first appearance. */
export function intern(keys: readonly string[]): { ids: Int32Array; distinct: number } {
  const seen = new Map<string, number>();
  const ids = new Int32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    let id = seen.get(key);
    if (id === undefined) {
      id = seen.size;
      seen.set(key, id);
    }
    ids[i] = id;
  }
  return { ids, distinct: seen.size };
}
