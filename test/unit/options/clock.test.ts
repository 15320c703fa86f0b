import { afterEach, describe, expect, it, vi } from 'vitest';
import { coarseClock } from '../../../src/options/clock.js';

describe('coarseClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads Date.now() once, keeps it for the rest of the turn, and reads again once its 1 ms timer fired', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    expect(coarseClock.now()).toBe(1_000_000);
    // The wall clock moves on within the same turn: no timer has fired, the value stands.
    vi.setSystemTime(1_000_400);
    for (let i = 0; i < 5_000; i++) expect(coarseClock.now()).toBe(1_000_000);
    vi.advanceTimersByTime(1);
    expect(coarseClock.now()).toBe(1_000_401);
    expect(coarseClock.now()).toBe(1_000_401);
    vi.advanceTimersByTime(5);
    expect(coarseClock.now()).toBe(1_000_406);
  });
});
