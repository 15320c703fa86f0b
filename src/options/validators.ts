import { InvalidOptionError } from '../errors.js';

// The validators every options object goes through: the cache's, each entry's, and every
// store, bus and decorator factory's. Each names the option it rejects and the value it
// received, and returns the value (or the fallback) typed, so a factory resolves its
// options in one expression per option.

/** Whether `value` is a plain options object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Rejects the first key of `value` not in `allowed` (a typo, most often).
 * @param path prefix of the option names in the message, for example `'l1.'`.
 */
export function checkKnownKeys(value: object, allowed: readonly string[], path = ''): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw InvalidOptionError.unknown(`${path}${key}`, allowed, (value as Record<string, unknown>)[key]);
    }
  }
}

/**
 * A factory's options: an object (else an error naming `<factory> options`, expecting
 * `expected`) whose keys are all `known` (a misspelt option must not be ignored).
 */
export function checkFactoryOptions(
  options: unknown,
  factory: string,
  expected: string,
  known: readonly string[],
): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`${factory} options`, expected, options);
  }
  checkKnownKeys(options, known);
}

/** A boolean option, or `fallback` when absent. */
export function booleanOption<F extends boolean | undefined>(
  value: unknown,
  option: string,
  fallback: F,
): boolean | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, 'a boolean', value);
  return value;
}

/** A function option, or `undefined` when absent. */
export function functionOption<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidOptionError(option, 'a function', value);
  return value as F;
}

/** A safe integer `>= min`, or `fallback` when absent. `expected` words the message. */
export function integerOption<F extends number | undefined>(
  value: unknown,
  option: string,
  min: number,
  fallback: F,
  expected = `an integer >= ${min}`,
): number | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, expected, value);
  }
  return value;
}

/** A positive safe integer (or `Infinity` when `allowInfinity`), or `undefined` when absent. */
export function positiveIntOption(value: unknown, option: string, allowInfinity = false): number | undefined {
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  return integerOption(
    value,
    option,
    1,
    undefined,
    `a positive integer${allowInfinity ? ' or Infinity' : ''}`,
  );
}

/** A finite number of milliseconds (`> 0`, or `>= 0` with `allowZero`), or `fallback` when absent. */
export function msOption<F extends number | undefined>(
  value: unknown,
  option: string,
  allowZero: boolean,
  fallback: F,
): number | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new InvalidOptionError(option, `a finite number of ms ${allowZero ? '>= 0' : '> 0'}`, value);
  }
  return value;
}

/**
 * `value` if it is an object whose `methods` are all functions (a store, a bus, a codec,
 * a clock); else an error naming `option` and `expected`.
 */
export function withMethods<T>(
  value: unknown,
  option: string,
  methods: readonly string[],
  expected: string,
): T {
  if (!isObject(value) || methods.some((method) => typeof value[method] !== 'function')) {
    throw new InvalidOptionError(option, expected, value);
  }
  return value as T;
}

/** A `{ now(): number }` clock option, or `fallback` when absent. */
export function clockOption<C extends { now(): number }>(value: unknown, option: string, fallback: C): C {
  return value === undefined
    ? fallback
    : withMethods<C>(value, option, ['now'], 'an object { now(): number }');
}
