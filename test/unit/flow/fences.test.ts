/**
 * Fences: a read in flight skips its write-back after a write of its key, except when
 * the only writes were other instances' announced at versions no newer than what it read.
 */
import { describe, expect, it } from 'vitest';
import { Fences } from '../../../src/flow/fences.js';

const v = (n: number) => n.toString(16).padStart(24, '0');

describe('fences', () => {
  it('holds until the key is bumped, and never after an unversioned bump (own write)', () => {
    const fences = new Fences();
    const token = fences.acquire('k');
    expect(fences.holds(token)).toBe(true);
    expect(fences.holdsFor(token, v(5))).toBe(true);
    fences.bump('k');
    expect(fences.holds(token)).toBe(false);
    expect(fences.holdsFor(token, v(99))).toBe(false);
  });

  it('lets an entry as new as every announced write through, and nothing older', () => {
    const fences = new Fences();
    const token = fences.acquire('k');
    fences.bump('k', v(5));
    fences.bump('k', v(3));
    expect(fences.holds(token)).toBe(false);
    expect(fences.holdsFor(token, v(5))).toBe(true);
    expect(fences.holdsFor(token, v(6))).toBe(true);
    expect(fences.holdsFor(token, v(4))).toBe(false);
  });

  it('an unversioned bump after a versioned one, or a clear, still fences every version', () => {
    const fences = new Fences();
    const token = fences.acquire('k');
    fences.bump('k', v(5));
    fences.bump('k');
    expect(fences.holdsFor(token, v(9))).toBe(false);
    const other = fences.acquire('j');
    fences.bump('j', v(1));
    fences.bumpAll();
    expect(fences.holdsFor(other, v(9))).toBe(false);
  });

  it('an unversioned bump before the token was taken does not fence it', () => {
    const fences = new Fences();
    const holder = fences.acquire('k');
    fences.bump('k');
    const token = fences.acquire('k');
    fences.bump('k', v(2));
    expect(fences.holdsFor(token, v(2))).toBe(true);
    expect(fences.holdsFor(holder, v(2))).toBe(false);
    fences.release(holder);
    fences.release(token);
  });
});
