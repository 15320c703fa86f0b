/**
 * Latency per tier: each tiercache path against the bare code a user would write
 * without it, measured in the same process, interleaved round by round (see
 * measure.ts), over the same 1,000 keys of ~1 KB values. The goals are the ones
 * docs/architecture.md states.
 */
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { type CacheStats, msgpackCodec, type StoreTier, TieredCache } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisStore } from '../../src/redis/index.js';
import { compare, measure, type Plan, type SubjectFigures } from '../measure.js';
import { pinnedRedis } from '../pin.js';
import { progress } from '../progress.js';
import { benchNamespace, benchSchema, dropSchema, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, SectionContext } from '../section.js';
import { SkipSection } from '../services.js';
import { benchValue, idOf } from '../values.js';
import { figuresOf, latencyPlot, type Row, rowTargets, tableOf } from './latency-report.js';

const KEYS = Array.from({ length: 1_000 }, (_, i) => `user:${i}`);
/**
 * The store rows' guard: a machine busy with other work stalls the event loop past the
 * default timeouts now and then, and a few timeouts in a row open the breaker, after
 * which the prefill or the hits fall through to the loader. A hit never waits on it.
 */
const BUSY_MACHINE_GUARD = { timeout: '1s' } as const;
/** L1 size of the L2 rows: smaller than the key set read in order, so every read misses L1. */
const SMALL_L1 = 100;

/** A ~1 KB user row (see bench/values.ts). */
function valueFor(key: string): Record<string, unknown> {
  return benchValue(idOf(key));
}
const load = async (key: string) => valueFor(key);
const loader = (ctx: { key: string }) => valueFor(ctx.key);

// The bare baseline decodes with a fresh instance of the library's default value codec:
// plain msgpackr with the options tiercache ships, so it tracks any change to them.
const bareCodec = msgpackCodec();

const FULL: Plan = { rounds: 9, batchMs: 200, perOpCalls: 3_000, warmupMs: 300, warmupCalls: 1_000 };
const QUICK: Plan = { rounds: 5, batchMs: 25, perOpCalls: 300, warmupMs: 50, warmupCalls: 100 };

/**
 * Writes every key through the cache in chunks, then reads them back from the store and
 * rewrites any that are missing: a large setMany can outlive the store's guard timeout on
 * a busy machine and be skipped (counted, not thrown), which would turn hits into misses.
 */
async function prefill(
  cache: TieredCache<Record<string, unknown>>,
  store: StoreTier,
  namespace: string,
  keys: readonly string[],
): Promise<void> {
  let pending = [...keys];
  for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
    for (let i = 0; i < pending.length; i += 100) {
      await cache.setMany(pending.slice(i, i + 100).map((key) => ({ key, value: valueFor(key) })));
    }
    const found = await store.getMany(pending.map((key) => `${namespace}:${key}`));
    pending = pending.filter((_, i) => found[i] === undefined);
  }
  if (pending.length > 0) {
    throw new Error(`prefill: ${pending.length} keys still missing from ${store.name} after 5 attempts`);
  }
}

export const latencySection: Section = {
  name: 'latency',
  title: 'latency per tier vs bare baselines (interleaved rounds)',
  async run(ctx) {
    const plan = ctx.args.quick ? QUICK : FULL;
    // Runs per row: compare = 2 × rounds, measure = rounds.
    const bar = progress('latency', plan.rounds * (2 * 6 + 4));
    const tick = () => bar.tick();
    const rows: Row[] = [];
    const skipped: string[] = [];
    try {
      rows.push(...(await l1Rows(plan, tick)));
      rows.push(...(await guarded('L2 (Redis)', ctx, skipped, () => l2Rows(ctx, plan, tick))));
      rows.push(...(await guarded('L3 (Postgres)', ctx, skipped, () => l3Rows(ctx, plan, tick))));
      rows.push(...(await guarded('miss through all tiers', ctx, skipped, () => missRows(ctx, plan, tick))));
    } finally {
      bar.stop();
    }
    const plot = ctx.writeArtifact('latency.svg', await latencyPlot(rows, plan));
    return {
      figures: { ...figuresOf(rows, plan, KEYS.length), plot },
      tables: [tableOf(rows, plan, ctx.args.quick)],
      targets: rowTargets(rows),
      skippedParts: skipped,
    };
  },
};

async function guarded(
  what: string,
  _ctx: SectionContext,
  skipped: string[],
  run: () => Promise<Row[]>,
): Promise<Row[]> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof SkipSection)) throw error;
    skipped.push(`${what}: ${error.message}`);
    return [{ name: what, skipped: error.message }];
  }
}

async function l1Rows(plan: Plan, tick: () => void): Promise<Row[]> {
  const cache = new TieredCache<Record<string, unknown>>({
    namespace: benchNamespace('latency-l1'),
    l1: { max: 10_000 },
    ttl: '1h',
  });
  const lru = new LRUCache<string, Record<string, unknown>>({ max: 10_000 });
  for (const key of KEYS) {
    await cache.set(key, valueFor(key));
    lru.set(key, valueFor(key));
  }
  // The hand-written baseline the latency target is stated against, verbatim.
  const byHand = async (k: string) => {
    let v = lru.get(k);
    if (v === undefined) {
      v = await load(k);
      lru.set(k, v);
    }
    return v;
  };
  const getOrSet = await compare(
    { label: 'cache.getOrSet (awaited)', mode: 'batch-async', call: (k) => cache.getOrSet(k, loader) },
    { label: 'hand-written async lru.get/set', mode: 'batch-async', call: byHand },
    KEYS,
    plan,
    tick,
  );
  const getLocal = await compare(
    { label: 'cache.getLocal', mode: 'batch-sync', call: (k) => cache.getLocal(k) },
    { label: 'lru.get', mode: 'batch-sync', call: (k) => lru.get(k) },
    KEYS,
    plan,
    tick,
  );
  const stats = cache.stats();
  await cache.close();
  if (stats.loader.ok + stats.loader.failed !== 0)
    throw new Error(
      `L1 rows: the loader ran ${stats.loader.ok + stats.loader.failed} times; every call should hit`,
    );
  return [
    { name: 'L1 hit, getOrSet', baselineName: 'async lru get/set', comparison: getOrSet, target: 1.2 },
    { name: 'L1 hit, getLocal', baselineName: 'lru.get', comparison: getLocal, target: 1.2 },
    await l1AdmissionRow(plan, tick),
    ...(await l1GetMany(plan, tick)),
  ];
}

/** The L1 hit row above with `admission: 'w-tinylfu'` (its goal: 1.3x). */
async function l1AdmissionRow(plan: Plan, tick: () => void): Promise<Row> {
  const cache = new TieredCache<Record<string, unknown>>({
    namespace: benchNamespace('latency-l1-admission'),
    l1: { max: 10_000, admission: 'w-tinylfu' },
    ttl: '1h',
  });
  const lru = new LRUCache<string, Record<string, unknown>>({ max: 10_000 });
  for (const key of KEYS) {
    await cache.set(key, valueFor(key));
    lru.set(key, valueFor(key));
  }
  const byHand = async (k: string) => {
    let v = lru.get(k);
    if (v === undefined) {
      v = await load(k);
      lru.set(k, v);
    }
    return v;
  };
  const comparison = await compare(
    {
      label: 'cache.getOrSet (awaited), W-TinyLFU L1',
      mode: 'batch-async',
      call: (k) => cache.getOrSet(k, loader),
    },
    { label: 'hand-written async lru.get/set', mode: 'batch-async', call: byHand },
    KEYS,
    plan,
    tick,
  );
  const loads = cache.stats().loader;
  await cache.close();
  if (loads.ok + loads.failed !== 0)
    throw new Error('L1 admission row: the loader ran; every call should hit');
  return {
    name: 'L1 hit, getOrSet, W-TinyLFU',
    baselineName: 'async lru get/set',
    comparison,
    target: 1.3,
  };
}

async function l1GetMany(plan: Plan, tick: () => void): Promise<Row[]> {
  const cache = new TieredCache<Record<string, unknown>>({
    namespace: benchNamespace('latency-l1-many'),
    l1: { max: 10_000 },
    ttl: '1h',
  });
  await cache.setMany(KEYS.map((key) => ({ key, value: valueFor(key) })));
  const figures = await measureGetMany(cache, 'L1', plan, tick);
  await cache.close();
  return [{ name: 'getMany(100), L1', alone: figures }];
}

/**
 * `getMany` of 100 keys timed alone, over ten disjoint batches named by index (the
 * harness passes string keys), with fewer calls per round than a single get.
 */
function measureGetMany(
  cache: TieredCache<Record<string, unknown>>,
  tier: string,
  plan: Plan,
  tick: () => void,
): Promise<SubjectFigures> {
  const batches = new Map<string, string[]>();
  for (let b = 0; b < 10; b++) batches.set(String(b), KEYS.slice(b * 100, b * 100 + 100));
  return measure(
    {
      label: `getMany(100) from ${tier}`,
      mode: 'perOp',
      call: (b) => cache.getMany(batches.get(b) as string[]),
    },
    [...batches.keys()],
    { ...plan, perOpCalls: Math.max(50, plan.perOpCalls / 4) },
    tick,
  );
}

async function l2Rows(ctx: SectionContext, plan: Plan, tick: () => void): Promise<Row[]> {
  const redis = await pinnedRedis(ctx);
  const url = redis.url;
  const namespace = benchNamespace('latency-l2');
  const store = redisStore({ url, prefix: KEY_PREFIX });
  // L1 on, as users run it, but smaller than the keys read in order: every read misses
  // L1, hits Redis and is copied into L1, as the baseline's lru.set does.
  const cache = new TieredCache<Record<string, unknown>>({
    namespace,
    l1: { max: SMALL_L1 },
    stores: [store],
    ttl: '1h',
    guard: BUSY_MACHINE_GUARD,
  });
  const bare = new Redis(url);
  const lru = new LRUCache<string, Record<string, unknown>>({ max: SMALL_L1 });
  // Runs read the keys in order from the first: a warm-up of the whole key set leaves
  // the last keys in L1, not the first ones (a run of N calls ending on key N - 1).
  const l2Plan: Plan = { ...plan, warmupCalls: KEYS.length };
  try {
    await prefill(cache, store, namespace, KEYS);
    const full = (key: string) => `${store.prefix}${namespace}:${key}`;
    const offset = await valueOffset(bare, full);
    // The floor: the very bytes the store holds (the envelope header skipped for free),
    // decoded and put in an LRU, as a hand-wired read-through does on an L1 miss.
    const raw = {
      label: 'ioredis getBuffer + msgpackr unpack + lru.set',
      mode: 'perOp' as const,
      call: async (k: string) => {
        if (lru.get(k) !== undefined) throw new Error(`L2 baseline: ${k} was an L1 hit`);
        const bytes = await bare.getBuffer(full(k));
        const value =
          bytes === null ? undefined : (bareCodec.decode(bytes.subarray(offset)) as Record<string, unknown>);
        if (value !== undefined) lru.set(k, value);
        return value;
      },
    };
    const get = await compare(
      { label: 'get(), L2 hit', mode: 'perOp', call: (k) => cache.get(k) },
      raw,
      KEYS,
      l2Plan,
      tick,
    );
    const getOrSet = await compare(
      { label: 'getOrSet, L2 hit', mode: 'perOp', call: (k) => cache.getOrSet(k, loader) },
      raw,
      KEYS,
      l2Plan,
      tick,
    );
    const many = await measureGetMany(cache, 'L2', plan, tick);
    const stats = cache.stats();
    if (stats.l1.hits !== 0)
      throw new Error(`L2 rows: ${stats.l1.hits} reads hit L1; every read should miss it`);
    const baselineName = 'GET + unpack + lru.set';
    return [
      { name: 'L2 hit, get() p50', baselineName, comparison: get, target: 1.05, ...missNote(stats) },
      { name: 'L2 hit, getOrSet p50', baselineName, comparison: getOrSet, target: 1.05 },
      { name: 'getMany(100), L2', alone: many, note: redis.placement },
    ];
  } finally {
    await inTurn(
      () => cache.close(),
      () => bare.disconnect(),
      () => removeNamespace(url, namespace),
      () => redis.stop(),
    );
  }
}

/**
 * Where the msgpack value starts inside the entry envelope the cache wrote: the envelope
 * length minus the value's own encoded length, checked on several keys by decoding and
 * comparing, so a change of envelope layout fails loudly instead of skewing the baseline.
 */
async function valueOffset(bare: Redis, full: (key: string) => string): Promise<number> {
  let offset: number | undefined;
  for (const key of KEYS.slice(0, 20)) {
    const bytes = await bare.getBuffer(full(key));
    if (bytes === null) throw new Error(`L2 baseline: ${full(key)} is not in Redis after prefill`);
    const at = bytes.length - bareCodec.encode(valueFor(key)).length;
    const decoded = bareCodec.decode(bytes.subarray(at));
    if (
      (offset !== undefined && at !== offset) ||
      JSON.stringify(decoded) !== JSON.stringify(valueFor(key))
    ) {
      throw new Error(`L2 baseline: cannot find the value inside the entry envelope of ${full(key)}`);
    }
    offset = at;
  }
  return offset as number;
}

/** {@link valueOffset} for the L3 row: where the value starts inside the envelope Postgres holds. */
async function pgValueOffset(pool: pg.Pool, text: string, prefix: string): Promise<number> {
  const key = KEYS[0] as string;
  const { rows } = await pool.query<{ value: Buffer }>(text, [prefix + key]);
  const bytes = rows[0]?.value;
  if (bytes === undefined) throw new Error(`L3 baseline: ${prefix}${key} is not in Postgres after prefill`);
  const at = bytes.length - bareCodec.encode(valueFor(key)).length;
  if (JSON.stringify(bareCodec.decode(bytes.subarray(at))) !== JSON.stringify(valueFor(key)))
    throw new Error(`L3 baseline: cannot find the value inside the entry envelope of ${prefix}${key}`);
  return at;
}

async function l3Rows(ctx: SectionContext, plan: Plan, tick: () => void): Promise<Row[]> {
  const url = await ctx.services.postgres();
  const schema = benchSchema('latency_l3');
  const store = postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 });
  const namespace = benchNamespace('latency-l3');
  const cache = new TieredCache<Record<string, unknown>>({
    namespace,
    l1: false,
    stores: [store],
    ttl: '1h',
    guard: BUSY_MACHINE_GUARD,
  });
  const pool = new pg.Pool({ connectionString: url, allowExitOnIdle: true });
  pool.on('error', () => {});
  try {
    await prefill(cache, store, namespace, KEYS);
    const prefix = `${namespace}:`;
    // The bare baseline: a named (prepared) primary-key lookup of the same row, unpacked.
    const select = {
      name: 'tcbench_pk_select',
      text: `SELECT value FROM ${store.qualifiedTable} WHERE key = $1`,
    };
    const offset = await pgValueOffset(pool, select.text, prefix);
    const hit = await compare(
      { label: 'getOrSet, L3 hit', mode: 'perOp', call: (k) => cache.getOrSet(k, loader) },
      {
        label: 'pg prepared PK SELECT + msgpackr unpack',
        mode: 'perOp',
        call: async (k) => {
          const row = (await pool.query<{ value: Buffer }>({ ...select, values: [prefix + k] })).rows[0];
          return row === undefined ? undefined : bareCodec.decode(row.value.subarray(offset));
        },
      },
      KEYS,
      plan,
      tick,
    );
    const many = await measureGetMany(cache, 'L3', plan, tick);
    const stats = cache.stats();
    return [
      {
        name: 'L3 hit, getOrSet p50',
        baselineName: 'PK SELECT + unpack',
        comparison: hit,
        target: 1.1,
        ...missNote(stats),
      },
      { name: 'getMany(100), L3', alone: many },
    ];
  } finally {
    await inTurn(
      () => cache.close(),
      () => pool.end(),
      () => dropSchema(url, schema),
    );
  }
}

async function missRows(ctx: SectionContext, plan: Plan, tick: () => void): Promise<Row[]> {
  const redisUrl = await ctx.services.redis();
  const pgUrl = await ctx.services.postgres();
  const schema = benchSchema('latency_miss');
  const namespace = benchNamespace('latency-miss');
  const store = postgresStore({ connectionString: pgUrl, schema, sweepIntervalMs: 0 });
  const cache = new TieredCache<Record<string, unknown>>({
    namespace,
    l1: { max: 10_000 },
    stores: [redisStore({ url: redisUrl, prefix: KEY_PREFIX }), store],
    ttl: '1h',
    guard: BUSY_MACHINE_GUARD,
  });
  let n = 0;
  try {
    await store.ensureSchema();
    // Every call a key never seen: L1, L2 and L3 miss, the loader runs, all tiers are written.
    const figures = await measure(
      { label: 'getOrSet miss → loader', mode: 'perOp', call: () => cache.getOrSet(`miss:${n++}`, loader) },
      KEYS,
      { ...plan, perOpCalls: Math.max(100, plan.perOpCalls / 2) },
      tick,
    );
    const stats = cache.stats();
    if (stats.loader.ok + stats.loader.failed !== n)
      throw new Error(`miss row: ${n} calls but ${stats.loader.ok + stats.loader.failed} loader calls`);
    return [{ name: 'miss, L1 → L2 → L3 → loader', alone: figures, note: 'includes writing L1 + L2 + L3' }];
  } finally {
    // The miss keys are the ones that used to stay behind: thousands of them, each new.
    await inTurn(
      () => cache.close(),
      () => removeNamespace(redisUrl, namespace),
      () => dropSchema(pgUrl, schema),
    );
  }
}

/**
 * A hit row's calls should all hit; on a loaded machine a store read can outlive its guard
 * timeout and fall through to the loader. Reported beside the row, not hidden or fatal.
 */
function missNote(stats: CacheStats): { note?: string } {
  const loads = stats.loader.ok + stats.loader.failed;
  const errors = Object.values(stats.stores).reduce((sum, s) => sum + s.errors, 0);
  if (loads === 0 && errors === 0) return {};
  return {
    note: `${loads} call(s) missed and ran the loader; ${errors} store error(s) (guard timeouts under load)`,
  };
}
