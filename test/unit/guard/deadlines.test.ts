import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BUSY_TIMEOUTS, Deadlines } from '../../../src/guard/deadlines.js';

// Timeouts that measure the store, not the queue in front of it, on fake timers.

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const T = 50;

describe('Deadlines', () => {
  it('a store that answers nothing: every call times out one timeout after its turn', () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    for (let i = 0; i < 3; i++) deadlines.add(T, performance.now(), () => expired.push(i));
    vi.advanceTimersByTime(T - 1);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(5);
    expect(expired).toEqual([0, 1, 2]);
  });

  it('a burst behind answers that keep coming does not time out, up to BUSY_TIMEOUTS timeouts', () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const calls = Array.from({ length: 1_000 }, (_, i) =>
      deadlines.add(T, performance.now(), () => expired.push(i)),
    );
    // The store answers one call every 10 ms: the queue drains slower than one timeout.
    let answered = 0;
    for (let ms = 0; ms < T * BUSY_TIMEOUTS - 10; ms += 10) {
      vi.advanceTimersByTime(10);
      deadlines.settle(calls[answered++] as ReturnType<Deadlines['add']>, performance.now());
    }
    expect(expired).toEqual([]);
    // Past the limit, what is still waiting times out even though answers come.
    vi.advanceTimersByTime(T);
    expect(expired.length).toBe(1_000 - answered);
    expect(expired[0]).toBe(answered);
  });

  it('answers stop: the calls still waiting time out one timeout after the last answer', () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const calls = Array.from({ length: 10 }, (_, i) =>
      deadlines.add(T, performance.now(), () => expired.push(i)),
    );
    vi.advanceTimersByTime(40);
    deadlines.settle(calls[0] as ReturnType<Deadlines['add']>, performance.now());
    vi.advanceTimersByTime(T - 1);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(5);
    expect(expired).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("a burst's own synchronous work is not the store's: the timeout starts when the turn ends", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    // The call started 80 ms before its turn ended (encoding 1,000 values, say): only then
    // could its command be on the wire.
    deadlines.add(T, performance.now() - 80, () => expired.push(0));
    vi.advanceTimersByTime(T - 5);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([0]);
  });

  // The queue held every settled call until its timer next fired, a timeout after the
  // first: at 1 s and 15,000 calls/s, 15,000 calls outlived the young generation.
  it('a settled call leaves the queue once the calls ahead of it have settled, not when the timer fires', () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    type Call = ReturnType<Deadlines['add']>;
    const calls: Call[] = Array.from({ length: 10 }, (_, i) =>
      deadlines.add(T, performance.now(), () => expired.push(i)),
    );
    expect(deadlines.waiting).toBe(10);
    // Answered out of order: the ones behind the first wait for it.
    for (let i = 1; i < 10; i++) deadlines.settle(calls[i] as Call, performance.now());
    expect(deadlines.waiting).toBe(10);
    deadlines.settle(calls[0] as Call, performance.now());
    expect(deadlines.waiting).toBe(0);
    // One at a time, as a lone caller goes: never more than the call in flight.
    for (let i = 0; i < 1_000; i++) {
      const call = deadlines.add(T, performance.now(), () => expired.push(-1));
      expect(deadlines.waiting).toBe(1);
      deadlines.settle(call, performance.now());
      expect(deadlines.waiting).toBe(0);
    }
    // The timer armed for the first call still serves the calls after the queue emptied.
    const late = deadlines.add(T, performance.now(), () => expired.push(99));
    vi.advanceTimersByTime(T + 5);
    expect(expired).toEqual([99]);
    expect(deadlines.settle(late, performance.now())).toBe(false);
  });
});
