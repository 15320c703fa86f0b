import type { CarriedRelease } from '../flow/lease.js';
import { type RepairHooks, StoreGuard } from '../guard/guard.js';
import type { Recorder, TierRecord } from '../observability/recorder.js';
import type { ResolvedOptions } from '../options/cache-options.js';
import type { Clock } from '../options/clock.js';
import type { LeaseStore } from './lease.js';
import type { StoreTier, StoreWrite } from './store.js';

/** One store below L1, behind its guard, with its record in the recorder. */
export interface GuardedStore {
  readonly guard: StoreGuard;
  readonly record: TierRecord;
}

/**
 * The stores below L1, in lookup order, each behind its guard. Writes, deletes and
 * clears fan out to all of them (or to those above a tier, for backfill) in parallel; a
 * store that fails is reported and skipped, or fails the call in strict mode.
 */
export class StoreSet {
  readonly list: readonly GuardedStore[];
  readonly #recorder: Recorder;
  readonly #strict: boolean;

  /**
   * @param repair how each guard's repair deletes, and who is told (see `RepairHooks`).
   */
  constructor(
    options: ResolvedOptions,
    recorder: Recorder,
    clock: Clock,
    namespacePrefix: string,
    repair: RepairHooks,
  ) {
    this.#recorder = recorder;
    this.#strict = options.strict;
    this.list = options.stores.map((store) => {
      const record = recorder.store(store.name);
      const guard = new StoreGuard(
        store,
        {
          timeoutMs: options.guard.timeout ?? store.defaultTimeoutMs ?? 100,
          failureThreshold: options.guard.failureThreshold,
          cooldownMs: options.guard.cooldown,
        },
        clock,
        {
          storeError: () => recorder.storeError(record),
          dataError: (error) => recorder.dataError(record, error),
          called: (kind, ms, ok) => recorder.storeCall(record, kind, ms, ok),
          breaker: (state, previous) => recorder.breaker(record, state, previous),
        },
        namespacePrefix,
        repair,
      );
      return { guard, record };
    });
  }

  get length(): number {
    return this.list.length;
  }

  /** A failed read of a store: reported, and thrown on in strict mode (else the store is skipped). */
  readFailed(error: unknown): void {
    this.#recorder.error(error);
    if (this.#strict) throw error;
  }

  /**
   * Writes every entry to the stores above `upTo` (all of them by default); `counter`
   * says what they count as (tombstones count as deletes). Resolves `true` when every
   * store took the writes, `false` when one did not (it was reported, and its guard
   * repairs it before it is read again). `carried`: a lease's release that the write to
   * the store hosting the lease carries (`LeaseStore.writeAndRelease`); `done` is called
   * once that store took both.
   */
  write(
    writes: readonly StoreWrite[],
    upTo = this.list.length,
    counter: 'sets' | 'deletes' = 'sets',
    carried?: CarriedRelease,
  ): Promise<boolean> {
    if (writes.length === 0) return Promise.resolve(true);
    return this.#each(upTo, writes, counter, carried);
  }

  /**
   * Deletes every key under `prefix` of a version up to `upTo` (the clear's) from every
   * store, in the background of a clear that the epochs already made exact (what was
   * written after the clear stays): straight to each store, not through its guard
   * (a long scan is not an outage), bounded by `timeoutMs`. A store it could not clear
   * is cleared by its guard's repair before it is read again, as after a failed write:
   * the epoch hides what is left from this instance, not from one that starts later.
   */
  async sweep(prefix: string, upTo: string, timeoutMs: number): Promise<void> {
    await Promise.all(
      this.list.map(async ({ guard }) => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`clear of "${prefix}" in ${guard.store.name} gave up after ${timeoutMs} ms`)),
            timeoutMs,
          );
          timer.unref();
        });
        try {
          await Promise.race([guard.store.clear(prefix, upTo), timedOut]);
        } catch (error) {
          guard.missedClear(upTo);
          this.#recorder.error(error);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  /** Closes every store; failures are reported. */
  async close(): Promise<void> {
    for (const { guard } of this.list) guard.dispose();
    const results = await Promise.allSettled(this.list.map(({ guard }) => guard.store.close()));
    for (const result of results) if (result.status === 'rejected') this.#recorder.error(result.reason);
  }

  async #each(
    upTo: number,
    writes: readonly StoreWrite[],
    counter: 'sets' | 'deletes',
    carried: CarriedRelease | undefined,
  ): Promise<boolean> {
    // One store (the common L1 + Redis stack): no array of promises to settle.
    const failure =
      upTo === 1
        ? await this.#writeTo(this.list[0] as GuardedStore, writes, counter, carried)
        : (
            await Promise.all(
              this.list.slice(0, upTo).map((at) => this.#writeTo(at, writes, counter, carried)),
            )
          ).find((outcome) => outcome !== undefined);
    if (failure === undefined) return true;
    if (this.#strict) throw failure.error;
    return false;
  }

  /** Writes to one store through its guard; never rejects: a failure is reported and returned. */
  async #writeTo(
    at: GuardedStore,
    writes: readonly StoreWrite[],
    counter: 'sets' | 'deletes',
    carried: CarriedRelease | undefined,
  ): Promise<{ error: unknown } | undefined> {
    try {
      await at.guard.write(
        writes,
        carried !== undefined && at === carried.host
          ? (store) => writeAndRelease(store, writes, carried)
          : (store) => store.setMany(writes),
      );
      this.#recorder[counter](at.record, writes.length);
      return undefined;
    } catch (error) {
      this.#recorder.error(error);
      return { error };
    }
  }
}

/** The write to the store hosting a lease, carrying the lease's release; `done` once the store took both. */
async function writeAndRelease(
  store: StoreTier,
  writes: readonly StoreWrite[],
  { release, done }: CarriedRelease,
): Promise<void> {
  await (store.leases as Required<LeaseStore>).writeAndRelease(writes, release);
  done();
}
