/**
 * Public entry `tiercache/testing`: the conformance suite every store passes.
 * Importing it loads `vitest` (an optional peer dependency).
 *
 * @packageDocumentation
 */
export {
  registerStoreConformanceSuite,
  type StoreFactory,
  type StoreUnderTest,
} from './store-conformance.js';
