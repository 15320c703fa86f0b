import type { Stack } from '../flow/stack.js';

/**
 * How `namespace()` builds a view through `TieredCache`'s constructor (private fields
 * need the constructor): the stack it shares and the view's key prefix. Internal.
 */
export class ViewSeed {
  constructor(
    readonly stack: Stack,
    readonly prefix: string,
  ) {}
}
