import { randomUUID } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import type { BusListener, BusMessage, BusOp } from '../bus/bus.js';
import { EntryCodec } from '../entry/codec.js';
import { type Entry, jitterTtl, makeEntry } from '../entry/entry.js';
import { CacheClosedError, CodecError } from '../errors.js';
import { StoreGuard } from '../guard/guard.js';
import { MemoryTier } from '../l1/memory-tier.js';
import { StatsRecorder } from '../observability/stats.js';
import type { ResolvedEntryOptions, ResolvedOptions } from '../options/cache-options.js';
import type { StoreWrite } from '../stores/store.js';
import { Fences, type FenceToken, type Flight, Flights, Semaphore } from './single-flight.js';

// The state a cache shares with its namespace views, and the plumbing between tiers:
// the store walk, the one write path, backfill and the bus. TieredCache (cache.ts) holds
// the request flows on top of it.

// Most keys under a fail-safe throttle at once.
const MAX_THROTTLED = 10_000;

export function newer(a: Entry | undefined, b: Entry | undefined): Entry | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.createdAt > a.createdAt ? b : a;
}

/** State shared by a cache and all its namespace views. */
export class Core {
  readonly options: ResolvedOptions;
  readonly stats: StatsRecorder;
  readonly memory: MemoryTier | undefined;
  /** L1 as read and written; `undefined` while L1 is off or bypassed (bus link down). */
  l1: LRUCache<string, Entry> | undefined;
  readonly guards: StoreGuard[];
  readonly codec: EntryCodec;
  readonly fences = new Fences();
  readonly flights = new Flights<Flight>();
  readonly loads: Semaphore | undefined;
  readonly instanceId = randomUUID();
  readonly prefix: string;
  readonly clock: ResolvedOptions['clock'];
  readonly ready: Promise<void>;
  closed = false;
  /** Aborted by `close()`: loads in flight stop waiting for their loader. */
  readonly closing = new AbortController();
  readonly #background = new Set<Promise<unknown>>();
  #loads = 0;
  #idle: (() => void) | undefined;
  // Fail-safe throttle, by key: until when a stale value is served without calling the
  // loader again. Kept apart from the entry, so nothing mistakes that value for fresh.
  readonly #failSafeUntil = new Map<string, number>();
  readonly #queued = new Map<BusOp, string[]>();
  #flush: Promise<void> | undefined;
  /** How long a write waits for its bus message: the shortest store timeout, at most 100 ms by default. */
  readonly #publishWaitMs: number;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.clock = options.clock;
    this.prefix = `${options.namespace}:`;
    this.stats = new StatsRecorder(options.stores.map((store) => store.name));
    this.memory =
      options.l1 === false
        ? undefined
        : new MemoryTier(options.l1, () => {
            this.stats.l1.evictions++;
          });
    this.l1 = this.memory?.lru;
    this.guards = options.stores.map(
      (store) =>
        new StoreGuard(
          store,
          {
            timeoutMs: options.guard.timeout ?? store.defaultTimeoutMs ?? 100,
            failureThreshold: options.guard.failureThreshold,
            cooldownMs: options.guard.cooldown,
          },
          options.clock,
          this.stats.store(store.name),
          this.prefix,
        ),
    );
    this.#publishWaitMs = Math.min(
      options.guard.timeout ?? 100,
      ...options.stores.map((store) => options.guard.timeout ?? store.defaultTimeoutMs ?? 100),
    );
    this.codec = new EntryCodec(options.codec);
    this.loads =
      options.maxConcurrentLoads === Number.POSITIVE_INFINITY
        ? undefined
        : new Semaphore(options.maxConcurrentLoads);
    const bus = options.bus;
    this.ready =
      bus === undefined
        ? Promise.resolve()
        : bus
            .start(options.namespace, this.instanceId, this.#listener())
            .catch((error) => this.report(error));
  }

  assertOpen(method: string): void {
    if (this.closed) throw new CacheClosedError(method);
  }

  report(error: unknown): void {
    const onError = this.options.onError;
    if (onError !== undefined) {
      try {
        onError(error instanceof Error ? error : new Error(String(error)));
      } catch {
        // A logging hook that throws must not break the cache.
      }
    }
  }

  /**
   * Counts a load that `close()` must wait for. A counter, not a tracked promise: a load
   * runs on every miss and every L2/L3 hit, and a promise chain per call shows there.
   */
  beginLoad(): void {
    this.#loads++;
  }

  endLoad(): void {
    if (--this.#loads === 0 && this.#idle !== undefined) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  /** Runs a promise in the background; `close()` waits for it. Its failure is reported, never unhandled. */
  background(work: Promise<unknown>): void {
    const tracked = work.catch((error) => this.report(error)).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  now(): number {
    return this.clock.now();
  }

  makeEntry(value: unknown, options: ResolvedEntryOptions, ttl = options.ttl): Entry {
    const jittered = jitterTtl(ttl, options.jitter, this.options.random());
    return makeEntry(value, this.now(), jittered, options.grace, options.tags);
  }

  // ---- fail-safe throttle -------------------------------------------------------------

  throttle(local: string, until: number): void {
    // Bounded: forgetting throttles costs only extra loader calls.
    if (this.#failSafeUntil.size >= MAX_THROTTLED) this.#failSafeUntil.clear();
    this.#failSafeUntil.set(local, until);
  }

  /** A fresh value was stored: the key's fail-safe throttle is over. */
  unthrottle(local: string): void {
    this.#failSafeUntil.delete(local);
  }

  /** Whether a fail-safe activation still keeps loads of the key away at `now`. */
  throttled(local: string, now: number): boolean {
    if (this.#failSafeUntil.size === 0) return false;
    const until = this.#failSafeUntil.get(local);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#failSafeUntil.delete(local);
    return false;
  }

  // ---- L1 ---------------------------------------------------------------------------

  /** The L1 entry if it is still within its life; drops it if expired. */
  l1Peek(local: string, now: number): Entry | undefined {
    const lru = this.l1;
    if (lru === undefined) return undefined;
    const entry = lru.get(local);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      lru.delete(local);
      return undefined;
    }
    return entry;
  }

  /** Drops keys from L1 and stops in-flight reads of them from writing back. */
  invalidateLocal(locals: readonly string[]): void {
    const lru = this.memory?.lru;
    for (const local of locals) {
      this.fences.bump(local);
      this.flights.forget(local);
      this.#failSafeUntil.delete(local);
      lru?.delete(local);
    }
  }

  invalidatePrefix(prefix: string): void {
    this.fences.bumpAll();
    this.flights.forgetAll();
    this.#failSafeUntil.clear();
    if (prefix === '') this.memory?.lru.clear();
    else this.memory?.deletePrefix(prefix);
  }

  // ---- stores -----------------------------------------------------------------------

  /**
   * Walks the stores in order for one key: the first fresh entry wins; the newest
   * stale entry within grace is kept as a candidate. Store failures skip the store.
   */
  async walk(storeKey: string): Promise<{ fresh?: Entry; at: number; stale?: Entry }> {
    let stale: Entry | undefined;
    for (let i = 0; i < this.guards.length; i++) {
      const guard = this.guards[i] as StoreGuard;
      const counters = this.stats.store(guard.store.name);
      let bytes: Uint8Array | undefined;
      try {
        bytes = await guard.read((store) => store.get(storeKey));
      } catch (error) {
        this.storeFailed(error);
        continue;
      }
      const entry = this.decode(bytes, counters);
      const now = this.now();
      if (entry !== undefined && now < entry.staleAt) {
        counters.hits++;
        return { fresh: entry, at: i };
      }
      counters.misses++;
      if (entry !== undefined && now < entry.expiresAt) stale = newer(stale, entry);
    }
    return { at: -1, ...(stale !== undefined ? { stale } : {}) };
  }

  decode(bytes: Uint8Array | undefined, counters: { codecErrors: number }): Entry | undefined {
    if (bytes === undefined) return undefined;
    try {
      return this.codec.decode(bytes);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      counters.codecErrors++;
      this.report(error);
      return undefined;
    }
  }

  storeFailed(error: unknown): void {
    this.report(error);
    if (this.options.strict) throw error;
  }

  /**
   * The one write path to the stores: every store, in parallel, through
   * its guard. A future version or lease token rides along here.
   */
  async writeStores(writes: readonly StoreWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const keys = writes.map((write) => write.key);
    await this.eachStore(this.guards, keys, 'sets', (guard) =>
      guard.write(keys, (store) => store.setMany(writes)),
    );
  }

  async deleteStores(storeKeys: readonly string[]): Promise<void> {
    if (storeKeys.length === 0) return;
    await this.eachStore(this.guards, storeKeys, 'deletes', (guard) =>
      guard.write(storeKeys, (store) => store.deleteMany(storeKeys)),
    );
  }

  async clearStores(prefix: string): Promise<void> {
    await this.eachStore(this.guards, undefined, 'deletes', (guard) =>
      // A clear that did not land (even a view's) is repaired by clearing the whole
      // namespace from that store before it is read again: over-deleting is a miss,
      // under-deleting would be a stale read.
      guard.write(undefined, (store) => store.clear(prefix)),
    );
  }

  async eachStore(
    guards: readonly StoreGuard[],
    keys: readonly string[] | undefined,
    counter: 'sets' | 'deletes',
    op: (guard: StoreGuard) => Promise<void>,
  ): Promise<void> {
    const count = keys?.length ?? 1;
    const failures: unknown[] = [];
    await Promise.all(
      guards.map(async (guard) => {
        try {
          await op(guard);
          this.stats.store(guard.store.name)[counter] += count;
        } catch (error) {
          this.report(error);
          failures.push(error);
        }
      }),
    );
    if (this.options.strict && failures.length > 0) throw failures[0];
  }

  /**
   * Writes a fresh entry into every tier, unless a newer write or delete of the key
   * came in while it was being read or loaded (the fence moved).
   */
  async store(local: string, entry: Entry, token: FenceToken): Promise<void> {
    if (!this.fences.holds(token)) return;
    this.unthrottle(local);
    this.l1?.set(local, entry);
    this.stats.l1.sets++;
    if (this.guards.length > 0) {
      const storeKey = this.prefix + local;
      await this.writeStores([
        { key: storeKey, value: this.codec.encode(entry), expiresAt: entry.expiresAt },
      ]);
      // A delete that ran while our write was on the wire may have landed first; ours
      // would then outlive it. Undo ours: a miss is fine, a resurrected value is not.
      if (!this.fences.holds(token)) {
        if (this.memory?.lru.peek(local) === entry) this.memory.lru.delete(local);
        await this.deleteStores([storeKey]);
        return;
      }
    }
    await this.publish('set', [local]);
  }

  /** A fresh entry found in store `at`: write it into L1 and the stores above, with its remaining life. */
  backfill(local: string, entry: Entry, at: number, bytes: Uint8Array | undefined, token: FenceToken): void {
    if (!this.fences.holds(token)) return;
    this.l1?.set(local, entry);
    if (at === 0) return;
    const storeKey = this.prefix + local;
    // The entry's own expiresAt travels with it: the upper stores get its remaining life, never a fresh TTL.
    const writes = [{ key: storeKey, value: bytes ?? this.codec.encode(entry), expiresAt: entry.expiresAt }];
    // The caller releases `token` as soon as this returns, and a released fence record is
    // dropped and no longer bumped: the write below outlives it, so it holds its own.
    const hold = this.fences.acquire(local);
    this.background(
      (async () => {
        try {
          const above = this.guards.slice(0, at);
          await this.eachStore(above, [storeKey], 'sets', (guard) =>
            guard.write([storeKey], (store) => store.setMany(writes)),
          );
          // Undo only what this backfill wrote. The store it read from is not ours to
          // delete from: a bus resync bumps every fence, and undoing there would wipe
          // the durable tier's copy of every key being backfilled at that moment.
          if (!this.fences.holds(hold)) {
            await this.eachStore(above, [storeKey], 'deletes', (guard) =>
              guard.write([storeKey], (store) => store.deleteMany([storeKey])),
            );
          }
        } finally {
          this.fences.release(hold);
        }
      })(),
    );
  }

  // ---- bus --------------------------------------------------------------------------

  /** Publishes an invalidation; keys published in the same tick share one message per op. */
  publish(op: BusOp, locals: readonly string[]): Promise<void> {
    const bus = this.options.bus;
    if (bus === undefined) return Promise.resolve();
    let queue = this.#queued.get(op);
    if (queue === undefined) {
      queue = [];
      this.#queued.set(op, queue);
    }
    for (const local of locals) queue.push(local);
    this.#flush ??= new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.#flush = undefined;
        const batches = [...this.#queued];
        this.#queued.clear();
        // A hung or reconnecting link (a paused Redis, an offline queue) would hold every
        // write and every load for the whole outage: callers wait at most #publishWaitMs.
        // The message still goes out if the link answers later; a late failure is counted.
        const waited = setTimeout(resolve, this.#publishWaitMs);
        Promise.all(
          batches.map(async ([batchOp, keys]) => {
            try {
              await bus.publish({ origin: this.instanceId, op: batchOp, keys });
              this.stats.bus.published++;
            } catch (error) {
              this.stats.bus.errors++;
              this.report(error);
            }
          }),
        ).then(() => {
          clearTimeout(waited);
          resolve();
        });
      });
    });
    return this.#flush;
  }

  #listener(): BusListener {
    return {
      onMessage: (message: BusMessage) => {
        this.stats.bus.received++;
        if (message.op === 'clear') this.invalidatePrefix(message.keys[0] ?? '');
        else this.invalidateLocal(message.keys);
      },
      onResync: () => {
        this.stats.bus.resyncs++;
        this.invalidatePrefix('');
      },
      onLinkChange: (up: boolean) => {
        // While the link is down no invalidation can reach us: L1 is bypassed (neither
        // read nor written) so it serves nothing older than the moment of detection.
        this.l1 = up ? this.memory?.lru : undefined;
        if (!up) this.invalidatePrefix('');
      },
    };
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Loads in flight get `timeoutMs` to land (a background refresh then reaches the
    // stores before they close). A loader that never settles must not hang close():
    // past the timeout, loads reject with CacheClosedError, their signals fire, and
    // the loaders' own promises are abandoned.
    const abort = () => this.closing.abort(new CacheClosedError('close'));
    const timer = timeoutMs === 0 ? undefined : setTimeout(abort, timeoutMs);
    if (timer === undefined) abort();
    await this.#flush;
    while (this.#background.size > 0 || this.#loads > 0) {
      if (this.#loads > 0) {
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
      }
      await Promise.all([...this.#background]);
    }
    clearTimeout(timer);
    const closing = [...this.options.stores.map((store) => store.close()), this.options.bus?.close()];
    const results = await Promise.allSettled(closing);
    for (const result of results) if (result.status === 'rejected') this.report(result.reason);
    this.memory?.lru.clear();
  }
}
