// The official Keyv store conformance suite (@keyv/test-suite: API, values, namespaces)
// against KeyvTiercache over real L1 + Redis + Postgres, twice: under a Keyv with its
// default JSON serializer (what NestJS builds from a bare store, and what the suite does)
// and under a Keyv that does not serialize (what createKeyv builds).
import keyvTestSuite from '@keyv/test-suite';
import { Keyv, type KeyvOptions, type KeyvStoreAdapter } from 'keyv';
import * as vitest from 'vitest';
import { afterAll, beforeAll, describe } from 'vitest';
import type { TieredCache } from '../../../src/index.js';
import { KeyvTiercache } from '../../../src/keyv/index.js';
import { realTiers, type Tiers } from './tiers.js';

let tiers: Tiers;
let cache: TieredCache;

beforeAll(async () => {
  tiers = await realTiers('keyvsuite');
  // The suite moves time with timekeeper (a frozen Date): read Date.now() on every call.
  cache = tiers.cache({ clock: { now: () => Date.now() } });
});
afterAll(() => tiers?.cleanup());

const store = () => new KeyvTiercache(cache, { closeOnDisconnect: false });

/** A Keyv that does not serialize unless the test asks for a serializer of its own. */
class UnserializedKeyv<V = unknown> extends Keyv<V> {
  constructor(options?: KeyvOptions | KeyvStoreAdapter) {
    super({ serialize: undefined, deserialize: undefined, ...(options as KeyvOptions) });
  }
}

describe('@keyv/test-suite, Keyv with its default serializer', () => {
  keyvTestSuite(vitest, Keyv, store);
});

describe('@keyv/test-suite, Keyv without a serializer (createKeyv)', () => {
  keyvTestSuite(vitest, UnserializedKeyv as typeof Keyv, store);
});
