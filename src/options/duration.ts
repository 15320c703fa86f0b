import { InvalidOptionError } from '../errors.js';

/** A duration: milliseconds, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Longest duration accepted: about 24.8 days, the largest delay a Node timer can hold. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @throws InvalidOptionError naming `option` when the value is not a finite duration
 *   within bounds: at least 1 ms (it would round to nothing: a TTL of 0.4 ms made entries
 *   that were never fresh), or with `allowZero` any duration >= 0 (then rounded).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (match) ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || (ms < 1 && !allowZero) || ms > MAX_DURATION_MS) {
    const range = allowZero ? '>= 0' : '>= 1 ms';
    throw new InvalidOptionError(
      option,
      `a duration ${range} and <= ${MAX_DURATION_MS} ms (a number of ms, or a string like '30s', '5m')`,
      value,
    );
  }
  return Math.round(ms);
}
