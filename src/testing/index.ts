/**
 * Public entry `tiercache/testing`: what you need to test a cache, a store or a bus.
 *
 * - Conformance suites every store and every bus passes: {@link registerStoreConformanceSuite}
 *   and {@link registerBusConformanceSuite}.
 * - In-memory stand-ins for the servers: {@link MemoryStore} (a store over bytes) and
 *   {@link MemoryBus} on a {@link MemoryBusHub} (several caches' buses in one process).
 * - Fault injection, deterministic: {@link ChaosStore} and {@link ChaosBus} wrap any store
 *   or bus and fail, hang, drop or hold its calls on command.
 * - {@link FakeClock}: time that moves only when the test says so.
 *
 * Importing this entry loads `vitest` (an optional peer dependency), because the suites
 * register vitest tests. The stand-ins, the chaos wrappers and the clock do not use
 * vitest themselves and work under any test runner, but they come from this same entry,
 * so vitest must be installed to import any of them.
 *
 * @packageDocumentation
 */
export {
  type BusFactory,
  type BusSuiteOptions,
  type BusUnderTest,
  registerBusConformanceSuite,
} from './bus-conformance.js';
export { ChaosBus, type ChaosBusOp } from './chaos-bus.js';
export type { Gate } from './chaos-controls.js';
export { type ChaosOp, ChaosStore } from './chaos-store.js';
export { FakeClock } from './fake-clock.js';
export { MemoryBus, MemoryBusHub } from './memory-bus.js';
export { MemoryStore, type MemoryStoreCall } from './memory-store.js';
export {
  registerStoreConformanceSuite,
  type StoreFactory,
  type StoreUnderTest,
} from './store-conformance.js';
export { nextVersion } from './versions.js';
