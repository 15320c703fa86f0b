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

/** An item with no version, as a MemoryStore filled by hand (or before versions) holds it. */
function legacyPutter(memory: MemoryStore) {
  return async (key: string, value: Uint8Array) => {
    memory.data.set(key, { value: value.slice(), expiresAt: Date.now() + 600_000 });
  };
}

registerStoreConformanceSuite('memory', () => {
  const store = new MemoryStore('memory');
  return { store, putLegacy: legacyPutter(store) };
});

// A ChaosStore at rest passes every call through: the version rule holds through it.
registerStoreConformanceSuite('chaos around memory', () => {
  const memory = new MemoryStore('memory');
  return { store: new ChaosStore(memory), putLegacy: legacyPutter(memory) };
});
