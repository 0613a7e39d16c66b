/**
 * The statuses of batches and items, declared once: the store, the engine, the routes, the
 * schemas and the webhooks all import them from here.
 */

export const BATCH_STATUSES = [
  "validating",
  "in_progress",
  "paused",
  "completed",
  "failed",
  "cancelling",
  "cancelled",
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** A batch in one of these has ended: nothing of it runs again (unless its failed items are retried). */
export const TERMINAL_BATCH_STATUSES: readonly BatchStatus[] = ["completed", "failed", "cancelled"];

/** Batches that have not ended (`GET /batches/active`). */
export const ACTIVE_BATCH_STATUSES: readonly BatchStatus[] = [
  "validating",
  "in_progress",
  "paused",
  "cancelling",
];

/** No item of a batch in one of these may start: items held but not started are handed back. */
export const HALTED_BATCH_STATUSES: readonly BatchStatus[] = ["paused", "cancelling", "cancelled"];

/**
 * `awaiting_tool_calls`: the agent asked for client tool calls; the item holds no lease and no
 * slot until their outputs arrive (`POST /batches/{id}/tool-outputs`), then it is pending again.
 */
export const ITEM_STATUSES = ["pending", "processing", "awaiting_tool_calls", "success", "failed"] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export function isTerminalBatchStatus(status: BatchStatus): boolean {
  return TERMINAL_BATCH_STATUSES.includes(status);
}
