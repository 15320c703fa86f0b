import { maxVersion, type Version, type VersionClock } from '../entry/version.js';

/**
 * The writes, deletes and clears this instance made or heard of (on the bus) in the
 * current millisecond, so a load can take the right version.
 *
 * A load's version is the lowest of the millisecond it starts in (a load is a snapshot
 * of its source, a write is authoritative: a write made anywhere in that millisecond,
 * or after, wins over it, whichever instance issued more versions in it). But a write,
 * delete or clear of the key that this instance knew of BEFORE the load started came
 * before the load: the load must win over it, or a reload right after a delete would
 * never be cached. So the load's version is just above the latest such one.
 *
 * Only versions at or after the current millisecond matter (an older one is below the
 * load's anyway), so the record is emptied as soon as the clock passes them all: it
 * holds a few keys at most.
 */
export class KnownWrites {
  readonly #versions: VersionClock;
  readonly #clock: { now(): number };
  readonly #byKey = new Map<string, Version>();
  #clear: Version | undefined;
  /** The greatest millisecond recorded: past it, the record is empty. */
  #until = -1;

  constructor(versions: VersionClock, clock: { now(): number }) {
    this.#versions = versions;
    this.#clock = clock;
  }

  /** A write or delete of `key` at `version`, made here or heard of on the bus. */
  note(key: string, version: Version): void {
    this.#prune();
    this.#byKey.set(key, maxVersion(this.#byKey.get(key), version) as Version);
    this.#until = Math.max(this.#until, msOf(version));
  }

  /** A clear at `version` (of any prefix: the load of any key then comes after it). */
  noteClear(version: Version): void {
    this.#prune();
    this.#clear = maxVersion(this.#clear, version);
    this.#until = Math.max(this.#until, msOf(version));
  }

  /** The version of a load of `keys` starting now. */
  loadVersion(keys: readonly string[]): Version {
    this.#prune();
    let version = this.#versions.snapshot();
    if (this.#until < 0) return version;
    const tag = this.#versions.tag;
    version = maxVersion(version, after(this.#clear, tag)) as Version;
    for (const key of keys) version = maxVersion(version, after(this.#byKey.get(key), tag)) as Version;
    return version;
  }

  #prune(): void {
    if (this.#until >= 0 && Math.floor(this.#clock.now()) > this.#until) {
      this.#byKey.clear();
      this.#clear = undefined;
      this.#until = -1;
    }
  }
}

function msOf(version: Version): number {
  return Number.parseInt(version.slice(0, 12), 16);
}

/**
 * A version just above `version` and below the next write of its counter: the same
 * millisecond and counter, with a tag from the top of the tag range that still carries
 * this instance's own tag (so two instances' loads differ); or, when `version`'s own tag
 * is higher still, the next counter with a tag from the bottom of the range.
 */
function after(version: Version | undefined, tag: string): Version | undefined {
  if (version === undefined) return undefined;
  const high = `${version.slice(0, 16)}f${tag.slice(1)}`;
  if (high > version) return high;
  const ms = Number.parseInt(version.slice(0, 12), 16);
  const counter = Number.parseInt(version.slice(12, 16), 16) + 1;
  const next =
    counter > 0xffff
      ? `${(ms + 1).toString(16).padStart(12, '0')}0001`
      : `${version.slice(0, 12)}${counter.toString(16).padStart(4, '0')}`;
  return `${next}0${tag.slice(1)}`;
}
