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

/** What the reaper does with an item whose lease ran out: run it again, or give up once attempts are spent. */
export type ExpiredLeaseRule = { kind: "retry"; error: FinalError } | { kind: "failed"; error: FinalError };

export function expiredLeaseRule(attempts: number, maxAttempts: number): ExpiredLeaseRule {
  if (attempts >= maxAttempts) {
    return {
      kind: "failed",
      error: { code: 500, message: "The worker running this request stopped responding" },
    };
  }
  return { kind: "retry", error: { code: 500, message: "Worker lease expired; retrying" } };
}
