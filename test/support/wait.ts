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
