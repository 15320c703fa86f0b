import { InvalidOptionError } from '../errors.js';

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
  /** ms since the epoch when the entry was made. */
  readonly createdAt: number;
  /** ms since the epoch after which the value is stale. */
  readonly staleAt: number;
  /** ms since the epoch after which the value is gone (`staleAt + grace`). */
  readonly expiresAt: number;
  readonly tags?: readonly string[];
}

/** A duration: milliseconds, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Longest duration accepted: about 24.8 days, the largest delay a Node timer can hold. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @throws InvalidOptionError naming `option` when the value is not a finite duration
 *   within bounds (`allowZero` admits 0).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (match) ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  }
  if (
    ms === undefined ||
    !Number.isFinite(ms) ||
    ms < 0 ||
    (ms === 0 && !allowZero) ||
    ms > MAX_DURATION_MS
  ) {
    const range = allowZero ? '>= 0' : '> 0';
    throw new InvalidOptionError(
      option,
      `a duration ${range} and <= ${MAX_DURATION_MS} ms (a number of ms, or a string like '30s', '5m')`,
      value,
    );
  }
  return Math.round(ms);
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

/** Makes an entry at `now` with an already-jittered `ttl` and a `grace` window. */
export function makeEntry<V>(
  value: V,
  now: number,
  ttl: number,
  grace: number,
  tags?: readonly string[],
): Entry<V> {
  const staleAt = now + ttl;
  const entry: Entry<V> = { value, createdAt: now, staleAt, expiresAt: staleAt + grace };
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
