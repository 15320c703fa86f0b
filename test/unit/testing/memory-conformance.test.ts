import {
  MemoryBusHub,
  MemoryStore,
  registerBusConformanceSuite,
  registerStoreConformanceSuite,
} from '../../../src/testing/index.js';

// One hub per suite run: its buses reach each other and no other run's.
const hub = new MemoryBusHub();
registerBusConformanceSuite('memory', () => ({ bus: hub.bus() }));

registerStoreConformanceSuite('memory', () => ({ store: new MemoryStore('memory') }));
