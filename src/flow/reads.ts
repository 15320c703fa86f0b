import type { Entry } from '../entry/entry.js';
import type { Stack } from './stack.js';
import { walkStores } from './walk.js';

/**
 * Cache-aside lookup below L1: the fresh entry of each key from the first store that
 * holds one (backfilling the tiers above it), else `undefined`. `single` reads one key
 * with the store's single-key call.
 */
export async function readStores(
  stack: Stack,
  locals: readonly string[],
  single: boolean,
): Promise<Array<Entry | undefined>> {
  if (stack.stores.length === 0) return locals.map(() => undefined);
  return (await walkStores(stack, locals, undefined, single)).map((found) => found?.fresh);
}
