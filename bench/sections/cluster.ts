/**
 * tiercache on a Redis Cluster against a bare ioredis `Cluster`, same process, rounds
 * interleaved (the order flips every round), ratio = median of per-round ratios:
 *
 * - L2 hit: `getOrSet` with `l1: false` over the cluster store vs `cluster.getBuffer` of
 *   the very bytes the store holds + msgpackr unpack, one sequential caller;
 * - mixed: 16 concurrent callers, Zipf 0.99 over 100k keys (10k with --quick), L1 of 10k
 *   entries, 90% getOrSet / 10% set, values of ~1 KB, vs the hand-wired lru-cache +
 *   ioredis Cluster cache (get, on a miss load + SET PX, and set = lru.set + SET PX).
 *
 * The cluster: `REDIS_CLUSTER_NODES` (`host:port,…`), else a 6-node cluster of our own
 * (test/support/cluster.ts) where `redis-server` and `redis-cli` are on PATH, stopped
 * when the section ends; else the section is skipped.
 */
import { Cluster } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { msgpackCodec, TieredCache } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { clusterNodesFromEnv, type OwnCluster, startRedisCluster } from '../../test/support/cluster.js';
import { compare, type Plan } from '../measure.js';
import { rate, type Table } from '../report.js';
import { benchNamespace, inTurn, KEY_PREFIX } from '../scratch.js';
import type { Section } from '../section.js';
import { SkipSection } from '../services.js';
import { median } from '../stats.js';
import { zipfRanks } from '../zipf.js';

const HIT_KEYS = Array.from({ length: 1_000 }, (_, i) => `user:${i}`);
const PAD = 'x'.repeat(900);
/** A ~1 KB row. */
const valueFor = (key: string) => ({
  key,
  name: `User ${key}`,
  roles: ['reader'],
  pad: PAD,
  at: 1_700_000_000_000,
});
const codec = msgpackCodec();

const FULL: Plan = { rounds: 7, batchMs: 0, perOpCalls: 3_000, warmupMs: 0, warmupCalls: 1_000 };
const QUICK: Plan = { rounds: 3, batchMs: 0, perOpCalls: 500, warmupMs: 0, warmupCalls: 200 };

/** Where the cluster comes from, and how to let go of it. */
async function openCluster(): Promise<{
  nodes: Array<{ host: string; port: number }>;
  source: string;
  own?: OwnCluster;
}> {
  const fromEnv = clusterNodesFromEnv();
  if (fromEnv) return { nodes: fromEnv, source: 'REDIS_CLUSTER_NODES' };
  try {
    const own = await startRedisCluster();
    return { nodes: [...own.startupNodes], source: 'own 6-node cluster', own };
  } catch (error) {
    throw new SkipSection(
      `no Redis Cluster: set REDIS_CLUSTER_NODES=host:port,… or put redis-server and redis-cli on PATH (${(error as Error).message})`,
    );
  }
}

/**
 * A Cluster client, connected: until it knows the slot map and has reached the masters,
 * its first commands outlive the store's 50 ms guard timeout and open the breaker,
 * which would measure the connection, not the cache.
 */
async function newClient(nodes: Array<{ host: string; port: number }>): Promise<Cluster> {
  const client = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => {});
  await Promise.all(client.nodes('master').map((node) => node.ping()));
  await client.ping();
  await Promise.all(client.nodes('master').map((node) => node.ping()));
  return client;
}

/** Zipf(s) sampler over `n` ranks (see bench/zipf.ts), drawn with Math.random. */
function zipf(n: number, s: number): () => number {
  const rank = zipfRanks(n, s);
  return () => rank(Math.random());
}

/** A cache under the mixed load: a read-through get and a set. */
interface Mixed {
  get(key: string): Promise<unknown>;
  set(key: string): Promise<unknown>;
}

/** 16 callers for `ms`: 90% get / 10% set over Zipf keys; resolves ops/s. */
async function runMixed(
  cache: Mixed,
  keys: readonly string[],
  pick: () => number,
  ms: number,
): Promise<number> {
  let ops = 0;
  const until = performance.now() + ms;
  const caller = async () => {
    while (performance.now() < until) {
      const key = keys[pick()] as string;
      if (Math.random() < 0.9) await cache.get(key);
      else await cache.set(key);
      ops++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 16 }, caller));
  return ops / ((performance.now() - started) / 1000);
}

/** The hand-wired baseline: lru-cache in front of an ioredis Cluster, TTL by PX. */
function handWired(client: Cluster, prefix: string): Mixed {
  const lru = new LRUCache<string, object>({ max: 10_000 });
  const write = (key: string, value: object) => {
    lru.set(key, value);
    return client.set(prefix + key, codec.encode(value) as Buffer, 'PX', 600_000);
  };
  return {
    async get(key) {
      const held = lru.get(key);
      if (held !== undefined) return held;
      const bytes = await client.getBuffer(prefix + key);
      if (bytes !== null) {
        const value = codec.decode(bytes) as object;
        lru.set(key, value);
        return value;
      }
      const value = valueFor(key);
      await write(key, value);
      return value;
    },
    set: (key) => write(key, valueFor(key)),
  };
}

async function l2Hit(nodes: Array<{ host: string; port: number }>, plan: Plan) {
  const client = await newClient(nodes);
  const namespace = benchNamespace('cluster-l2');
  const cache = new TieredCache<object>({
    namespace,
    l1: false,
    stores: [redisStore({ client, prefix: KEY_PREFIX })],
    ttl: '1h',
  });
  try {
    await cache.setMany(HIT_KEYS.map((key) => ({ key, value: valueFor(key) })));
    const full = (key: string) => `${KEY_PREFIX}${namespace}:${key}`;
    const sample = (await client.getBuffer(full(HIT_KEYS[0] as string))) as Buffer;
    const offset = sample.length - (codec.encode(valueFor(HIT_KEYS[0] as string)) as Uint8Array).length;
    return await compare(
      {
        label: 'getOrSet, L2 hit (cluster)',
        mode: 'perOp',
        call: (k) => cache.getOrSet(k, () => valueFor(k)),
      },
      {
        label: 'Cluster getBuffer + unpack',
        mode: 'perOp',
        call: async (k) => {
          const bytes = await client.getBuffer(full(k));
          return bytes === null ? undefined : codec.decode(bytes.subarray(offset));
        },
      },
      HIT_KEYS,
      plan,
    );
  } finally {
    await inTurn(
      () => cache.clear(),
      () => cache.close(),
      () => client.quit(),
    );
  }
}

async function mixed(nodes: Array<{ host: string; port: number }>, quick: boolean) {
  const keys = Array.from({ length: quick ? 10_000 : 100_000 }, (_, i) => `item:${i}`);
  const pick = zipf(keys.length, 0.99);
  const ms = quick ? 1_000 : 3_000;
  const rounds = quick ? 3 : 5;
  const client = await newClient(nodes);
  const bareClient = await newClient(nodes);
  const namespace = benchNamespace('cluster-mixed');
  const cache = new TieredCache<object>({
    namespace,
    l1: { max: 10_000 },
    stores: [redisStore({ client, prefix: KEY_PREFIX })],
    ttl: '10m',
  });
  const subject: Mixed = {
    get: (key) => cache.getOrSet(key, () => valueFor(key)),
    set: (key) => cache.set(key, valueFor(key)),
  };
  const barePrefix = `${KEY_PREFIX}${benchNamespace('cluster-bare')}:`;
  const baseline = handWired(bareClient, barePrefix);
  const ratios: number[] = [];
  const subjectOps: number[] = [];
  const baselineOps: number[] = [];
  try {
    await runMixed(baseline, keys, pick, ms);
    await runMixed(subject, keys, pick, ms);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['baseline', 'subject'] as const) : (['subject', 'baseline'] as const);
      const got: Record<string, number> = {};
      for (const who of order)
        got[who] = await runMixed(who === 'subject' ? subject : baseline, keys, pick, ms);
      subjectOps.push(got.subject as number);
      baselineOps.push(got.baseline as number);
      ratios.push((got.subject as number) / (got.baseline as number));
    }
    return {
      ratio: median(ratios),
      ratios,
      subjectOps: median(subjectOps),
      baselineOps: median(baselineOps),
      // Store calls the guard skipped (timeouts, an open breaker): the run's health.
      errors: cache.stats().stores.redis?.errors ?? 0,
    };
  } finally {
    await inTurn(
      () => cache.clear(),
      () => cache.close(),
      () => removeBare(bareClient, barePrefix),
      () => client.quit(),
      () => bareClient.quit(),
    );
  }
}

/** Deletes the baseline's keys on every master. */
async function removeBare(client: Cluster, prefix: string): Promise<void> {
  const store = redisStore({ client, prefix });
  await store.clear('');
}

export const clusterSection: Section = {
  name: 'cluster',
  title: 'L2 hit and mixed throughput on a Redis Cluster vs a bare ioredis Cluster',
  async run(ctx) {
    const { nodes, source, own } = await openCluster();
    ctx.log(`  cluster: ${source} (${nodes.map((n) => `${n.host}:${n.port}`).join(', ')})`);
    try {
      const hit = await l2Hit(nodes, ctx.args.quick ? QUICK : FULL);
      const mix = await mixed(nodes, ctx.args.quick);
      const table: Table = {
        title: `cluster (${source})`,
        header: ['row', 'tiercache', 'bare Cluster', 'ratio', 'target'],
        rows: [
          [
            'L2 hit p50: getOrSet vs getBuffer + unpack',
            `${(hit.subject.nsPerOp / 1000).toFixed(1)} µs`,
            `${(hit.baseline.nsPerOp / 1000).toFixed(1)} µs`,
            `${hit.ratio.toFixed(2)}x`,
            '≤ 1.05x (single node)',
          ],
          [
            'mixed, 16 callers, Zipf 0.99, 90/10',
            rate(mix.subjectOps),
            rate(mix.baselineOps),
            `${mix.ratio.toFixed(2)}x`,
            '≥ 0.95x (single node)',
          ],
        ],
        notes: [
          'Targets are the single-node ones (docs/architecture.md); a cluster adds no target of its own.',
          'ratio = median of per-round ratios, rounds interleaved, order flipped each round.',
          `mixed: ${mix.errors} store calls skipped by the guard (timeouts, open breaker) during the run.`,
        ],
      };
      return {
        figures: {
          source,
          l2Hit: { ratio: hit.ratio, ratios: hit.ratios, subject: hit.subject, baseline: hit.baseline },
          mixed: mix,
        },
        tables: [table],
      };
    } finally {
      await own?.stop();
    }
  },
};
