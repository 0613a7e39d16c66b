/**
 * Polling for a condition with a deadline, for every test (no fixed sleeps): the unit tests import
 * it from here, without the service that test/helpers/server.ts (which re-exports it) loads.
 */

/** Polls `check` until it returns a truthy value or the deadline passes; returns that value. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  { timeoutMs = 20_000, intervalMs = 25, what = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
}
