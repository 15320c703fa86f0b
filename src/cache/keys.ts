import { InvalidKeyError, InvalidOptionError, MAX_KEY_LENGTH } from '../errors.js';

/**
 * @throws InvalidKeyError unless `key` is a non-empty string of at most
 *   {@link MAX_KEY_LENGTH} characters, without NUL and well-formed.
 */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new InvalidKeyError(key, 'keys must be strings');
  if (key.length === 0) throw new InvalidKeyError(key, 'keys must not be empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, `keys must be at most ${MAX_KEY_LENGTH} characters, got ${key.length}`);
  }
  // Stores see keys as UTF-8: a NUL is refused by Postgres, and a lone surrogate would
  // encode to U+FFFD, so two different keys would share one row or Redis key.
  if (key.includes('\u0000')) throw new InvalidKeyError(key, 'keys must not contain NUL characters');
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new InvalidKeyError(key, 'keys must be well-formed UTF-16 (no lone surrogates)');
  }
}

/** @throws InvalidOptionError unless `keys` is an array; InvalidKeyError for its first bad key. */
export function checkKeys(keys: unknown, argument: string): asserts keys is readonly string[] {
  if (!Array.isArray(keys)) throw new InvalidOptionError(argument, 'an array of keys', keys);
  for (const key of keys) checkKey(key);
}
