import type { Entry } from '../entry/entry.js';
import type { Version } from '../entry/version.js';
import { LoaderTimeoutError } from '../errors.js';
import type { ResolvedEntryOptions } from '../options/entry-options.js';
import type { GuardedStore } from '../stores/fan-out.js';
import type { LeaseHeld, LeaseRelease, LeaseStore } from '../stores/lease.js';
import type { FenceToken } from './fences.js';
import { type Flight, noop } from './flight.js';
import type { Stack } from './stack.js';
import { walkStores } from './walk.js';

/** Each cache's leases (see {@link Leases.of}), `undefined` when it has none. */
const byStack = new WeakMap<Stack, Leases | undefined>();
/** A released lease that landed a value holds `=` and that value's version. */
const LANDED = '=';
/** A waiter asks the lease again after this long at first, doubling up to {@link MAX_POLL_MS}. */
const FIRST_POLL_MS = 4;
/** The longest a waiter goes without asking: the bus (when there is one) wakes it sooner. */
const MAX_POLL_MS = 100;

/**
 * A lease this instance holds on a key while it loads it. Its token is the load's
 * version (and a sequence number): the lease is the version handed out before the load.
 * Renewed every third of its life until released, so it lapses only when this process
 * dies or stops answering.
 */
export class HeldLease {
  /** The version the load takes (its entry's version). */
  readonly version: Version;
  readonly #leases: Leases;
  readonly #key: string;
  readonly #token: string;
  /** Released already, by the load's write (see {@link HeldLease.carried}). */
  #released = false;

  constructor(leases: Leases, key: string, token: string, version: Version) {
    this.#leases = leases;
    this.#key = key;
    this.#token = token;
    this.version = version;
    leases.hold(this);
  }

  /** Extends the lease by its life (see `Leases.hold`). */
  renew(ttl: number): void {
    // A renewal that fails is counted by the guard; the lease may then lapse, and at
    // worst another instance loads too.
    this.#leases.call((l) => l.extend(this.#key, this.#token, ttl)).catch(noop);
  }

  /**
   * Ends the lease, in the background: when the load's value `landed` in the stores (its
   * version), the lease key says so for one more lease life, so an instance that missed
   * the value before it landed reads it instead of loading again; else it is deleted and
   * a waiter takes over. Compare-and-delete by token: a lease that lapsed and was taken
   * by another instance is left alone.
   */
  release(landed: Version | undefined): void {
    if (this.#released) return;
    this.#leases.drop(this);
    const then = landed === undefined ? undefined : LANDED + landed;
    this.#leases.release(this.#key, this.#token, then);
  }

  /**
   * The release the load's write can carry when the store hosting the lease can do both
   * in one call (see `LeaseStore.writeAndRelease`): the lease then says `landed` as
   * {@link release} would, even if a newer write of the key (here or elsewhere) landed
   * meanwhile: a waiter reads what the stores hold, and loads only if that is a delete.
   * `undefined` when the store cannot (release as usual).
   */
  carried(landed: Version): CarriedRelease | undefined {
    if (!this.#leases.carries) return undefined;
    return {
      host: this.#leases.host,
      release: { key: this.#key, token: this.#token, next: LANDED + landed, nextMs: this.#leases.ttl },
      done: () => {
        this.#leases.drop(this);
        this.#released = true;
      },
    };
  }
}

/**
 * A lease's release carried by a load's write to the store hosting the lease (see
 * `StoreSet.write`): `done` once that store took both.
 */
export interface CarriedRelease {
  readonly host: GuardedStore;
  readonly release: LeaseRelease;
  readonly done: () => void;
}

/**
 * The leases of one cache (shared by its views), hosted by the first store that can:
 * one key per lease, `<namespace>#lease:<key>` (beside the namespace's epochs, outside
 * its keys, so no clear scans them). Every call goes through that store's guard (its
 * timeout and breaker). Also where lease waiters sleep: a write, delete or bus message
 * for a key wakes them (see {@link Leases.wake}).
 */
export class Leases {
  readonly #stack: Stack;
  readonly #store: GuardedStore;
  readonly #ttl: number;
  readonly #waiters = new Map<string, Set<(woken: boolean) => void>>();
  /** The hosting store can write and release a lease in one call. */
  readonly carries: boolean;
  #seq = 0;
  /** The leases this instance holds, renewed together by one timer. */
  readonly #held = new Set<HeldLease>();
  #renewing: NodeJS.Timeout | undefined;

  constructor(stack: Stack, store: GuardedStore, ttl: number) {
    this.#stack = stack;
    this.#store = store;
    this.#ttl = ttl;
    this.carries = typeof store.guard.store.leases?.writeAndRelease === 'function';
  }

  /**
   * The leases of `stack` (made on first use, shared by its views), or `undefined` when
   * off (`lease: false`) or no store hosts them. A write, delete, clear or bus message
   * (a bump of the key's fence) wakes the key's waiters.
   */
  static of(stack: Stack): Leases | undefined {
    let leases = byStack.get(stack);
    if (leases !== undefined || byStack.has(stack)) return leases;
    const lease = stack.options.lease;
    const store =
      lease === false ? undefined : stack.stores.list.find(({ guard }) => guard.store.leases !== undefined);
    if (lease !== false && store !== undefined) {
      const made = new Leases(stack, store, lease.ttl);
      stack.fences.onBump = (key) => (key === undefined ? made.wakeAll() : made.wake(key));
      leases = made;
    }
    byStack.set(stack, leases);
    return leases;
  }

  /** The store hosting the leases. */
  get host(): GuardedStore {
    return this.#store;
  }

  /** A lease's life, in ms. */
  get ttl(): number {
    return this.#ttl;
  }

  /**
   * Whether the lease store can be asked: not while its breaker is open (a call would be
   * turned away anyway). Loads then go without the lease (per-process single-flight).
   */
  get available(): boolean {
    return this.#store.guard.health().breaker !== 'open';
  }

  /**
   * Takes the lease on `local` for a load at `version` (replacing `over`, a landed marker,
   * when given): the lease when taken, else what holds it.
   * @throws StoreUnavailableError when the store cannot be asked (down, breaker open).
   */
  async acquire(local: string, version: Version, over?: string): Promise<HeldLease | LeaseHeld> {
    const key = this.#key(local);
    const token = `${version}.${(++this.#seq).toString(36)}`;
    let held: LeaseHeld | undefined;
    let sent = false;
    try {
      held = await this.call((leases) => {
        sent = true;
        return leases.acquire(key, token, this.#ttl, over);
      });
    } catch (error) {
      // Sent, then timed out: a hung server may still take the lease when it wakes, for
      // nobody. Take it back by token, straight to the store (not through the breaker),
      // so it queues behind the acquire on the same connection instead of blocking the
      // key for a lease life. (Turned away by the breaker: nothing was sent.)
      if (sent) this.#store.guard.store.leases?.release(key, token).catch(noop);
      throw error;
    }
    return held ?? new HeldLease(this, key, token, version);
  }

  /**
   * Keeps `lease` alive until it is dropped: every third of the lease's life, one timer
   * extends every lease held (one timer per instance, not one per load); a lease is
   * extended within a third of its life of being taken, as often after.
   */
  hold(lease: HeldLease): void {
    this.#held.add(lease);
    if (this.#renewing !== undefined) return;
    this.#renewing = setInterval(
      () => {
        for (const held of this.#held) held.renew(this.#ttl);
      },
      Math.max(1, this.#ttl / 3),
    );
    this.#renewing.unref();
  }

  /** Stops renewing `lease` (released, or its release carried by a write). */
  drop(lease: HeldLease): void {
    this.#held.delete(lease);
    if (this.#held.size === 0 && this.#renewing !== undefined) {
      clearInterval(this.#renewing);
      this.#renewing = undefined;
    }
  }

  /**
   * The lease for a refresh of `local` (whose value in hand is at `current`), taken
   * without waiting: `false` when another instance holds it, or has landed a value newer
   * than `current` since; `undefined` (refresh without a lease) when the store cannot be
   * asked.
   */
  async takeForRefresh(
    local: string,
    version: Version,
    current: Version,
  ): Promise<HeldLease | false | undefined> {
    if (!this.available) return undefined;
    try {
      let got = await this.acquire(local, version);
      if (!(got instanceof HeldLease) && got.holder.startsWith(LANDED) && got.holder.slice(1) <= current) {
        // The last load of the key landed the value in hand (or an older one): take over.
        got = await this.acquire(local, version, got.holder);
      }
      return got instanceof HeldLease ? got : false;
    } catch (error) {
      this.#stack.recorder.error(error);
      return undefined;
    }
  }

  /** Runs `op` on the lease store under its guard; failures reach the caller. */
  call<T>(op: (leases: LeaseStore) => Promise<T>): Promise<T> {
    return this.#store.guard.read((store) => op(store.leases as LeaseStore));
  }

  /**
   * Ends the lease `token` holds on `key` (see {@link HeldLease.release}), in the
   * background. One that fails (the store down) lapses within a lease life.
   */
  release(key: string, token: string, then: string | undefined): void {
    this.#stack.lifecycle.background(this.call((leases) => leases.release(key, token, then, this.#ttl)));
  }

  /**
   * Waits up to `ms` for news of `local`: resolves `true` when woken (a write, delete or
   * bus message for it), `false` when the time ran out.
   */
  sleep(local: string, ms: number): Promise<boolean> {
    let waiters = this.#waiters.get(local);
    if (waiters === undefined) {
      waiters = new Set();
      this.#waiters.set(local, waiters);
    }
    const set = waiters;
    return new Promise<boolean>((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#waiters.get(local) === set) this.#waiters.delete(local);
        resolve(woken);
      };
      const timer = setTimeout(done, ms, false);
      set.add(done);
    });
  }

  /** Something was written or heard of `local`: its waiters look again now. */
  wake(local: string): void {
    if (this.#waiters.size === 0) return;
    const waiters = this.#waiters.get(local);
    if (waiters !== undefined) for (const done of [...waiters]) done(true);
  }

  /** A clear or a resync: every waiter looks again. */
  wakeAll(): void {
    for (const waiters of [...this.#waiters.values()]) for (const done of [...waiters]) done(true);
  }

  #key(local: string): string {
    return `${this.#stack.options.namespace}#lease:${local}`;
  }
}

/** How a load goes ahead once the lease is settled. */
export interface LeasedLoad {
  /** The lease held, or `undefined` to load without one (off, or the store cannot be asked). */
  readonly lease: HeldLease | undefined;
  /** The load's version: the one taken when the lease was. */
  readonly version: Version;
  /** The load's options, its hard timeout shortened by the time spent waiting. */
  readonly options: ResolvedEntryOptions;
}

/**
 * Before a load: takes the key's lease, or waits for the instance that holds it. The
 * waiter wakes on the winner's bus message (or any write of the key here), else asks the
 * lease again after 4 ms, doubling to 100 ms and never past the lease's own expiry; then
 * reads the stores. A value found settles the flight and `undefined` is returned. A
 * lease released without a value, or lapsed (its holder died), is taken by one waiter,
 * which loads. With the store down, the load goes ahead without a lease (per-process
 * single-flight), never waits on it.
 *
 * @throws LoaderTimeoutError when the hard timeout passes while waiting.
 */
export async function leaseForLoad(
  stack: Stack,
  flight: Flight,
  key: string,
  local: string,
  token: FenceToken,
  version: Version,
  options: ResolvedEntryOptions,
): Promise<LeasedLoad | undefined> {
  const leases = Leases.of(stack);
  if (leases === undefined || !leases.available) return { lease: undefined, version, options };
  const started = performance.now();
  const closing = stack.lifecycle.closing.signal;
  let over: string | undefined;
  let poll = FIRST_POLL_MS;
  for (;;) {
    if (closing.aborted) throw closing.reason;
    let got: HeldLease | LeaseHeld;
    try {
      got = await leases.acquire(local, version, over);
    } catch (error) {
      stack.recorder.error(error);
      return { lease: undefined, version, options: remaining(stack, options, started, key) };
    }
    if (got instanceof HeldLease) {
      return { lease: got, version, options: remaining(stack, options, started, key, got) };
    }
    if (got.holder.startsWith(LANDED)) {
      // A value landed after this instance last looked: read it, or (gone again) take over.
      if (await settleFound(stack, flight, local, token)) return undefined;
      over = got.holder;
    } else {
      over = undefined;
      const left = remaining(stack, options, started, key).hardTimeout;
      const woken = await leases.sleep(local, Math.min(poll, got.ttlMs + 1, left > 0 ? left : poll));
      poll = Math.min(poll * 2, MAX_POLL_MS);
      if (woken && (await settleFound(stack, flight, local, token))) return undefined;
    }
    // A load taken over starts now: its version is taken now.
    version = stack.known.loadVersion([local]);
  }
}

/** Reads the stores for a fresh `local`; settles the flight with it and returns true if found. */
async function settleFound(stack: Stack, flight: Flight, local: string, token: FenceToken): Promise<boolean> {
  const found = (await walkStores(stack, [local], [token], true))[0]?.fresh;
  if (found === undefined) return false;
  settleWith(flight, found);
  return true;
}

function settleWith(flight: Flight, entry: Entry): void {
  flight.found = entry;
  flight.resolveLoaded(entry);
}

/**
 * `options` with the hard timeout less the time waited since `started`.
 * @throws LoaderTimeoutError (counted) when nothing is left of it; a lease just taken
 *   (`held`) is released first.
 */
function remaining(
  stack: Stack,
  options: ResolvedEntryOptions,
  started: number,
  key: string,
  held?: HeldLease,
): ResolvedEntryOptions {
  if (options.hardTimeout === 0) return options;
  const waited = performance.now() - started;
  if (waited < 1) return options;
  const left = Math.floor(options.hardTimeout - waited);
  if (left >= 1) return { ...options, hardTimeout: left };
  held?.release(undefined);
  stack.recorder.loader('timeouts');
  throw new LoaderTimeoutError(key, options.hardTimeout);
}
