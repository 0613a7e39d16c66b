/**
 * When an item's failure is final, and with which code. Codes follow HTTP (DESIGN.md): 400 bad
 * request data, 408 completion window passed, 429 still rate-limited, 499 cancelled, 500
 * internal, 502 upstream error, 504 upstream timeout.
 */
import type { BatchStatus } from "./statuses.js";

export interface FinalError {
  code: number;
  message: string;
}

export const CANCELLED: FinalError = { code: 499, message: "Batch was cancelled" };
export const EXPIRED: FinalError = {
  code: 408,
  message: "Batch processing timed out before request was processed",
};
export const INTERNAL: FinalError = { code: 500, message: "Internal server error during processing" };

/**
 * A retry that can no longer happen is a final failure: the batch was cancelled meanwhile (499),
 * or the retry would start after the batch's completion window (408). Null: the retry stands.
 */
export function finalErrorForRetry(
  batchStatus: BatchStatus,
  notBefore: number,
  expiresAt: number,
): FinalError | null {
  if (batchStatus === "cancelling" || batchStatus === "cancelled") return CANCELLED;
  if (notBefore >= expiresAt) return EXPIRED;
  return null;
}

/**
 * What becomes of an item whose worker was interrupted while holding it (the process died, or
 * its lease ran out): it runs again without spending an attempt, unless it has now been in
 * flight during `quarantineAfter` interruptions; then it fails as quarantined rather than
 * crashing worker after worker.
 */
export type InterruptionRule = { kind: "retry"; error: FinalError } | { kind: "failed"; error: FinalError };

export function interruptionRule(interruptions: number, quarantineAfter: number): InterruptionRule {
  if (interruptions >= quarantineAfter) {
    return {
      kind: "failed",
      error: {
        code: 500,
        message: `Quarantined: this request was in flight during ${interruptions} worker crashes or stalls and is not run again`,
      },
    };
  }
  return {
    kind: "retry",
    error: { code: 500, message: "The worker running this request stopped; retrying" },
  };
}
