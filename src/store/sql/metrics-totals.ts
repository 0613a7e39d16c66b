/**
 * Running totals of finished batches for /metrics (migration 017): batches by terminal status and
 * the item counters of those batches, in one row. They move in the transaction that finishes a
 * batch, that moves a finished batch's counters, or that takes it out of its terminal status
 * (retry of failed items), always after the batch rows it locks (the lock order of every
 * transaction: batch rows, then this row).
 */
import { type BatchStatus, isTerminalBatchStatus } from "../../domain/statuses.js";
import type { Row, SqlExecutor } from "./driver.js";
import { n } from "./rows.js";

/** Changes to the totals: finished batches by status, and their item counters. */
export interface TotalsDelta {
  completed: number;
  failed: number;
  cancelled: number;
  items: { pending: number; processing: number; awaiting: number; succeeded: number; failed: number };
}

export function emptyTotals(): TotalsDelta {
  return {
    completed: 0,
    failed: 0,
    cancelled: 0,
    items: { pending: 0, processing: 0, awaiting: 0, succeeded: 0, failed: 0 },
  };
}

/** A batch row (as read or RETURNING *) counted in (+1) or out of (-1) the totals, if it has finished. */
export function addBatchRow(into: TotalsDelta, row: Row, sign: 1 | -1): void {
  const status = row.status as BatchStatus;
  if (!isTerminalBatchStatus(status)) return;
  into[status as "completed" | "failed" | "cancelled"] += sign;
  into.items.pending += sign * n(row.pending);
  into.items.processing += sign * n(row.processing);
  into.items.awaiting += sign * n(row.awaiting);
  into.items.succeeded += sign * n(row.succeeded);
  into.items.failed += sign * n(row.failed);
}

/** Counts a batch row that just reached a terminal status (no-op for any other status). */
export async function countFinished(tx: SqlExecutor, row: Row | undefined, sign: 1 | -1 = 1): Promise<void> {
  if (!row) return;
  const delta = emptyTotals();
  addBatchRow(delta, row, sign);
  await writeTotals(tx, delta);
}

export async function writeTotals(tx: SqlExecutor, d: TotalsDelta): Promise<void> {
  const values = [d.completed, d.failed, d.cancelled, ...Object.values(d.items)];
  if (values.every((v) => v === 0)) return;
  await tx.run(
    `UPDATE metrics_totals SET completed_batches = completed_batches + ?, failed_batches = failed_batches + ?,
       cancelled_batches = cancelled_batches + ?, pending = pending + ?, processing = processing + ?,
       awaiting = awaiting + ?, succeeded = succeeded + ?, failed = failed + ? WHERE id = 1`,
    [
      d.completed,
      d.failed,
      d.cancelled,
      d.items.pending,
      d.items.processing,
      d.items.awaiting,
      d.items.succeeded,
      d.items.failed,
    ],
  );
}
