import { InvalidOptionError } from '../errors.js';
import { type Duration, parseDuration } from './duration.js';
import { checkKnownKeys, isObject } from './validators.js';

/** Settings of the distributed lease (see the `lease` cache option). */
export interface LeaseOptions {
  /**
   * How long a lease lives unless renewed. The holder renews it every third of this while
   * its loader runs, so this bounds only how long other instances wait after the holder
   * dies before one of them takes over. Default 5 s; at least 100 ms.
   */
  ttl?: Duration;
}

/** The lease settings after validation: `false` when turned off. */
export type ResolvedLease =
  | false
  | {
      readonly ttl: number;
      /** Asked for explicitly (`lease: true` or an object): a store must host leases. */
      readonly required: boolean;
    };

const DEFAULT_LEASE_TTL = 5_000;
const MIN_LEASE_TTL = 100;

/** Validates the `lease` option (`undefined`: on when a store can host leases). */
export function resolveLease(input: unknown): ResolvedLease {
  if (input === false) return false;
  if (input === undefined || input === true) {
    return Object.freeze({ ttl: DEFAULT_LEASE_TTL, required: input === true });
  }
  if (!isObject(input)) throw new InvalidOptionError('lease', 'a boolean or { ttl }', input);
  checkKnownKeys(input, ['ttl'], 'lease.');
  const ttl = input.ttl === undefined ? DEFAULT_LEASE_TTL : parseDuration(input.ttl, 'lease.ttl');
  if (ttl < MIN_LEASE_TTL)
    throw new InvalidOptionError('lease.ttl', `at least ${MIN_LEASE_TTL} ms`, input.ttl);
  return Object.freeze({ ttl, required: true });
}
