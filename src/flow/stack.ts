import { randomUUID } from 'node:crypto';
import type { BusOp } from '../bus/bus.js';
import { PublishBatcher } from '../bus/publish-batcher.js';
import { EntryCodec } from '../entry/codec.js';
import { type Entry, jitterTtl, makeEntry, makeTombstone } from '../entry/entry.js';
import { type Version, VersionClock, versionBefore } from '../entry/version.js';
import { CodecError, TierCacheError } from '../errors.js';
import type { RepairHooks, VersionedKey } from '../guard/guard.js';
import { MemoryTier } from '../l1/memory-tier.js';
import { Recorder, type TierRecord } from '../observability/recorder.js';
import type { ResolvedOptions } from '../options/cache-options.js';
import { coarseClock } from '../options/clock.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import { StoreSet } from '../stores/fan-out.js';
import type { StoreWrite } from '../stores/store.js';
import { busListener } from './bus-listener.js';
import { Epochs } from './epochs.js';
import { Fences } from './fences.js';
import { type Flight, Flights, noop } from './flight.js';
import { Floors } from './floors.js';
import { KnownWrites } from './known-writes.js';
import { Lifecycle } from './lifecycle.js';
import { Semaphore } from './semaphore.js';
import { TagGenerations } from './tags.js';
import { FailSafeThrottle } from './throttle.js';

const MIN_TOMBSTONE_MS = 60_000;
const exactClock = { now: Date.now };
// close({ timeout: 0 }) still gives the stores and the bus this long to close cleanly.
const MIN_CLOSE_MS = 250;

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
  /** Versions below which store entries are refused: writes elsewhere that missed a store. */
  readonly floors = new Floors();
  /**
   * Whether the bus reports its link down: no message (nor its `partial` mark) can reach
   * this instance, so the walk checks an upper store's hit against the stores below.
   */
  linkDown = false;
  readonly flights = new Flights<Flight>();
  readonly throttle = new FailSafeThrottle();
  /** The bulkhead behind `maxConcurrentLoads`; `undefined` when unlimited. */
  readonly loads: Semaphore | undefined;
  readonly lifecycle: Lifecycle;
  readonly instanceId = randomUUID();
  /** `namespace:`, in front of every key in the stores. */
  readonly prefix: string;
  readonly clock: ResolvedOptions['clock'];
  /** Settles once the bus (if any) is subscribed; rejects (and reports) when it cannot subscribe. */
  readonly ready: Promise<void>;
  /** Issues the versions of this instance's writes, deletes and loads. */
  readonly versions: VersionClock;
  /** The clears of the namespace and its views, as generations every store read checks. */
  readonly epochs: Epochs;
  /** The tags' generations, which every store read checks (see `TagGenerations`). */
  readonly tags: TagGenerations;
  /** What this instance wrote or heard of in the current millisecond: loads take their versions from it. */
  readonly known: KnownWrites;
  readonly #publisher: PublishBatcher | undefined;
  readonly #tombstoneMs: number;
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.clock = options.clock;
    this.prefix = `${options.namespace}:`;
    const recorder = new Recorder(
      options.stores.map((store) => store.name),
      options.onError,
      options.logger,
      options.namespace,
    );
    this.recorder = recorder;
    this.lifecycle = new Lifecycle(recorder);
    this.l1 =
      options.l1 === false ? undefined : new MemoryTier(options.l1, () => recorder.eviction(), options.clock);
    this.stores = new StoreSet(options, recorder, options.clock, this.prefix, this.#repairHooks());
    this.codec = new EntryCodec(options.codec);
    // Versions read the wall clock exactly: the default clock may lag up to a millisecond
    // (it is cached for the hit path), and a write stamped a millisecond early can lose
    // to a load another process made just before it (told so out of band, not by the bus).
    const versionTime = options.clock === coarseClock ? exactClock : options.clock;
    this.versions = new VersionClock(versionTime);
    this.epochs = new Epochs(this);
    this.tags = new TagGenerations(this);
    // An instance that starts after a clear must not serve what it cleared: the first
    // reads below L1 wait for the namespace's epoch (one getMany per store, once).
    if (options.stores.length > 0) this.epochs.refresh();
    this.known = new KnownWrites(this.versions, versionTime);
    // A tombstone must outlive any write older than its delete that may still land: a
    // load's write lands within its load, a write delayed on the wire (a paused server)
    // within its own life at most, so: the default life of an entry, at least a minute.
    this.#tombstoneMs = Math.max(MIN_TOMBSTONE_MS, options.entry.ttl + options.entry.grace);
    this.loads =
      options.maxConcurrentLoads === Number.POSITIVE_INFINITY
        ? undefined
        : new Semaphore(options.maxConcurrentLoads, options.maxQueuedLoads);
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
      // ready() rejects when the bus cannot subscribe (within its own start timeout): a
      // cache that will never hear an invalidation must not look ready. Reported too, and
      // never an unhandled rejection for a caller who does not ask.
      this.ready = bus.start(options.namespace, this.instanceId, busListener(this)).catch((error) => {
        recorder.error(error);
        throw error;
      });
      this.ready.catch(noop);
    }
  }

  now(): number {
    return this.clock.now();
  }

  /** A new entry for `value`, made now, with `ttl` jittered once. */
  /**
   * A new entry for `value`, made now, with `ttl` jittered once, at `version` (a load
   * passes the version it took when it started; a write takes a new one).
   */
  makeEntry(
    value: unknown,
    options: ResolvedEntryOptions,
    ttl = options.ttl,
    version: Version = this.versions.next(),
  ): Entry {
    const jittered = jitterTtl(ttl, options.jitter, this.options.random());
    return makeEntry(value, this.now(), jittered, options.grace, options.tags, version);
  }

  /**
   * Deletions of `locals` at `version`, as the stores keep them: long enough that no
   * older write (a load that started before the delete, a write delayed on the wire)
   * can land after them and bring a value back.
   */
  tombstones(locals: readonly string[], version: Version): StoreWrite[] {
    const now = this.now();
    const tombstone = makeTombstone(version, now, now + this.#tombstoneMs);
    const bytes = this.codec.encode(tombstone);
    return locals.map((local) => this.toWrite(local, tombstone, bytes));
  }

  /**
   * The store write of `entry` under `local`: encoded once (or the bytes it was read as).
   * @throws CodecError naming the key when the value cannot be encoded.
   */
  toWrite(local: string, entry: Entry, bytes?: Uint8Array): StoreWrite {
    return {
      key: this.prefix + local,
      value: bytes ?? this.#encode(local, entry),
      expiresAt: entry.expiresAt,
      version: entry.version,
    };
  }

  #encode(local: string, entry: Entry): Uint8Array {
    try {
      return this.codec.encode(entry);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      throw new CodecError(`Key ${JSON.stringify(local)}: ${error.message}`, { cause: error.cause });
    }
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

  /**
   * Tells other instances to drop their L1 copies of `locals` older than `versions`
   * (aligned with `locals`, or one for all; `undefined`: whatever their version);
   * batched per tick. `partial`: the write missed a store, so receivers also refuse
   * older store entries of these keys until its repair (see `Floors`).
   */
  publish(
    op: BusOp,
    locals: readonly string[],
    versions: Version | readonly Version[] | undefined,
    partial = false,
  ): Promise<void> {
    return this.#publisher === undefined
      ? Promise.resolve()
      : this.#publisher.publish(op, locals, versions, partial);
  }

  /**
   * Drops keys from L1 and stops in-flight reads of them from writing back. With
   * `versions` (aligned with `locals`, from another instance's write or delete), an L1
   * copy as new as that write is kept.
   */
  invalidateKeys(locals: readonly string[], versions?: readonly Version[]): void {
    const l1 = this.l1;
    for (let i = 0; i < locals.length; i++) {
      const local = locals[i] as string;
      this.fences.bump(local, versions?.[i]);
      this.flights.forget(local);
      this.throttle.end(local);
      if (versions === undefined) l1?.delete(local);
      else l1?.deleteOlder(local, versions[i] as Version);
    }
  }

  /** Drops every key under `prefix` (`''`: all) from L1; no read in flight may write back. */
  invalidatePrefix(prefix: string): void {
    this.fences.bumpAll();
    this.flights.forgetAll();
    this.throttle.endAll();
    this.l1?.deletePrefix(prefix);
  }

  /**
   * Waits for loads and background work (up to `timeoutMs` for loads), then closes the
   * stores and the bus; resolves within `timeoutMs` (or a short grace when it is 0)
   * whatever the servers do: a close still hanging then is reported and left to finish
   * on its own. Every call shares the first call's promise.
   */
  close(timeoutMs: number): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + Math.max(timeoutMs, MIN_CLOSE_MS);
    await this.lifecycle.drain(timeoutMs, this.#publisher?.pending);
    const closing = Promise.allSettled([this.stores.close(), this.options.bus?.close()]).then(
      ([, busClosed]) => {
        if (busClosed.status === 'rejected') this.recorder.error(busClosed.reason);
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - performance.now()), 'late');
      timer.unref();
    });
    if ((await Promise.race([closing, late])) === 'late') {
      this.recorder.error(
        new TierCacheError(
          `close(): the stores or the bus did not close within ${timeoutMs} ms; left closing`,
        ),
      );
    }
    clearTimeout(timer);
    this.l1?.deletePrefix('');
  }

  /** How the guards' repairs delete and whom they tell (see `RepairHooks`). */
  #repairHooks(): RepairHooks {
    return {
      // Just below each missed write: older values go, the write itself still lands. A
      // missed epoch is written again as it was.
      tombstones: (missed) =>
        missed.flatMap(({ key, version }) => {
          const epoch = version === undefined ? undefined : this.epochs.repairWrite(key, version);
          if (epoch !== undefined) return [epoch];
          return this.tombstones(
            [key.slice(this.prefix.length)],
            version === undefined ? this.versions.next() : versionBefore(version),
          );
        }),
      repaired: (missed, upTo) => this.#repaired(missed, upTo),
      version: () => this.versions.next(),
      epoch: (upTo) => this.epochs.namespaceWrite(upTo),
    };
  }

  /**
   * A store's repair deleted, by tombstones at the versions of the writes it missed
   * during an outage, what it may still hold older than them (`undefined`: the whole
   * namespace, up to `upTo`). Another instance may have read those older values from it
   * while it came back: every instance drops copies older than the missed writes.
   */
  #repaired(missed: readonly VersionedKey[] | undefined, upTo: Version | undefined): void {
    if (missed === undefined) {
      // The store was cleared up to the newest missed write, behind an epoch at it (a
      // generation, as clear() writes): every instance moves its epoch there too.
      if (upTo === undefined) return;
      this.known.noteClear(upTo);
      this.epochs.advance('', upTo);
      this.invalidatePrefix('');
      this.lifecycle.background(this.publish('clear', [''], upTo));
      return;
    }
    // Epochs a repair wrote again are no keys of the namespace: nothing to tell about them.
    missed = missed.filter(({ key }) => key.startsWith(this.prefix));
    const locals = missed.map(({ key }) => key.slice(this.prefix.length));
    const fallback = this.versions.next();
    const versions = missed.map(({ version }) => version ?? fallback);
    for (let i = 0; i < locals.length; i++) {
      this.known.note(locals[i] as string, versions[i] as Version);
      // Only L1 copies older than the missed writes: no fence moves, so a read of the key
      // waiting on this repair still copies the newest write up afterwards.
      this.l1?.deleteOlder(locals[i] as string, versions[i] as Version);
    }
    this.lifecycle.background(this.publish('delete', locals, versions));
  }
}
