import { expect } from 'vitest';
import type { StoreTier, StoreWrite } from '../stores/store.js';
import { nextVersion } from './versions.js';

/** What the groups of tests get from the store suite: the store, and namespaces of their own. */
export interface StoreSuiteContext {
  store(): StoreTier;
  namespace(): string;
  /** The factory's `putLegacy`, if it gave one (see `StoreUnderTest`). */
  legacy(): ((key: string, value: Uint8Array) => Promise<void>) | undefined;
}

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A write that lives ten minutes: long enough for any test, short enough to clean itself up. */
export function write(key: string, value: Uint8Array): StoreWrite {
  return { key, value, expiresAt: Date.now() + 600_000, version: nextVersion() };
}

/** A write of `text` at `version`, living ten minutes unless `expiresAt` says otherwise. */
export function versioned(
  key: string,
  text: string,
  version: string,
  expiresAt = Date.now() + 600_000,
): StoreWrite {
  return { key, value: bytes(text), expiresAt, version };
}

/** The UTF-8 text of a value read back, or `undefined` for a miss. */
export function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined
    ? undefined
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
}

/** The keys whose value `got` (aligned with `keys`) holds. */
export function present(keys: readonly string[], got: ReadonlyArray<Uint8Array | undefined>): string[] {
  return keys.filter((_, i) => got[i] !== undefined);
}

/** Asserts `got` holds exactly the bytes `expected`; `what` names it in failures. */
export function expectBytes(got: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  expect(got, `${what}: expected ${expected.length} bytes, got undefined`).toBeInstanceOf(Uint8Array);
  const actual = got as Uint8Array;
  expect(actual.length, `${what}: length`).toBe(expected.length);
  // Buffer.compare, not toEqual: a 1 MiB diff would drown the report.
  const same = Buffer.compare(
    Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength),
    Buffer.from(expected),
  );
  expect(same, `${what}: bytes differ`).toBe(0);
}

/**
 * Prefixes with glob (Redis MATCH) and LIKE (Postgres) metacharacters: each pair is a
 * key under the prefix, and one an unescaped pattern would also match.
 */
export const METACHARACTER_CASES: ReadonlyArray<
  readonly [prefix: string, victim: string, bystander: string]
> = [
  ['g*:', 'g*:1', 'gX:1'],
  ['q?:', 'q?:1', 'qX:1'],
  ['r[ab]:', 'r[ab]:1', 'ra:1'],
  ['s\\:', 's\\:1', 's:1'],
  ['p%:', 'p%:1', 'pXYZ:1'],
  ['u_:', 'u_:1', 'uX:1'],
];

/**
 * Writes a key and its bystander for every {@link METACHARACTER_CASES} prefix, clears
 * each prefix with `clear`, and expects only the bystanders left.
 */
export async function expectLiteralPrefixes(
  store: StoreTier,
  ns: string,
  writeOf: (key: string) => StoreWrite,
  clear: (prefix: string) => Promise<void>,
): Promise<void> {
  const all = METACHARACTER_CASES.flatMap(([, victim, bystander]) => [`${ns}${victim}`, `${ns}${bystander}`]);
  await store.setMany(all.map(writeOf));
  for (const [prefix] of METACHARACTER_CASES) await clear(`${ns}${prefix}`);
  expect(present(all, await store.getMany(all))).toEqual(
    METACHARACTER_CASES.map(([, , bystander]) => `${ns}${bystander}`),
  );
}
