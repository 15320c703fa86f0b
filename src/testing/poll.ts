/**
 * Polls `check` every 10 ms until it resolves true. Bounded: past `timeoutMs` it throws
 * `Timed out after <timeoutMs> ms waiting for <what>`, so `what` should read as the thing
 * awaited. A check that throws fails the wait at once with that error. Uses the real
 * `setTimeout`: not for use while vitest fakes timers.
 */
export async function pollUntil(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
