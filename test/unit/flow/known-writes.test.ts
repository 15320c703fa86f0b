import { describe, expect, it } from 'vitest';
import { VersionClock } from '../../../src/entry/version.js';
import { KnownWrites } from '../../../src/flow/known-writes.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';

// A load's version: below every write it did not know of when it started (made anywhere
// in its millisecond or later), above every write it did (so a reload after a delete is
// cached). Frozen clocks make the millisecond as wide as the test needs.

function setup() {
  const clock = new FakeClock(1_700_000_000_000);
  const a = new VersionClock(clock, 'aaaaaaaa');
  const b = new VersionClock(clock, '00000001');
  return { clock, a, b, known: new KnownWrites(a, clock) };
}

describe('KnownWrites: the version of a load', () => {
  it('loses to a write made elsewhere in the same millisecond, however many versions this instance issued in it', () => {
    const { a, b, known } = setup();
    for (let i = 0; i < 3; i++) known.note(`other${i}`, a.next());
    const load = known.loadVersion(['k']);
    expect(b.next() > load).toBe(true);
    expect(a.next() > load).toBe(true);
  });

  it('wins over a write, delete or clear of the key this instance made or heard of before it started', () => {
    const { a, b, known } = setup();
    const deleted = a.next();
    known.note('k', deleted);
    expect(known.loadVersion(['k']) > deleted).toBe(true);
    const heard = b.next();
    known.note('j', heard);
    expect(known.loadVersion(['j']) > heard).toBe(true);
    const cleared = a.next();
    known.noteClear(cleared);
    expect(known.loadVersion(['x']) > cleared).toBe(true);
    // ...and still below what is written next, here or elsewhere.
    expect(known.loadVersion(['k']) < a.next()).toBe(true);
  });

  it('forgets everything once the clock has passed it', () => {
    const { clock, a, known } = setup();
    known.note('k', a.next());
    clock.advance(1);
    expect(known.loadVersion(['k'])).toBe(a.snapshot());
  });
});

describe('KnownWrites: whatever the instance tag', () => {
  it.each(['00000000', '7fffffff', 'f0000000', 'fffffffe', 'ffffffff'])(
    'a load after this instance’s own write (tag %s) wins over it and loses to its next write',
    (tag) => {
      const clock = new FakeClock(1_700_000_000_000);
      const versions = new VersionClock(clock, tag);
      const known = new KnownWrites(versions, clock);
      const written = versions.next();
      known.note('k', written);
      const load = known.loadVersion(['k']);
      expect(load > written).toBe(true);
      expect(versions.next() > load).toBe(true);
    },
  );
});
