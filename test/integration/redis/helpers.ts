import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { InvalidOptionError } from '../../../src/errors.js';

/**
 * Asserts that `factory` throws an InvalidOptionError naming the expected option for
 * each case: `[options, option]`.
 */
export function expectOptionErrors(
  factory: (options: never) => unknown,
  cases: ReadonlyArray<readonly [options: unknown, option: string]>,
): void {
  for (const [options, option] of cases) {
    let thrown: unknown;
    try {
      factory(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
  }
}

/**
 * Raw clients for a test file: `client(at)` opens one (default `url`), `quitAll()` closes
 * every one opened, for the file's `afterAll`.
 */
export function rawClients(url: string): { client: (at?: string) => Redis; quitAll: () => Promise<void> } {
  const clients: Redis[] = [];
  return {
    client(at = url) {
      const made = new Redis(at, { maxRetriesPerRequest: 1 });
      made.on('error', () => {});
      clients.push(made);
      return made;
    },
    async quitAll() {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
