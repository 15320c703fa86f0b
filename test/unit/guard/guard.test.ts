import { describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { makeEntry } from '../../../src/entry/entry.js';
import { StoreUnavailableError } from '../../../src/errors.js';
import type { TieredCacheOptions } from '../../../src/options/cache-options.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { MemoryStore as ByteStore } from '../../../src/testing/memory-store.js';

const NS = 'guard';
const K = `${NS}:k`;

// Two stores: s1 behind a ChaosStore, s2 healthy. L1 is off so every read walks the stores.
function setup(extra: Partial<TieredCacheOptions> = {}) {
  const clock = new FakeClock();
  const b1 = new ByteStore('s1', clock);
  const b2 = new ByteStore('s2', clock);
  const s1 = new ChaosStore(b1);
  const errors: Error[] = [];
  const cache = new TieredCache<string>({
    namespace: NS,
    clock,
    random: () => 0,
    ttl: 10_000,
    l1: false,
    stores: [s1, b2],
    guard: { timeout: 20, failureThreshold: 3, cooldown: '1s' },
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { clock, b1, b2, s1, cache, errors };
}

describe('guard: timeout and fail-open', () => {
  it('a hanging store times out and is skipped; the next store answers', async () => {
    const { cache, b2, s1, clock, errors } = setup();
    b2.put(K, makeEntry('from-s2', clock.now(), 10_000, 0));
    // Writes hang too: otherwise the backfill into s1 succeeds at once and, as any
    // success does, resets the failure count before health() is read.
    s1.hang(['get', 'setMany']);
    expect(await cache.get('k')).toBe('from-s2');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
    expect((errors[0] as StoreUnavailableError).store).toBe('s1');
    expect(errors[0]?.message).toMatch(/timed out after 20 ms/);
    expect(cache.stats().stores.s1?.errors).toBe(1);
    expect(cache.health().stores.s1).toMatchObject({ status: 'degraded', breaker: 'closed' });
  });

  it('a failing store is skipped on reads and writes, never failing the call', async () => {
    const { cache, b2, s1 } = setup();
    s1.fail();
    await cache.set('k', 'v');
    expect(b2.entry(K)?.value).toBe('v');
    expect(await cache.get('k')).toBe('v');
    expect(await cache.getMany(['k', 'x'])).toEqual(['v', undefined]);
    expect(await cache.getOrSet('j', async () => 'loaded')).toBe('loaded');
    await cache.delete('k');
    await cache.clear();
    expect(cache.stats().stores.s1?.errors).toBeGreaterThanOrEqual(3);
    expect(cache.stats().stores.s2?.errors).toBe(0);
  });

  it('strict mode rejects with StoreUnavailableError naming the store', async () => {
    const { cache, s1 } = setup({ strict: true, guard: { timeout: 20, failureThreshold: 100 } });
    s1.fail();
    for (const call of [
      () => cache.get('k'),
      () => cache.set('k', 'v'),
      () => cache.delete('k'),
      () => cache.getMany(['k']),
      () => cache.getOrSet('k', async () => 'v'),
      () => cache.getOrSetMany(['k'], async () => ['v']),
      () => cache.clear(),
    ]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).store).toBe('s1');
      expect((error as Error).message).toContain('chaos');
    }
  });
});

describe('guard: circuit breaker', () => {
  it('opens after N consecutive failures and then stops calling the store', async () => {
    const { cache, s1 } = setup();
    s1.fail(['get']);
    for (let i = 0; i < 3; i++) await cache.get('k');
    expect(s1.attemptsOf('get')).toHaveLength(3);
    expect(cache.health().stores.s1).toMatchObject({ status: 'down', breaker: 'open' });
    expect(cache.health().status).toBe('degraded');
    await cache.get('k');
    await cache.set('k', 'v');
    expect(s1.attemptsOf('get')).toHaveLength(3);
    expect(s1.attemptsOf('setMany')).toHaveLength(0);
    expect(cache.stats().stores.s1?.errors).toBe(5);
  });

  it('a success resets the count: failures must be consecutive', async () => {
    const { cache, s1 } = setup();
    for (let i = 0; i < 4; i++) {
      s1.fail(['get']);
      await cache.get('k');
      await cache.get('k');
      s1.heal();
      await cache.get('k');
    }
    expect(cache.health().stores.s1?.breaker).toBe('closed');
  });

  it('after the cooldown one probe goes through: success closes the breaker', async () => {
    const { cache, s1, clock } = setup();
    s1.fail(['get']);
    for (let i = 0; i < 3; i++) await cache.get('k');
    clock.advance(999);
    expect(cache.health().stores.s1?.breaker).toBe('open');
    clock.advance(1);
    expect(cache.health().stores.s1?.breaker).toBe('half-open');
    s1.heal();
    const gate = s1.hold('get');
    const probe = cache.get('k');
    await gate.entered;
    // While the probe is in flight, other calls are turned away without reaching the store.
    await cache.get('other');
    expect(s1.attemptsOf('get').map((a) => a.keys[0])).toEqual([K, K, K, K]);
    gate.release();
    await probe;
    expect(cache.health().stores.s1).toMatchObject({ status: 'up', breaker: 'closed' });
    await cache.get('other');
    expect(s1.attemptsOf('get')).toHaveLength(5);
  });

  it('a failed probe opens the breaker again for a full cooldown', async () => {
    const { cache, s1, clock } = setup();
    s1.fail(['get']);
    for (let i = 0; i < 3; i++) await cache.get('k');
    clock.advance(1_000);
    await cache.get('k'); // the probe, failing
    expect(s1.attemptsOf('get')).toHaveLength(4);
    expect(cache.health().stores.s1?.breaker).toBe('open');
    clock.advance(999);
    await cache.get('k');
    expect(s1.attemptsOf('get')).toHaveLength(4);
    clock.advance(1);
    s1.heal();
    await cache.get('k');
    expect(s1.attemptsOf('get')).toHaveLength(5);
    expect(cache.health().stores.s1?.breaker).toBe('closed');
  });

  it('a timed-out probe counts as a failure', async () => {
    const { cache, s1, clock } = setup();
    s1.fail(['get']);
    for (let i = 0; i < 3; i++) await cache.get('k');
    clock.advance(1_000);
    s1.heal();
    s1.hang(['get']);
    await cache.get('k');
    expect(cache.health().stores.s1?.breaker).toBe('open');
  });
});

describe('guard: repair after an outage (no stale read after recovery)', () => {
  it('a key set while the store failed is deleted from it before it is read again', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['setMany']);
    await cache.set('k', 'new');
    expect(b1.entry(K)?.value).toBe('old');
    s1.heal();
    expect(await cache.get('k')).toBe('new');
    // s1 was repaired (old deleted, by a tombstone just below 'new') before its read; the
    // hit in s2 then backfilled it.
    expect(b1.entry(K)?.value).toBe('new');
    const ops = s1.attempts.map((a) => a.op);
    expect(ops.lastIndexOf('setMany', ops.lastIndexOf('get'))).toBeGreaterThan(ops.indexOf('setMany'));
  });

  it('a key deleted while the store failed is not read from it after recovery', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['deleteMany']);
    await cache.delete('k');
    s1.heal();
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getMany(['k'])).toEqual([undefined]);
  });

  it('writes skipped while the breaker was open are repaired too', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['get']);
    for (let i = 0; i < 3; i++) await cache.get('zz');
    await cache.set('k', 'new'); // s1 skipped: breaker open
    clock.advance(1_000);
    s1.heal();
    expect(await cache.get('k')).toBe('new');
    expect(b1.entry(K)?.value).toBe('new');
    // The repair: a tombstone of K, before the read.
    expect(s1.attemptsOf('setMany').some((a) => a.keys.length === 1 && a.keys[0] === K)).toBe(true);
  });

  it('a failed repair keeps the store out of reads: no stale value is served', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['setMany', 'deleteMany']);
    await cache.set('k', 'new');
    s1.heal();
    // The repair (a tombstone write) fails.
    s1.fail(['setMany']);
    expect(await cache.get('k')).toBe('new');
    expect(s1.attemptsOf('get')).toHaveLength(0);
    s1.heal();
    // The failed repair and the failed backfill of 'new' opened the breaker: past its cooldown.
    clock.advance(1_000);
    expect(await cache.get('k')).toBe('new');
    expect(b1.entry(K)?.value).toBe('new');
  });

  it('past 10,000 missed keys the whole namespace is cleared from the store instead', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    b1.put('other:k', makeEntry('other-ns', clock.now(), 10_000, 0));
    b1.put(`${NS}:untouched`, makeEntry('u', clock.now(), 10_000, 0));
    s1.fail(['setMany']);
    await cache.setMany(Array.from({ length: 10_001 }, (_, i) => ({ key: `bulk${i}`, value: 'x' })));
    await cache.set('k', 'new');
    s1.heal();
    // Cleared behind an epoch at the newest missed write (nothing older can come back):
    // the writes made during the outage are misses too, never 'old'.
    expect(await cache.get('k')).toBeUndefined();
    expect(s1.attemptsOf('clear').map((a) => a.keys)).toEqual([[`${NS}:`]]);
    expect(s1.attemptsOf('deleteMany')).toHaveLength(0);
    expect(b1.entry(K)).toBeUndefined();
    // A key that was never written while s1 failed went too: the namespace was cleared.
    expect(b1.data.has(`${NS}:untouched`)).toBe(false);
    expect(b1.data.has('other:k')).toBe(true);
  });

  it('a clear that failed on the store is redone before the store is read', async () => {
    const { cache, b1, s1, clock } = setup();
    b1.put(K, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['clear']);
    await cache.clear();
    s1.heal();
    expect(await cache.get('k')).toBeUndefined();
    expect(b1.data.has(K)).toBe(false);
  });

  it('a view clear that failed on the store does not leave the view’s keys to be read after recovery', async () => {
    const { cache, b1, s1, clock } = setup();
    const view = cache.namespace('v');
    b1.put(`${NS}:v:a`, makeEntry('old', clock.now(), 10_000, 0));
    s1.fail(['clear']);
    await view.clear();
    s1.heal();
    expect(await view.get('a')).toBeUndefined();
    expect(b1.data.has(`${NS}:v:a`)).toBe(false);
  });
});
