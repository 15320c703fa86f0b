import {
  ChaosStore,
  MemoryBusHub,
  MemoryStore,
  registerBusConformanceSuite,
  registerStoreConformanceSuite,
} from '../../../src/testing/index.js';

// One hub per suite run: its buses reach each other and no other run's.
const hub = new MemoryBusHub();
registerBusConformanceSuite('memory', () => ({ bus: hub.bus() }));

registerStoreConformanceSuite('memory', () => ({ store: new MemoryStore('memory') }));

// A ChaosStore at rest passes every call through: the version rule holds through it.
registerStoreConformanceSuite('chaos around memory', () => ({
  store: new ChaosStore(new MemoryStore('memory')),
}));
