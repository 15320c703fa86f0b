import { randomBytes } from 'node:crypto';
import type { Clock } from '../options/clock.js';

/**
 * The version of a write or a delete: it orders writes across processes without a
 * round trip. 24 lowercase hex characters, compared as strings (fixed width, so string
 * order is numeric order): 12 of wall-clock milliseconds, 4 of a counter within the
 * millisecond, 8 of the writing instance's tag, which breaks ties so that every tier
 * settles on the same write whatever order they land in.
 *
 * It is a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): an
 * instance that sees a version from another (in a store or on the bus) never issues
 * one below it afterwards, so a write made after seeing another wins over it even when
 * the two machines' clocks disagree.
 */
export type Version = string;

/** Characters in a {@link Version}. */
export const VERSION_LENGTH = 24;

/** Older than every version: what an entry written before versions existed carries. */
export const ZERO_VERSION: Version = '0'.repeat(VERSION_LENGTH);

const VERSION = /^[0-9a-f]{24}$/;
// 12 hex characters of ms reach the year 10889; 4 of counter allow 65,536 versions per ms.
const MAX_COUNTER = 0xffff;
// Observed versions further ahead of this clock than a day are ignored.
const MAX_SKEW_MS = 86_400_000;

/** Whether `value` is a well-formed {@link Version}. */
export function isVersion(value: unknown): value is Version {
  return typeof value === 'string' && VERSION.test(value);
}

/** The greater of two versions (either may be absent). */
export function maxVersion(a: Version | undefined, b: Version | undefined): Version | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b > a ? b : a;
}

/**
 * Issues increasing versions for one instance: `next()` is greater than every version
 * this clock issued or observed before.
 */
export class VersionClock {
  readonly #clock: Clock;
  /** This instance's tag: 8 hex characters, random per clock. */
  readonly tag: string;
  #ms = 0;
  #counter = 0;
  /** The last millisecond formatted, and its 12 hex digits: versions of one ms share them. */
  #hexMs = -1;
  #hex = '';
  #snapshotMs = -1;
  #snapshot: Version = ZERO_VERSION;
  /** The greatest version issued or observed, as a string: most observations compare below it and stop there. */
  #last: Version = ZERO_VERSION;

  constructor(clock: Clock, tag: string = randomBytes(4).toString('hex')) {
    this.#clock = clock;
    this.tag = tag;
  }

  /** A new version, greater than any issued or observed so far. */
  next(): Version {
    const now = Math.floor(this.#clock.now());
    // Counter 0 of every millisecond is left to loads (see snapshot()), so writes start at 1.
    if (now > this.#ms) {
      this.#ms = now;
      this.#counter = 1;
    } else if (this.#counter < MAX_COUNTER) {
      this.#counter++;
    } else {
      // 65,535 versions within one ms: borrow the next ms rather than repeat a version.
      this.#ms++;
      this.#counter = 1;
    }
    this.#last = this.#msHex(this.#ms) + this.#counter.toString(16).padStart(4, '0') + this.tag;
    return this.#last;
  }

  /**
   * The version of a load starting now: counter 0 of the current millisecond, which no
   * write takes, with this instance's tag; it moves nothing. A write made anywhere in
   * the same millisecond, or after, wins over a load (see `KnownWrites`), and two
   * instances' loads of one millisecond are still told apart by their tags, so every
   * tier settles on the same one.
   */
  snapshot(): Version {
    const ms = Math.max(0, Math.floor(this.#clock.now()));
    // Every load of one millisecond takes the same version: made once.
    if (ms !== this.#snapshotMs) {
      this.#snapshotMs = ms;
      this.#snapshot = `${this.#msHex(ms)}0000${this.tag}`;
    }
    return this.#snapshot;
  }

  /** `ms` as the 12 hex digits of a version, formatted once per millisecond. */
  #msHex(ms: number): string {
    if (ms !== this.#hexMs) {
      this.#hexMs = ms;
      this.#hex = ms.toString(16).padStart(12, '0');
    }
    return this.#hex;
  }

  /** Moves the clock past a version seen elsewhere, so the next one is greater (HLC receive). */
  observe(version: Version): void {
    if (version <= this.#last) return;
    const ms = Number.parseInt(version.slice(0, 12), 16);
    // A version from a clock far ahead (or a forged one) must not drag ours along for good.
    if (ms > this.#clock.now() + MAX_SKEW_MS) return;
    this.#last = version;
    const counter = Number.parseInt(version.slice(12, 16), 16);
    if (ms > this.#ms || (ms === this.#ms && counter > this.#counter)) {
      this.#ms = ms;
      this.#counter = counter;
    }
  }
}

/**
 * The version just below `version` (`version` minus one, as a 24-digit hex number): a
 * repair's tombstone takes it, so it shadows everything older than the write it stands
 * for and nothing else; the write itself, landing late or copied up, still lands over it.
 */
export function versionBefore(version: Version): Version {
  // Digit by digit from the right, borrowing.
  const digits = version.split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = Number.parseInt(digits[i] as string, 16);
    if (d > 0) {
      digits[i] = (d - 1).toString(16);
      return digits.join('');
    }
    digits[i] = 'f';
  }
  return ZERO_VERSION;
}

/**
 * The version just above `version` (`version` plus one, as a 24-digit hex number):
 * `expire()` rewrites an entry at it, so the rewrite replaces that entry in every tier
 * while any write made after the entry (a greater counter or millisecond) still wins.
 */
export function versionAfter(version: Version): Version {
  const digits = version.split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = Number.parseInt(digits[i] as string, 16);
    if (d < 15) {
      digits[i] = (d + 1).toString(16);
      return digits.join('');
    }
    digits[i] = '0';
  }
  return version;
}

/** The version a write made at `ms` by no instance in particular would have: for entries made outside a clock. */
export function versionAt(ms: number): Version {
  return format(Math.max(0, Math.floor(ms)), 0, ZERO_TAG);
}

const ZERO_TAG = '00000000';

function format(ms: number, counter: number, tag: string): Version {
  return ms.toString(16).padStart(12, '0') + counter.toString(16).padStart(4, '0') + tag;
}
