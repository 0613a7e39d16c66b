import { capUpstreamWaitMs } from "../providers/upstream-wait.js";

/**
 * Delay before the next attempt: exponential in the attempt number, with "equal jitter" (half
 * fixed, half random) so that many items failing together do not retry together, and never
 * shorter than what the upstream asked for in Retry-After (capped at MAX_UPSTREAM_WAIT_MS).
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(Math.round(jittered), capUpstreamWaitMs(retryAfterMs ?? 0));
}
