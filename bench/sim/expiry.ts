/**
 * Expiry on the fake clock, in one process with L1 alone (so only the cache's own logic
 * is measured, never I/O): a hot key read at a steady rate across expiries, with and
 * without refresh-ahead; and 10,000 keys loaded at once, read again every second over two
 * TTLs, with and without TTL jitter. Shared by the stampede section and its test.
 */
import { TieredCache } from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';

/** A seeded random source in [0, 1) (mulberry32): runs are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** What reading one hot key gave. */
export interface HotKeyResult {
  readonly reads: number;
  /** Reads that waited for the loader (not answered within the tick they were made in). */
  readonly blocked: number;
  /** Loader calls after the first load. */
  readonly loaderCalls: number;
  /** Values whose life ended (replaced by a reload or a refresh) while read: the expiries. */
  readonly expiries: number;
  /** Fake time the reads spanned, in ms. */
  readonly spanMs: number;
}

/**
 * One key, warm, read every `readEveryMs` (fake) until its value was replaced `expiries`
 * times; the loader takes `loadMs` of fake time (it resolves when the clock has moved
 * that far). A read blocks when it is not answered before the next tick.
 */
export async function hotKey(options: {
  readonly refreshAhead: boolean;
  readonly ttlMs?: number;
  readonly loadMs?: number;
  readonly readEveryMs?: number;
  readonly expiries?: number;
  readonly seed?: number;
}): Promise<HotKeyResult> {
  const { refreshAhead, ttlMs = 1_000, loadMs = 50, readEveryMs = 1, expiries = 3, seed = 1 } = options;
  const clock = new FakeClock();
  const cache = new TieredCache<string>({
    namespace: 'sim-hot',
    clock,
    random: seededRandom(seed),
    ttl: ttlMs,
    jitter: 0,
    refreshAhead,
  });
  const due: Array<{ at: number; resolve: () => void }> = [];
  let calls = 0;
  const loader = () =>
    new Promise<string>((resolve) => {
      const n = ++calls;
      due.push({ at: clock.now() + loadMs, resolve: () => resolve(`v${n}`) });
    });
  let last: string | undefined;
  let changes = -1;
  const tick = async (): Promise<boolean> => {
    clock.advance(readEveryMs);
    for (const d of due.splice(0)) {
      if (d.at <= clock.now()) d.resolve();
      else due.push(d);
    }
    let done = false;
    void cache.getOrSet('hot', loader).then((value) => {
      done = true;
      if (value !== last) changes++;
      last = value;
    });
    await new Promise((resolve) => setImmediate(resolve));
    return done;
  };
  // Warm: the first load is not counted.
  while (!(await tick())) {}
  const loadsBefore = calls;
  const started = clock.now();
  // Bounded: without refresh-ahead a value lives ttl and its reload takes loadMs.
  const bound = started + 2 * expiries * (ttlMs + loadMs);
  let reads = 0;
  let blocked = 0;
  while (changes < expiries && clock.now() < bound) {
    reads++;
    if (!(await tick())) blocked++;
  }
  for (const d of due) d.resolve();
  await cache.close();
  return {
    reads,
    blocked,
    loaderCalls: calls - loadsBefore,
    expiries: changes,
    spanMs: clock.now() - started,
  };
}

/** What replaying many keys over two TTLs gave. */
export interface JitterResult {
  readonly jitter: number;
  /** The most misses within one second of fake time. */
  readonly peakMissesPerSecond: number;
  readonly totalMisses: number;
}

/**
 * `keys` keys loaded at once, then each read once per second of fake time for two TTLs;
 * a miss is a loader call, counted in the second it happens.
 */
export async function jitterReplay(options: {
  readonly jitter: number;
  readonly keys?: number;
  readonly ttlMs?: number;
  readonly seed?: number;
}): Promise<JitterResult> {
  const { jitter, keys = 10_000, ttlMs = 60_000, seed = 1 } = options;
  const clock = new FakeClock();
  const cache = new TieredCache<number>({
    namespace: 'sim-jitter',
    l1: { max: keys * 2 },
    clock,
    random: seededRandom(seed),
    ttl: ttlMs,
    jitter,
  });
  const names = Array.from({ length: keys }, (_, i) => `k${i}`);
  const perSecond = new Map<number, number>();
  let second = 0;
  const loader = () => {
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    return second;
  };
  await Promise.all(names.map((key) => cache.getOrSet(key, loader)));
  perSecond.clear();
  for (second = 1; second * 1_000 <= 2 * ttlMs; second++) {
    clock.advance(1_000);
    await Promise.all(names.map((key) => cache.getOrSet(key, loader)));
  }
  await cache.close();
  const counts = [...perSecond.values()];
  return {
    jitter,
    peakMissesPerSecond: Math.max(0, ...counts),
    totalMisses: counts.reduce((sum, n) => sum + n, 0),
  };
}
