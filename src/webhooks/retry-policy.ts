/**
 * When a failed delivery is tried again: after `baseMs` (5 s by default), doubling with each
 * attempt up to `maxMs`, each delay jittered by ±20% so that deliveries failing together do not
 * retry together; given up once the next try would fall outside the retry window (24 h).
 */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}

/** The time of the next attempt after `attempts` failed ones, or null when the window is spent. */
export function nextAttemptAt(
  attempts: number,
  now: number,
  retrySince: number,
  policy: { retryBaseMs: number; retryMaxMs: number; retryWindowMs: number },
): number | null {
  const at = now + retryDelayMs(attempts, policy.retryBaseMs, policy.retryMaxMs);
  return at > retrySince + policy.retryWindowMs ? null : at;
}
