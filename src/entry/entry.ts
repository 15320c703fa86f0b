import { type Version, versionAt } from './version.js';

/**
 * The envelope every tier stores: the value and its own timing, so a value read from
 * any tier carries exactly the freshness it was written with.
 *
 * - fresh while `now < staleAt`;
 * - stale but servable (grace, fail-safe) while `staleAt <= now < expiresAt`;
 * - gone from `expiresAt` on.
 */
export interface Entry<V = unknown> {
  readonly value: V;
  /**
   * The version of the write that made the entry (a load's is taken when the load
   * starts): every tier keeps only the newest.
   */
  readonly version: Version;
  /** A deletion, not a value: kept briefly by the stores so no older write lands after it. */
  readonly deleted?: true;
  /** ms since the epoch when the entry was made. */
  readonly createdAt: number;
  /** ms since the epoch after which the value is stale. */
  readonly staleAt: number;
  /** ms since the epoch after which the value is gone (`staleAt + grace`). */
  readonly expiresAt: number;
  readonly tags?: readonly string[];
}

/**
 * Applies jitter to a TTL, once, when an entry is made. The result is uniformly
 * distributed in `(ttl * (1 - jitter), ttl]`: jitter only shortens a life, so an entry
 * never lives longer than the TTL asked (plus grace), and entries written together
 * expire spread over a window instead of all at once.
 *
 * @param random a number in [0, 1), as from `Math.random()`.
 */
export function jitterTtl(ttl: number, jitter: number, random: number): number {
  if (jitter === 0) return ttl;
  // random is in [0, 1), so the factor is in (1 - jitter, 1]: `ttl` exactly when random is 0.
  // Round up: rounding to nearest could land below the window's open lower bound.
  const jittered = Math.ceil(ttl * (1 - jitter * random));
  return Math.min(ttl, Math.max(1, jittered));
}

/**
 * Makes an entry at `now` with an already-jittered `ttl` and a `grace` window. Without a
 * `version`, the entry gets the version of a write at `now` by no instance in particular.
 */
export function makeEntry<V>(
  value: V,
  now: number,
  ttl: number,
  grace: number,
  tags?: readonly string[],
  version: Version = versionAt(now),
): Entry<V> {
  const staleAt = now + ttl;
  const entry: Entry<V> = { value, version, createdAt: now, staleAt, expiresAt: staleAt + grace };
  if (tags !== undefined && tags.length > 0) (entry as { tags?: readonly string[] }).tags = tags;
  return entry;
}

/** Whether the entry is fresh at `now`. */
export function isFresh(entry: Entry, now: number): boolean {
  return now < entry.staleAt;
}

/** Whether the entry is gone at `now` (past its grace). */
export function isExpired(entry: Entry, now: number): boolean {
  return now >= entry.expiresAt;
}

/** The newer of two entries (by version; `a` on a tie), either of which may be absent. */
export function newer(a: Entry | undefined, b: Entry | undefined): Entry | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.version > a.version ? b : a;
}

/**
 * A deletion at `version`, as the stores keep it until `expiresAt`: long enough that no
 * write older than the delete (a load that started before it, a write delayed on the
 * wire) can land after it and bring the value back.
 */
export function makeTombstone(version: Version, now: number, expiresAt: number): Entry<undefined> {
  return { value: undefined, version, deleted: true, createdAt: now, staleAt: now, expiresAt };
}
