import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeEntry } from '../../../src/entry/entry.js';
import { BulkheadFullError } from '../../../src/errors.js';
import { Fences } from '../../../src/flow/fences.js';
import { Flight, Flights } from '../../../src/flow/flight.js';
import { Semaphore } from '../../../src/flow/semaphore.js';

describe('Fences', () => {
  it('a token holds until its key is bumped, or everything is', () => {
    const fences = new Fences();
    const a = fences.acquire('a');
    const b = fences.acquire('b');
    expect(fences.holds(a)).toBe(true);
    fences.bump('a');
    expect(fences.holds(a)).toBe(false);
    expect(fences.holds(b)).toBe(true);
    fences.bumpAll();
    expect(fences.holds(b)).toBe(false);
    const c = fences.acquire('b');
    expect(fences.holds(c)).toBe(true);
  });

  it('a token taken after a bump holds; bumps of idle keys cost nothing', () => {
    const fences = new Fences();
    fences.bump('idle');
    const t = fences.acquire('idle');
    expect(fences.holds(t)).toBe(true);
  });

  it('two readers of one key share a record; it lives until the last releases', () => {
    const fences = new Fences();
    const r1 = fences.acquire('k');
    const r2 = fences.acquire('k');
    fences.release(r1);
    fences.release(r1); // idempotent
    fences.bump('k');
    expect(fences.holds(r2)).toBe(false);
    fences.release(r2);
    expect(fences.holds(fences.acquire('k'))).toBe(true);
  });

  it('property: a token holds iff no bump of its key and no bumpAll happened while it was held', () => {
    const action = fc.oneof(
      fc.record({ t: fc.constant('acquire' as const), key: fc.constantFrom('a', 'b') }),
      fc.record({ t: fc.constant('release' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('bump' as const), key: fc.constantFrom('a', 'b') }),
      fc.constant({ t: 'bumpAll' as const }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
        const fences = new Fences();
        const held: Array<{ token: ReturnType<Fences['acquire']>; key: string; moved: boolean }> = [];
        for (const a of actions) {
          if (a.t === 'acquire') held.push({ token: fences.acquire(a.key), key: a.key, moved: false });
          else if (a.t === 'release' && held.length > 0) {
            const [h] = held.splice(a.i % held.length, 1);
            if (h !== undefined) fences.release(h.token);
          } else if (a.t === 'bump') {
            fences.bump(a.key);
            for (const h of held) if (h.key === a.key) h.moved = true;
          } else if (a.t === 'bumpAll') {
            fences.bumpAll();
            for (const h of held) h.moved = true;
          }
          for (const h of held) expect(fences.holds(h.token)).toBe(!h.moved);
        }
      }),
    );
  });
});

describe('Flights', () => {
  it('end() removes only the flight still registered; forget drops it', () => {
    const flights = new Flights<string>();
    flights.set('k', 'first');
    flights.forget('k');
    flights.set('k', 'second');
    flights.end('k', 'first');
    expect(flights.get('k')).toBe('second');
    flights.end('k', 'second');
    expect(flights.get('k')).toBeUndefined();
    flights.set('a', 'x');
    flights.set('b', 'y');
    expect(flights.size).toBe(2);
    flights.forgetAll();
    expect(flights.size).toBe(0);
  });
});

describe('Semaphore', () => {
  it('admits N at once and serves waiters in arrival order', async () => {
    const sem = new Semaphore(2);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
    const order: number[] = [];
    const w1 = sem.wait('a').granted.then(() => order.push(1));
    const w2 = sem.wait('b').granted.then(() => order.push(2));
    sem.release();
    await w1;
    expect(order).toEqual([1]);
    sem.release();
    await w2;
    expect(order).toEqual([1, 2]);
    sem.release();
    sem.release();
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
  });

  it('bounds the queue (BulkheadFullError naming the key) and lets a waiter leave, passing on a permit it was handed', async () => {
    const sem = new Semaphore(1, 2);
    expect(sem.tryAcquire()).toBe(true);
    const first = sem.wait('first');
    const second = sem.wait('second');
    expect(() => sem.wait('third')).toThrow(BulkheadFullError);
    expect(() => sem.wait('third')).toThrow(/"third".*maxQueuedLoads/);
    // The first leaves before its turn: the permit goes to the second.
    first.cancel();
    let got = false;
    void second.granted.then(() => {
      got = true;
    });
    sem.release();
    await second.granted;
    expect(got).toBe(true);
    // Handed a permit in the same turn it gives up: the permit is passed on, not lost.
    const third = sem.wait('third');
    sem.release();
    third.cancel();
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
  });
});

describe('Flight', () => {
  it('a failed load with nobody awaiting is not an unhandled rejection', async () => {
    const flight = new Flight(makeEntry(1, 0, 1, 0));
    flight.rejectLoaded(new Error('nobody listens'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(flight.loaded).rejects.toThrow('nobody listens');
  });

  it('a waiter that came first gets the result, and is not left unhandled on failure', async () => {
    const ok = new Flight(undefined);
    const waiting = ok.loaded;
    ok.resolveLoaded(makeEntry('v', 0, 1, 0));
    await expect(waiting).resolves.toMatchObject({ value: 'v' });
    const failed = new Flight(undefined);
    const early = failed.loaded;
    failed.rejectLoaded(new Error('boom'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(early).rejects.toThrow('boom');
  });

  it('settles once: a later resolve or reject changes nothing', async () => {
    const flight = new Flight(undefined);
    flight.resolveLoaded(makeEntry('first', 0, 1, 0));
    flight.rejectLoaded(new Error('late'));
    flight.resolveLoaded(makeEntry('second', 0, 1, 0));
    await expect(flight.loaded).resolves.toMatchObject({ value: 'first' });
  });
});
