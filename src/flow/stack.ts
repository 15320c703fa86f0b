import { randomUUID } from 'node:crypto';
import type { BusListener, BusOp } from '../bus/bus.js';
import { PublishBatcher } from '../bus/publish-batcher.js';
import { EntryCodec } from '../entry/codec.js';
import { type Entry, jitterTtl, makeEntry } from '../entry/entry.js';
import { CodecError } from '../errors.js';
import { MemoryTier } from '../l1/memory-tier.js';
import { Recorder, type TierRecord } from '../observability/recorder.js';
import type { ResolvedOptions } from '../options/cache-options.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { StoreSet } from '../stores/fan-out.js';
import type { StoreWrite } from '../stores/store.js';
import { Fences } from './fences.js';
import { type Flight, Flights } from './flight.js';
import { Lifecycle } from './lifecycle.js';
import { Semaphore } from './semaphore.js';
import { FailSafeThrottle } from './throttle.js';

/**
 * Everything a cache shares with its namespace views: the tiers (L1, the guarded
 * stores), the per-key bookkeeping (fences, flights, the fail-safe throttle), the
 * bulkhead, the bus and the lifecycle. The request flows (`flow/*.ts`) work on it;
 * `TieredCache` is the facade in front of them.
 */
export class Stack {
  readonly options: ResolvedOptions;
  readonly recorder: Recorder;
  /** L1, or `undefined` when configured off (`l1: false`). */
  readonly l1: MemoryTier | undefined;
  readonly stores: StoreSet;
  readonly codec: EntryCodec;
  readonly fences = new Fences();
  readonly flights = new Flights<Flight>();
  readonly throttle = new FailSafeThrottle();
  /** The bulkhead behind `maxConcurrentLoads`; `undefined` when unlimited. */
  readonly loads: Semaphore | undefined;
  readonly lifecycle: Lifecycle;
  readonly instanceId = randomUUID();
  /** `namespace:`, in front of every key in the stores. */
  readonly prefix: string;
  readonly clock: ResolvedOptions['clock'];
  /** Settles once the bus (if any) is subscribed; a failure to subscribe is reported. */
  readonly ready: Promise<void>;
  readonly #publisher: PublishBatcher | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.clock = options.clock;
    this.prefix = `${options.namespace}:`;
    const recorder = new Recorder(
      options.stores.map((store) => store.name),
      options.onError,
    );
    this.recorder = recorder;
    this.lifecycle = new Lifecycle(recorder);
    this.l1 = options.l1 === false ? undefined : new MemoryTier(options.l1, () => recorder.eviction());
    this.stores = new StoreSet(options, recorder, options.clock, this.prefix);
    this.codec = new EntryCodec(options.codec);
    this.loads =
      options.maxConcurrentLoads === Number.POSITIVE_INFINITY
        ? undefined
        : new Semaphore(options.maxConcurrentLoads);
    const bus = options.bus;
    if (bus === undefined) {
      this.#publisher = undefined;
      this.ready = Promise.resolve();
    } else {
      // How long a write waits for its bus message: the shortest store timeout, at most 100 ms by default.
      const waitMs = Math.min(
        options.guard.timeout ?? 100,
        ...options.stores.map((store) => options.guard.timeout ?? store.defaultTimeoutMs ?? 100),
      );
      this.#publisher = new PublishBatcher(bus, this.instanceId, waitMs, recorder);
      this.ready = bus
        .start(options.namespace, this.instanceId, this.#listener())
        .catch((error) => recorder.error(error));
    }
  }

  now(): number {
    return this.clock.now();
  }

  /** A new entry for `value`, made now, with `ttl` jittered once. */
  makeEntry(value: unknown, options: ResolvedEntryOptions, ttl = options.ttl): Entry {
    const jittered = jitterTtl(ttl, options.jitter, this.options.random());
    return makeEntry(value, this.now(), jittered, options.grace, options.tags);
  }

  /** The store write of `entry` under `local`: encoded once (or the bytes it was read as). */
  toWrite(local: string, entry: Entry, bytes?: Uint8Array): StoreWrite {
    return {
      key: this.prefix + local,
      value: bytes ?? this.codec.encode(entry),
      expiresAt: entry.expiresAt,
      version: entry.version,
    };
  }

  /** The entry in `bytes` read from a store; undecodable bytes are a miss, counted and reported. */
  decode(bytes: Uint8Array | undefined, tier: TierRecord): Entry | undefined {
    if (bytes === undefined) return undefined;
    try {
      return this.codec.decode(bytes);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.recorder.codecError(tier);
      this.recorder.error(error);
      return undefined;
    }
  }

  /** Tells other instances to drop `locals` from their L1 (batched per tick). */
  publish(op: BusOp, locals: readonly string[]): Promise<void> {
    return this.#publisher === undefined ? Promise.resolve() : this.#publisher.publish(op, locals);
  }

  /** Drops keys from L1 and stops in-flight reads of them from writing back. */
  invalidateKeys(locals: readonly string[]): void {
    const l1 = this.l1;
    for (const local of locals) {
      this.fences.bump(local);
      this.flights.forget(local);
      this.throttle.end(local);
      l1?.delete(local);
    }
  }

  /** Drops every key under `prefix` (`''`: all) from L1; no read in flight may write back. */
  invalidatePrefix(prefix: string): void {
    this.fences.bumpAll();
    this.flights.forgetAll();
    this.throttle.endAll();
    this.l1?.deletePrefix(prefix);
  }

  /** Waits for loads and background work (up to `timeoutMs` for loads), then closes stores and bus. */
  async close(timeoutMs: number): Promise<void> {
    if (!(await this.lifecycle.drain(timeoutMs, this.#publisher?.pending))) return;
    const bus = this.options.bus;
    const [, busClosed] = await Promise.allSettled([this.stores.close(), bus?.close()]);
    if (busClosed.status === 'rejected') this.recorder.error(busClosed.reason);
    this.l1?.deletePrefix('');
  }

  #listener(): BusListener {
    return {
      onMessage: (message) => {
        this.recorder.bus('received');
        if (message.op === 'clear') this.invalidatePrefix(message.keys[0] ?? '');
        else this.invalidateKeys(message.keys);
      },
      onResync: () => {
        this.recorder.bus('resyncs');
        this.invalidatePrefix('');
      },
      onLinkChange: (up: boolean) => {
        // While the link is down no invalidation can reach us: L1 is bypassed (neither
        // read nor written) so it serves nothing older than the moment of detection.
        this.l1?.bypass(!up);
        if (!up) this.invalidatePrefix('');
      },
    };
  }
}
