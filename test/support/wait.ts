/**
 * Polls `check` every `intervalMs` until it returns (or resolves to) true. Bounded: once
 * `timeoutMs` has passed without it holding, throws
 * `Timed out after <timeoutMs> ms waiting for <what>`, so `what` should read as the thing
 * awaited ("B's L1 to drop k1"). `check` may be async; a check that throws (or rejects)
 * fails the wait at once with that error.
 *
 * Uses the real `setTimeout`: do not call it while `vi.useFakeTimers()` fakes timers.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A cache's store health and a read, as {@link storesUp} needs them. */
interface HealthyCache {
  get(key: string): Promise<unknown>;
  health(): { stores: Readonly<Record<string, { status: string } | undefined>> };
}

/**
 * Waits until `store` reports `up` in every cache: a read of an absent key on each
 * first (it lets a call through a breaker past its cool-down, and waits for a repair
 * owed). Resolves how long it waited, in ms.
 */
export async function storesUp(
  caches: readonly HealthyCache[],
  store: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<number> {
  const started = performance.now();
  await waitFor(
    `the ${store} store to be up again in ${caches.length === 1 ? 'the cache' : `all ${caches.length} caches`}`,
    async () => {
      await Promise.all(caches.map((cache) => cache.get('never-written')));
      return caches.every((cache) => cache.health().stores[store]?.status === 'up');
    },
    timeoutMs,
    intervalMs,
  );
  return performance.now() - started;
}
