import type { FailedOutcome, RateLimitHint, RetryableOutcome } from "./types.js";

/** What an upstream said beyond its status, worth passing on to the engine's rate limiter. */
export interface UpstreamErrorDetails {
  retryAfterMs?: number;
  rateLimit?: RateLimitHint;
}

/**
 * Maps an upstream HTTP error status to the engine's outcome with the design's final codes:
 * 429 stays 429 (rate limited), 408 becomes 504, 409 and 5xx become 502 (all retried), and
 * every other 4xx fails at once as 400, since sending the same request again cannot help.
 */
export function outcomeForHttpError(
  status: number,
  message: string,
  details: UpstreamErrorDetails = {},
): RetryableOutcome | FailedOutcome {
  if (status === 429) return retryable(429, message, true, details);
  if (status === 408) return retryable(504, message, false, details);
  if (status === 409 || status >= 500) return retryable(502, message, false, details);
  return { kind: "failed", code: 400, message };
}

/** A retry-worthy outcome; optional fields are left out rather than set to undefined. */
export function retryable(
  code: number,
  message: string,
  rateLimited: boolean,
  details: UpstreamErrorDetails = {},
): RetryableOutcome {
  const outcome: RetryableOutcome = { kind: "retryable", code, message, rateLimited };
  if (details.retryAfterMs !== undefined) outcome.retryAfterMs = details.retryAfterMs;
  if (details.rateLimit !== undefined) outcome.rateLimit = details.rateLimit;
  return outcome;
}

/** The outcome of a call the caller gave up on (cancel, lost lease, shutdown). */
export function abortedOutcome(): RetryableOutcome {
  return { kind: "retryable", code: 504, message: "aborted", rateLimited: false };
}
