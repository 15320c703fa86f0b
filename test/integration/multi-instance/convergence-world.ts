import type fc from 'fast-check';
import type { BusMessage, InvalidationBus } from '../../../src/bus/bus.js';
import { EntryCodec } from '../../../src/entry/codec.js';
import type { Entry } from '../../../src/entry/entry.js';
import { TieredCache } from '../../../src/index.js';
import type { RedisBus } from '../../../src/redis/index.js';
import type { StoreTier, StoreWrite } from '../../../src/stores/store.js';
import { ChaosBus } from '../../../src/testing/chaos-bus.js';
import type { Gate } from '../../../src/testing/chaos-controls.js';
import { ChaosStore } from '../../../src/testing/chaos-store.js';
import { MemoryBusHub } from '../../../src/testing/memory-bus.js';

// The world of one run of the convergence property: 2-3 caches of one namespace over
// the same real Redis and Postgres, every store call and bus delivery through a chaos
// wrapper whose holds the fast-check scheduler releases in an order of its choosing.

const codec = new EntryCodec();

/** A write a cache gave a store (through its guard), decoded. */
export interface Issued {
  /** The store it was issued to. */
  readonly store: string;
  readonly key: string;
  readonly version: string;
  readonly deleted: boolean;
  readonly value: unknown;
}

/** The real stores of one instance slot, opened once for every run. */
export interface RealStores {
  readonly redis: StoreTier;
  readonly postgres: StoreTier;
}

/** Counts store calls in flight (held ones included) and records every write issued. */
class Tracker {
  inflight = 0;
  readonly issued: Issued[] = [];

  /** `inner`, with every call counted and every write recorded. */
  wrap(inner: StoreTier): StoreTier {
    const run = async <T>(call: () => Promise<T>): Promise<T> => {
      this.inflight++;
      try {
        return await call();
      } finally {
        this.inflight--;
      }
    };
    return {
      name: inner.name,
      get: (key) => run(() => inner.get(key)),
      getMany: (keys) => run(() => inner.getMany(keys)),
      setMany: (writes) => {
        for (const write of writes) this.issued.push(decodeWrite(inner.name, write));
        return run(() => inner.setMany(writes));
      },
      deleteMany: (keys) => run(() => inner.deleteMany(keys)),
      clear: (prefix, upTo) => run(() => inner.clear(prefix, upTo)),
      close: async () => {},
    };
  }
}

function decodeWrite(store: string, write: StoreWrite): Issued {
  const entry = codec.decode(write.value);
  return {
    store,
    key: write.key,
    version: write.version,
    deleted: entry.deleted === true,
    value: entry.value,
  };
}

/**
 * Real Redis buses, watched: a publish is counted from its call until it settles, so
 * the world can tell when every message sent has reached every subscriber (see
 * {@link RealBuses.drained}) instead of sleeping for it.
 */
class RealBuses {
  readonly #buses: RedisBus[] = [];
  /** Each bus's resync count once subscribed (see {@link RealBuses.subscribed}). */
  #resyncs: number[] = [];
  #publishing = 0;

  /** `inner`, its publishes counted. */
  watch(inner: RedisBus): InvalidationBus {
    this.#buses.push(inner);
    return {
      name: inner.name,
      start: (namespace, instanceId, listener) => inner.start(namespace, instanceId, listener),
      publish: async (message: BusMessage) => {
        this.#publishing++;
        try {
          await inner.publish(message);
        } finally {
          this.#publishing--;
        }
      },
      health: () => inner.health(),
      close: () => inner.close(),
    };
  }

  /** Every bus is subscribed: what resyncs from here on mean (see {@link RealBuses.drained}). */
  subscribed(): void {
    this.#resyncs = this.#buses.map((bus) => bus.stats().resyncs);
  }

  /**
   * Whether every message is where it is going: no publish in flight, and each bus has
   * received (delivered, or dropped as its own or undecodable) every message any bus
   * published on the channel. A bus that lost its link meanwhile (a subscriber
   * reconnect on a busy machine) may have missed some for good; its cache resynced
   * (dropped its L1) for them, so it waits for nothing more.
   */
  drained(): boolean {
    if (this.#publishing > 0) return false;
    const stats = this.#buses.map((bus) => bus.stats());
    const sent = stats.reduce((sum, s) => sum + s.published, 0);
    return stats.every(
      (s, i) => s.delivered + s.ownDropped + s.undecodable === sent || s.resyncs > (this.#resyncs[i] ?? 0),
    );
  }
}

/** A real store that survives the cache's `close()` (it is shared by every run). */
function keepOpen(inner: StoreTier): StoreTier {
  return {
    name: inner.name,
    get: (key) => inner.get(key),
    getMany: (keys) => inner.getMany(keys),
    setMany: (writes) => inner.setMany(writes),
    deleteMany: (keys) => inner.deleteMany(keys),
    clear: (prefix, upTo) => inner.clear(prefix, upTo),
    close: async () => {},
  };
}

/** One application instance of a run. */
export interface Instance {
  readonly cache: TieredCache<string>;
  readonly redis: ChaosStore;
  readonly postgres: ChaosStore;
  readonly bus: ChaosBus;
  /** Deliveries to it are being dropped: a reconnect (resync) must follow before the run ends. */
  dropping: boolean;
}

/** How a run is set up. */
export interface RunShape {
  readonly instances: number;
  /** The bus under each ChaosBus: a MemoryBus of the run's hub, or a real Redis pub/sub bus. */
  readonly bus: 'memory' | 'redis';
  /** The guard timeout of every store, in ms: short ones turn held calls into timed-out calls that land later. */
  readonly timeoutMs: number;
}

/** A run's caches, its scheduler, and what it started. */
export class World {
  readonly s: fc.Scheduler;
  readonly namespace: string;
  readonly hub = new MemoryBusHub();
  readonly instances: Instance[] = [];
  readonly tracker = new Tracker();
  readonly #gates: Gate[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #draining = false;
  /** Held calls at their gate, not released yet. */
  #waiting = 0;
  readonly #timeoutMs: number;
  /** Messages travel through a real server: each settle waits until they have all arrived. */
  readonly realBus: boolean;
  readonly #realBuses = new RealBuses();
  /** Held calls that arrived at their gate. */
  entered = 0;
  /** Operations started, for the report. */
  readonly log: string[] = [];

  /** @param redisBus makes a real Redis bus, for runs whose shape asks for one. */
  constructor(
    s: fc.Scheduler,
    namespace: string,
    shape: RunShape,
    real: readonly RealStores[],
    redisBus: () => RedisBus,
  ) {
    this.s = s;
    this.namespace = namespace;
    this.#timeoutMs = shape.timeoutMs;
    this.realBus = shape.bus === 'redis';
    for (let i = 0; i < shape.instances; i++) {
      const slot = real[i] as RealStores;
      const redis = new ChaosStore(keepOpen(slot.redis));
      const postgres = new ChaosStore(keepOpen(slot.postgres));
      const bus = new ChaosBus(shape.bus === 'redis' ? this.#realBuses.watch(redisBus()) : this.hub.bus());
      const cache = new TieredCache<string>({
        namespace,
        l1: { max: 100 },
        stores: [this.tracker.wrap(redis), this.tracker.wrap(postgres)],
        bus,
        ttl: '10m',
        jitter: 0,
        // The breaker never opens: every call reaches the chaos wrapper and, once released, the store.
        guard: { timeout: shape.timeoutMs, failureThreshold: 1_000_000 },
        // The chaos fails stores and buses on purpose: without a handler, each instance's
        // first failure per change went to process.emitWarning, thousands of lines per run
        // in the CI log. The property checks what the failures left behind instead.
        onError: () => {},
      });
      this.instances.push({ cache, redis, postgres, bus, dropping: false });
    }
  }

  /** Resolves once every bus is subscribed. */
  async ready(): Promise<void> {
    await Promise.all(this.instances.map(({ cache }) => cache.ready()));
    this.#realBuses.subscribed();
  }

  instance(i: number): Instance {
    return this.instances[i % this.instances.length] as Instance;
  }

  /** Starts an operation without awaiting it; the run awaits it when it quiesces. */
  start(label: string, work: () => Promise<unknown>): void {
    this.log.push(label);
    const p = Promise.resolve()
      .then(work)
      .catch(() => {})
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** A value the scheduler hands back when it chooses: a slow loader's result. */
  slow<T>(value: T, label: string): Promise<T> {
    return this.s.schedule(Promise.resolve(value), label);
  }

  /** Keeps a held call's gate: released by the scheduler once the call arrives (at once while draining). */
  gate(gate: Gate, label: string): void {
    this.#gates.push(gate);
    void gate.entered
      .then(() => {
        this.entered++;
        this.#waiting++;
      })
      .then(() => (this.#draining ? undefined : this.s.schedule(Promise.resolve(), label)))
      .then(() => {
        this.#waiting--;
        gate.release();
      });
  }

  /** Lets the scheduler release up to `n` held things (real I/O goes on meanwhile). */
  async run(n: number): Promise<void> {
    for (let j = 0; j < n; j++) {
      if (this.s.count() > 0) await this.s.waitOne();
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Releases every hold, lets every operation and every store call finish, then brings
   * every link back up (a reconnect after dropped deliveries), and waits again.
   */
  async quiesce(deadlineMs = 15_000): Promise<void> {
    // With a short guard timeout, calls still held time out first, then land on release.
    if (this.#waiting > 0 && this.#timeoutMs < 100) {
      await new Promise((resolve) => setTimeout(resolve, this.#timeoutMs + 5));
    }
    this.#draining = true;
    for (const gate of this.#gates) gate.release();
    const deadline = Date.now() + deadlineMs;
    await this.#settle(deadline);
    for (const inst of this.instances) {
      inst.bus.heal();
      if (inst.dropping) {
        // Deliveries were lost: a real bus notices (heartbeat) and resyncs.
        inst.bus.linkDown();
        inst.dropping = false;
      }
      inst.bus.linkUp();
    }
    this.hub.setLink(true);
    await this.#settle(deadline);
  }

  async #settle(deadline: number): Promise<void> {
    let quiet = 0;
    while (quiet < 3) {
      while (this.s.count() > 0) await this.s.waitOne();
      await new Promise((resolve) => setTimeout(resolve, 1));
      const idle =
        this.#pending.size === 0 &&
        this.tracker.inflight === 0 &&
        this.s.count() === 0 &&
        (!this.realBus || this.#realBuses.drained());
      quiet = idle ? quiet + 1 : 0;
      if (Date.now() > deadline) {
        throw new Error(
          `no quiescence: ${this.#pending.size} operations, ${this.tracker.inflight} store calls in flight` +
            (this.realBus && !this.#realBuses.drained() ? ', bus messages still on their way' : ''),
        );
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.instances.map(({ cache }) => cache.close({ timeout: 0 })));
  }
}

/** The entries a store holds for `keys`, read straight from the real store and decoded. */
export async function storedEntries(
  store: StoreTier,
  keys: readonly string[],
): Promise<Array<Entry | undefined>> {
  const found = await store.getMany(keys);
  return found.map((bytes) => (bytes === undefined ? undefined : codec.decode(bytes)));
}
