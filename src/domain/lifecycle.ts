/**
 * The batch lifecycle as pure rules: when a batch settles into its final status, and which state
 * changes (pause, resume, cancel, retry) its current status allows. The store applies them inside
 * its transactions; nothing else decides them.
 */
import { type BatchStatus, isTerminalBatchStatus } from "./statuses.js";

/** What the lifecycle rules read of a batch: its status and the counters of unfinished items. */
export interface BatchProgress {
  status: BatchStatus;
  pending: number;
  processing: number;
  /** Items waiting for client tool outputs: not done, though nothing of them runs. */
  awaiting?: number;
}

/**
 * The final status a batch moves to once nothing of it is left to run, or null while it is not
 * done: a running or paused batch with no pending or processing item is `completed`; a cancelling
 * batch with nothing in flight is `cancelled`.
 */
export function settledStatus(b: BatchProgress): "completed" | "cancelled" | null {
  if (b.awaiting) return null;
  if ((b.status === "in_progress" || b.status === "paused") && b.pending === 0 && b.processing === 0) {
    return "completed";
  }
  if (b.status === "cancelling" && b.processing === 0 && b.pending === 0) return "cancelled";
  return null;
}

/**
 * A cancelling batch must not keep pending items: an item a retry put back to pending while the
 * cancel committed (PostgreSQL reads the batch unlocked) fails like every other pending item.
 */
export function hasPendingAfterCancel(b: BatchProgress): boolean {
  return b.status === "cancelling" && (b.pending > 0 || (b.awaiting ?? 0) > 0);
}

/** What a requested state change does: move the batch, leave it as it is (already there), or refuse. */
export type StateChangeRule = "change" | "unchanged" | "conflict";

/**
 * Pause: only a running batch pauses. Pausing a paused batch changes nothing and is not an error
 * (pause is safe to repeat; the README says so).
 */
export function pauseRule(status: BatchStatus): StateChangeRule {
  if (status === "in_progress") return "change";
  return status === "paused" ? "unchanged" : "conflict";
}

/**
 * Resume: only a paused batch resumes. Resuming anything else, a running batch included, is an
 * invalid state change (seed 004: 409).
 */
export function resumeRule(status: BatchStatus): StateChangeRule {
  return status === "paused" ? "change" : "conflict";
}

/**
 * Cancel: a running, paused or still validating batch (its input file being read) is cancelled;
 * one already cancelling or cancelled stays so.
 */
export function cancelRule(status: BatchStatus): StateChangeRule {
  if (status === "in_progress" || status === "paused" || status === "validating") return "change";
  return status === "cancelling" || status === "cancelled" ? "unchanged" : "conflict";
}

/** Retry of the failed items: only a batch that has ended with failed items. */
export function retryRule(status: BatchStatus, failed: number): StateChangeRule {
  return isTerminalBatchStatus(status) && failed > 0 ? "change" : "conflict";
}

/** A batch that moved to another status inside a store call, for progress events and webhooks. */
export interface BatchTransition {
  batchId: string;
  workspaceId: string;
  from: BatchStatus;
  to: BatchStatus;
}
