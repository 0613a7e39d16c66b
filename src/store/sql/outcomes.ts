/**
 * Writing item outcomes (the group commit and the reaper share it): each outcome is applied only
 * if its worker still holds the item (lease owner and attempt), then the batch counters move and
 * the batches settle, in the caller's transaction.
 */
import { type FinalError, finalErrorForRetry } from "../../domain/final-errors.js";
import type { BatchStatus } from "../../domain/statuses.js";
import { cachedPromptTokensOf } from "../../domain/usage.js";
import type { CommitReport, ItemOutcome } from "../items.js";
import { type Delta, Deltas, enqueueOutcomeEvent, writeAndSettle } from "./counters.js";
import {
  type DriverCapabilities,
  marks,
  type Row,
  type SqlExecutor,
  type SqlTransaction,
  statementGroups,
} from "./driver.js";
import { type OutboxBatch, outboxBatch } from "./outbox-rows.js";
import { n } from "./rows.js";
import { applySuccesses, type SuccessOutcome } from "./success-rows.js";

/** What an outcome's transaction needs to know about its batch. */
type OutcomeBatch = OutboxBatch & { status: BatchStatus; expiresAt: number };

/** The fence of every outcome write: the worker still holds this attempt of the item. */
const FENCE = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing'";
const fenceParams = (o: ItemOutcome) => [o.itemId, o.leaseOwner, o.attempt];
/** An outcome of a dead or stalled worker counts an interruption. */
const interruption = (o: ItemOutcome) =>
  (o.kind === "retry" || o.kind === "failed") && o.interrupted ? ", interruptions = interruptions + 1" : "";

export async function applyOutcomes(
  db: { capabilities: DriverCapabilities },
  tx: SqlTransaction,
  outcomes: ItemOutcome[],
  now: number,
): Promise<CommitReport> {
  const deltas = new Deltas();
  // Item rows in id order (the order renewals lock them in), then batch rows in id order, where
  // rows are locked (PostgreSQL, whose parameters are arrays).
  const batches = db.capabilities.rowLocks
    ? await readBatchesLockingItems(tx, outcomes)
    : await readBatches(tx, outcomes);
  const mine = [...outcomes].sort((a, b) => a.itemId - b.itemId).filter((o) => batches.has(o.batchId));
  const successes = mine.filter((o): o is SuccessOutcome => o.kind === "success");
  let applied = await applySuccesses(db, tx, successes, batches, now, (id) => deltas.of(id));
  for (const o of mine) {
    if (o.kind === "success") continue;
    if (await applyOutcome(tx, o, batches.get(o.batchId) as OutcomeBatch, now, deltas.of(o.batchId)))
      applied++;
  }
  const transitions = await writeAndSettle(tx, deltas, now);
  return { applied, discarded: outcomes.length - applied, transitions, touchedBatchIds: deltas.ids() };
}

/** The columns of a batch an outcome's transaction reads. */
const OUTCOME_BATCH_COLUMNS = "id, status, expires_at, workspace_id, webhook, item_webhooks";

/**
 * `readBatches` with the outcomes' item rows locked, in one statement (PostgreSQL): the
 * item rows are locked in id order (`locked` sorts before it locks) by the scalar subquery, which
 * PostgreSQL runs once (an InitPlan) before the first batch row is returned, so before the
 * statement ends, and before any batch row is locked (the counters' UPDATE, later in the
 * transaction). When none of the batches is found, no item is locked, and no outcome is written.
 * It was two round trips, the lock a statement of its own (bench/README.md, "Issue 17.1, a group
 * commit in one statement").
 */
const READ_BATCHES_LOCKING_ITEMS = `WITH locked AS MATERIALIZED (
       SELECT id FROM batch_items WHERE id = ANY(CAST(? AS BIGINT[])) ORDER BY id FOR UPDATE)
     SELECT ${OUTCOME_BATCH_COLUMNS}, (SELECT count(*) FROM locked) AS locked_items
     FROM batches WHERE id = ANY(CAST(? AS TEXT[]))`;

async function readBatchesLockingItems(
  tx: SqlExecutor,
  outcomes: ItemOutcome[],
): Promise<Map<string, OutcomeBatch>> {
  const rows = await tx.all(tx.keepPlan(READ_BATCHES_LOCKING_ITEMS), [
    outcomes.map((o) => o.itemId),
    [...new Set(outcomes.map((o) => o.batchId))],
  ]);
  return new Map(rows.map((r) => [r.id as string, outcomeBatch(r)]));
}

const outcomeBatch = (r: Row): OutcomeBatch => ({
  status: r.status,
  expiresAt: n(r.expires_at),
  ...outboxBatch(r),
});

async function readBatches(tx: SqlExecutor, outcomes: ItemOutcome[]): Promise<Map<string, OutcomeBatch>> {
  const batches = new Map<string, OutcomeBatch>();
  for (const group of statementGroups(tx, [...new Set(outcomes.map((o) => o.batchId))])) {
    const rows = await tx.all(
      `SELECT ${OUTCOME_BATCH_COLUMNS} FROM batches WHERE id IN (${marks(group.length)})`,
      group,
    );
    for (const r of rows) batches.set(r.id, outcomeBatch(r));
  }
  return batches;
}

/** Writes one outcome if its worker still holds the item; returns false when fenced off. */
async function applyOutcome(
  tx: SqlExecutor,
  o: Exclude<ItemOutcome, SuccessOutcome>,
  batch: OutcomeBatch,
  now: number,
  d: Delta,
): Promise<boolean> {
  if (o.kind === "await") return applyAwait(tx, o, batch, now, d);
  const final: FinalError | null =
    o.kind === "failed"
      ? { code: o.errorCode, message: o.errorMessage }
      : finalErrorForRetry(batch.status, o.notBefore, batch.expiresAt);
  if (final) return applyFailure(tx, o, final, batch, now, d);
  const retry = o as Extract<ItemOutcome, { kind: "retry" }>;
  const ok = await tx.run(
    `UPDATE batch_items SET status = 'pending', not_before = ?, error_code = ?, error_message = ?,
       lease_owner = NULL, lease_expires_at = NULL${interruption(o)} ${FENCE}`,
    [retry.notBefore, retry.errorCode, retry.errorMessage, ...fenceParams(o)],
  );
  if (ok === 0) return false;
  d.processing -= 1;
  d.pending += 1;
  return true;
}

/** The item waits for client tool outputs: no lease, its calls listed for the API. */
async function applyAwait(
  tx: SqlExecutor,
  o: Extract<ItemOutcome, { kind: "await" }>,
  batch: OutcomeBatch,
  now: number,
  d: Delta,
): Promise<boolean> {
  const ok = await tx.run(
    `UPDATE batch_items SET status = 'awaiting_tool_calls', lease_owner = NULL, lease_expires_at = NULL ${FENCE}`,
    fenceParams(o),
  );
  if (ok === 0) return false;
  for (const c of o.calls) {
    await tx.run(
      `INSERT INTO item_tool_calls (call_id, batch_id, item_id, step_index, provider_id, tool, arguments, status,
         created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)
       ON CONFLICT (call_id) DO UPDATE SET status = 'pending', answered_at = NULL`,
      [c.callId, o.batchId, o.itemId, c.stepIndex, c.providerId, c.name, c.arguments, now],
    );
  }
  await enqueueOutcomeEvent(tx, batch, o.itemId, now);
  d.processing -= 1;
  d.awaiting += 1;
  return true;
}

async function applyFailure(
  tx: SqlExecutor,
  o: ItemOutcome,
  final: FinalError,
  batch: OutcomeBatch,
  now: number,
  d: Delta,
): Promise<boolean> {
  const usage = o.kind === "failed" ? o.usage : undefined;
  const ok = await tx.run(
    `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?,
       response_usage = COALESCE(?, response_usage), lease_owner = NULL, lease_expires_at = NULL${interruption(o)} ${FENCE}`,
    [final.code, final.message, now, usage ? JSON.stringify(usage.responseUsage) : null, ...fenceParams(o)],
  );
  if (ok === 0) return false;
  await enqueueOutcomeEvent(tx, batch, o.itemId, now);
  d.processing -= 1;
  d.failed += 1;
  if (usage) {
    d.promptTokens += usage.promptTokens;
    d.cachedPromptTokens += cachedPromptTokensOf(usage.responseUsage);
    d.completionTokens += usage.completionTokens;
    d.cost += usage.cost;
  }
  return true;
}
