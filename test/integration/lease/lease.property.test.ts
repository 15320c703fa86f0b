/**
 * The lease under random interleavings, on the real Redis: 2-4 instances (separate
 * caches, each its own clients), each with a burst of concurrent misses of one key
 * starting at a random moment, the loader taking a random time (0 ms included, so a
 * late instance often walks the stores before the value lands and asks the lease after
 * it was released). Whatever the order: one loader call in all, one value for everyone.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { redisStore } from '../../../src/redis/index.js';
import { redisUrlForTests } from '../../support/services.js';
import { leaseTestRig } from './support.js';

const url = await redisUrlForTests();
const rig = leaseTestRig(url);
const RUNS = 40;

afterAll(() => rig.cleanup());

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('lease property', () => {
  it('any interleaving of instances missing one key: exactly one load, one value', async () => {
    const ns = rig.namespace('lease-prop');
    const caches = Array.from({ length: 4 }, () =>
      rig.keep(
        new TieredCache<string>({
          namespace: ns,
          stores: [redisStore({ url })],
          l1: false,
          ttl: '1m',
          // A loaded machine can take past the 50 ms default: a lease call that times out
          // is skipped by design, and this property is about the protocol.
          guard: { timeout: '1s' },
        }),
      ),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ startMs: fc.nat(20), callers: fc.integer({ min: 1, max: 20 }) }), {
          minLength: 2,
          maxLength: 4,
        }),
        fc.nat(20),
        async (instances, loadMs) => {
          const key = `k${run++}`;
          let loads = 0;
          const loader = async () => {
            loads++;
            if (loadMs > 0) await delay(loadMs);
            return `${key}-value-${loads}`;
          };
          const values = await Promise.all(
            instances.map(async ({ startMs, callers }, i) => {
              await delay(startMs);
              const cache = caches[i] as TieredCache<string>;
              return Promise.all(Array.from({ length: callers }, () => cache.getOrSet(key, loader)));
            }),
          );
          expect(loads).toBe(1);
          expect(new Set(values.flat())).toEqual(new Set([`${key}-value-1`]));
        },
      ),
      { numRuns: RUNS },
    );
  }, 60_000);
});
