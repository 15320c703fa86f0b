import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVersion, VersionClock } from '../../../src/entry/version.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';

// The version clock formats a millisecond once and reuses it (the hot path takes a
// load's version on every L1 miss): what it hands out must be what formatting each
// version afresh would give, and keep the clock's order.
describe('VersionClock', () => {
  const fresh = (ms: number, counter: number, tag: string) =>
    ms.toString(16).padStart(12, '0') + counter.toString(16).padStart(4, '0') + tag;

  it('hands out well-formed, increasing versions, loads below the writes of their millisecond (property)', () => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.oneof(
          fc.constant(0),
          fc.integer({ min: 1, max: 3 }),
          fc.double({ min: 0, max: 2, noNaN: true }),
        ),
      }),
      fc.record({ kind: fc.constant('next' as const) }),
      fc.record({ kind: fc.constant('snapshot' as const) }),
      fc.record({
        kind: fc.constant('observe' as const),
        ahead: fc.integer({ min: -3, max: 3 }),
        counter: fc.nat(20),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const clock = new FakeClock(1_700_000_000_000);
        const versions = new VersionClock(clock, 'abcdef01');
        let last = '';
        for (const s of steps) {
          const ms = Math.floor(clock.now());
          if (s.kind === 'advance') clock.advance(s.ms);
          else if (s.kind === 'next') {
            const v = versions.next();
            expect(isVersion(v)).toBe(true);
            expect(v > last).toBe(true);
            expect(v.endsWith('abcdef01')).toBe(true);
            last = v;
          } else if (s.kind === 'snapshot') {
            const v = versions.snapshot();
            expect(v).toBe(fresh(ms, 0, 'abcdef01'));
            // A load's version loses to every write of its millisecond.
            const write = versions.next();
            expect(write > v).toBe(true);
            last = write;
          } else {
            const seen = fresh(ms + s.ahead, s.counter, '12345678');
            versions.observe(seen);
            const v = versions.next();
            expect(v > seen).toBe(true); // after a version seen elsewhere (HLC receive)
            expect(v > last).toBe(true);
            last = v;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
