/**
 * What tags cost a hit (issue 22): the same read of the same ~1 KB values, entries
 * written with three tags against entries written with none, same process, rounds
 * interleaved. An L1 hit reads no tag at all (deleteByTag drops tagged L1 entries when it
 * happens); a store hit checks each tag's generation in memory, and the first hit of a
 * tag this instance never saw asks each store for it once (not measured here: one
 * `getMany` per store, by construction).
 */
import { TieredCache } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { redisStore } from '../../src/redis/index.js';
import { type Comparison, compare, type Plan } from '../measure.js';
import { progress } from '../progress.js';
import { duration, type Table } from '../report.js';
import { benchNamespace, benchSchema, dropSchema, inTurn, KEY_PREFIX, removeNamespace } from '../scratch.js';
import type { Section, SectionContext } from '../section.js';
import { SkipSection } from '../services.js';

const KEYS = Array.from({ length: 1_000 }, (_, i) => `item:${i}`);
const TAGS = ['tenant:1', 'category:7', 'feed'];
const value = (key: string) => ({ key, body: 'x'.repeat(1_000) });
const loader = (ctx: { key: string }) => value(ctx.key);

const FULL: Plan = { rounds: 9, batchMs: 200, perOpCalls: 3_000, warmupMs: 300, warmupCalls: 1_000 };
const QUICK: Plan = { rounds: 5, batchMs: 25, perOpCalls: 300, warmupMs: 50, warmupCalls: 100 };

type Tier = 'L1' | 'L2 (Redis)' | 'L3 (Postgres)';

export const tagsSection: Section = {
  name: 'tags',
  title: 'tags: a hit of an entry with 3 tags vs one with none',
  async run(ctx) {
    const plan = ctx.args.quick ? QUICK : FULL;
    const bar = progress('tags', plan.rounds * 2 * 3);
    const rows: Array<{ tier: Tier; comparison?: Comparison; skipped?: string }> = [];
    const skipped: string[] = [];
    try {
      for (const tier of ['L1', 'L2 (Redis)', 'L3 (Postgres)'] as const) {
        try {
          rows.push({ tier, comparison: await hitRow(ctx, tier, plan, () => bar.tick()) });
        } catch (error) {
          if (!(error instanceof SkipSection)) throw error;
          skipped.push(`${tier}: ${error.message}`);
          rows.push({ tier, skipped: error.message });
        }
      }
    } finally {
      bar.stop();
    }
    const table: Table = {
      title: 'tags: getOrSet hit, 3 tags vs none (ratio = median of per-round ratios)',
      header: ['tier', 'tagged p50', 'untagged p50', 'ratio'],
      rows: rows.map(({ tier, comparison: c, skipped: s }) =>
        c === undefined
          ? [tier, 'skipped', s ?? '', '']
          : [tier, duration(c.subject.p50), duration(c.baseline.p50), `${c.ratio.toFixed(3)}x`],
      ),
      notes: ['L1 hits read no tags; store hits look each tag up in memory once the instance knows it.'],
    };
    return {
      figures: Object.fromEntries(rows.map(({ tier, comparison: c }) => [tier, c?.ratio ?? null])),
      tables: [table],
      skippedParts: skipped,
    };
  },
};

/** Two caches over the same tier, one writing tagged entries and one untagged, compared on hits. */
async function hitRow(ctx: SectionContext, tier: Tier, plan: Plan, tick: () => void): Promise<Comparison> {
  const url =
    tier === 'L2 (Redis)'
      ? await ctx.services.redis()
      : tier === 'L3 (Postgres)'
        ? await ctx.services.postgres()
        : '';
  const schema = benchSchema('tags');
  const stores = () =>
    tier === 'L1'
      ? []
      : [
          tier === 'L2 (Redis)'
            ? redisStore({ url, prefix: KEY_PREFIX })
            : postgresStore({ connectionString: url, schema, sweepIntervalMs: 0 }),
        ];
  const namespaces = [benchNamespace('tags-on'), benchNamespace('tags-off')];
  const make = (namespace: string) =>
    new TieredCache<unknown>({
      namespace,
      l1: tier === 'L1' ? { max: 10_000 } : false,
      stores: stores(),
      ttl: '1h',
    });
  const [tagged, untagged] = namespaces.map(make) as [TieredCache<unknown>, TieredCache<unknown>];
  try {
    for (let i = 0; i < KEYS.length; i += 100) {
      const chunk = KEYS.slice(i, i + 100);
      await tagged.setMany(chunk.map((key) => ({ key, value: value(key), options: { tags: TAGS } })));
      await untagged.setMany(chunk.map((key) => ({ key, value: value(key) })));
    }
    // The tags' generations become known to the reader on its first hit, as in production.
    await tagged.get(KEYS[0] as string);
    const mode = tier === 'L1' ? 'batch-async' : 'perOp';
    return await compare(
      { label: `getOrSet ${tier} hit, 3 tags`, mode, call: (k) => tagged.getOrSet(k, loader) },
      { label: `getOrSet ${tier} hit, no tags`, mode, call: (k) => untagged.getOrSet(k, loader) },
      KEYS,
      plan,
      tick,
    );
  } finally {
    await inTurn(
      () => tagged.close(),
      () => untagged.close(),
      () =>
        tier === 'L2 (Redis)' ? Promise.all(namespaces.map((ns) => removeNamespace(url, ns))) : undefined,
      () => (tier === 'L3 (Postgres)' ? dropSchema(url, schema) : undefined),
    );
  }
}
