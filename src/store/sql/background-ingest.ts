/**
 * Background ingest of an input file in short transactions: the batch row first (`validating`,
 * never claimed: the claim takes only in_progress batches), then the rows chunk by chunk, then one
 * UPDATE that makes them all runnable, or fails the batch and deletes what was stored.
 */

import type {
  Batch,
  CreateBatchResult,
  IngestEnd,
  IngestProgress,
  IngestRow,
  NewBatch,
  ResumedIngest,
} from "../batches.js";
import { insertItemGroup } from "./batch-rows.js";
import type { Row, SqlDriver } from "./driver.js";
import { claimBatchIdentity, Rollback } from "./ingest.js";
import { countFinished } from "./metrics-totals.js";
import { enqueueBatchEvent } from "./outbox-rows.js";
import { n, toBatch } from "./rows.js";

/** Items per multi-row INSERT inside a chunk. */
const GROUP = 500;
/** Items deleted per transaction when a failed ingest is cleaned up. */
const DELETE_CHUNK = 5000;

/** Thrown to roll a chunk back when its batch is no longer validating. */
class NotValidating extends Error {}

export async function beginIngest(
  db: SqlDriver,
  b: NewBatch,
  idempotencyKey: string | undefined,
  now: number,
  resume?: { owner: string; progress: IngestProgress },
): Promise<CreateBatchResult> {
  try {
    return await db.transaction(async (tx) => {
      const earlier = await claimBatchIdentity(tx, b, idempotencyKey, "validating");
      if (earlier) throw new Rollback(earlier);
      const row = await tx.get(
        "UPDATE batches SET ingest_heartbeat_at = ?, ingest_owner = ?, ingest_state = ? WHERE id = ? RETURNING *",
        [now, resume?.owner ?? null, resume ? JSON.stringify(resume.progress) : null, b.id],
      );
      return { kind: "created" as const, batch: toBatch(row as Row) };
    });
  } catch (err) {
    if (err instanceof Rollback) return err.result;
    throw err;
  }
}

/** The ingest's owner, when it has one: its chunks and its end are refused to any other process. */
export interface IngestOwnership {
  owner: string;
  progress: (stored: Set<number>) => IngestProgress;
}

export async function ingestChunk(
  db: SqlDriver,
  batchId: string,
  rows: IngestRow[],
  now: number,
  owned?: IngestOwnership,
): Promise<Set<number> | null> {
  try {
    return await db.transaction(async (tx) => {
      const batch = await tx.get("SELECT status, ingest_owner FROM batches WHERE id = ?", [batchId]);
      if (batch?.status !== "validating") throw new NotValidating();
      if (owned && batch.ingest_owner !== owned.owner) throw new NotValidating();
      const stored = new Set<number>();
      for (let i = 0; i < rows.length; i += GROUP) {
        for (const seq of await insertItemGroup(tx, batchId, rows.slice(i, i + GROUP))) stored.add(seq);
      }
      // Items first, then the batch row (the lock order of every transaction).
      const still = await tx.get(
        `UPDATE batches SET total = total + ?, ingest_heartbeat_at = ?, ingest_state = COALESCE(?, ingest_state)
         WHERE id = ? AND status = 'validating' ${owned ? "AND ingest_owner = ?" : ""} RETURNING id`,
        [
          stored.size,
          now,
          owned ? JSON.stringify(owned.progress(stored)) : null,
          batchId,
          ...(owned ? [owned.owner] : []),
        ],
      );
      if (!still) throw new NotValidating();
      return stored;
    });
  } catch (err) {
    if (err instanceof NotValidating) return null;
    throw err;
  }
}

export async function finishIngest(
  db: SqlDriver,
  batchId: string,
  end: IngestEnd,
  now: number,
  owner?: string,
): Promise<Batch | undefined> {
  const errors = end.errors.length > 0 ? JSON.stringify(end.errors) : null;
  if (end.kind === "ready") {
    const row = await db.get(
      `UPDATE batches SET status = 'in_progress', pending = total, validation_errors = ?,
         ingest_heartbeat_at = NULL, ingest_owner = NULL, ingest_state = NULL
       WHERE id = ? AND status = 'validating'${ownedBy(owner)} RETURNING *`,
      [errors, batchId, ...ownerParam(owner)],
    );
    return row ? toBatch(row) : undefined;
  }
  const failed = await failValidating(db, batchId, end.message, errors, now, owner);
  if (failed) await deleteItems(db, batchId);
  return failed;
}

/** Fails a validating batch (total 0: no item of it counts) and queues its webhook event. */
async function failValidating(
  db: SqlDriver,
  batchId: string,
  message: string,
  errors: string | null,
  now: number,
  owner?: string,
): Promise<Batch | undefined> {
  return db.transaction(async (tx) => {
    const row = await tx.get(
      `UPDATE batches SET status = 'failed', total = 0, pending = 0, item_webhooks = 0, error_message = ?,
         validation_errors = ?, completed_at = ?, ingest_heartbeat_at = NULL, ingest_owner = NULL,
         ingest_state = NULL
       WHERE id = ? AND status = 'validating'${ownedBy(owner)} RETURNING *`,
      [message, errors, now, batchId, ...ownerParam(owner)],
    );
    if (!row) return undefined;
    await countFinished(tx, row);
    await enqueueBatchEvent(tx, batchId, now);
    return toBatch(row);
  });
}

/**
 * Cancels a validating batch: it ends `cancelled` with no item (the ingest's next chunk is
 * refused, so it stops) and queues its webhook event. Undefined when it was not validating.
 */
export async function cancelValidating(
  db: SqlDriver,
  batchId: string,
  now: number,
): Promise<Batch | undefined> {
  const batch = await db.transaction(async (tx) => {
    const row = await tx.get(
      `UPDATE batches SET status = 'cancelled', total = 0, pending = 0, item_webhooks = 0, cancelled_at = ?,
         ingest_heartbeat_at = NULL, ingest_owner = NULL, ingest_state = NULL
       WHERE id = ? AND status = 'validating' RETURNING *`,
      [now, batchId],
    );
    if (!row) return undefined;
    await countFinished(tx, row);
    await enqueueBatchEvent(tx, batchId, now);
    return toBatch(row);
  });
  if (batch) await deleteItems(db, batchId);
  return batch;
}

/** Deletes a failed ingest's items, a chunk per transaction (other work goes on in between). */
async function deleteItems(db: SqlDriver, batchId: string): Promise<void> {
  for (;;) {
    const deleted = await db.run(
      `DELETE FROM batch_items WHERE id IN (SELECT id FROM batch_items WHERE batch_id = ? LIMIT ${DELETE_CHUNK})`,
      [batchId],
    );
    if (deleted < DELETE_CHUNK) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** `AND ingest_owner = ?` when an owner is given (its parameter: `ownerParam`). */
function ownedBy(owner: string | undefined): string {
  return owner === undefined ? "" : " AND ingest_owner = ?";
}

function ownerParam(owner: string | undefined): string[] {
  return owner === undefined ? [] : [owner];
}

export async function touchIngest(
  db: SqlDriver,
  batchId: string,
  owner: string,
  now: number,
): Promise<boolean> {
  const changed = await db.run(
    "UPDATE batches SET ingest_heartbeat_at = ? WHERE id = ? AND status = 'validating' AND ingest_owner = ?",
    [now, batchId, owner],
  );
  return changed > 0;
}

export async function releaseIngest(db: SqlDriver, batchId: string, owner: string): Promise<void> {
  await db.run(
    "UPDATE batches SET ingest_heartbeat_at = 0 WHERE id = ? AND status = 'validating' AND ingest_owner = ?",
    [batchId, owner],
  );
}

/**
 * Each stale validating batch is taken by one process: the UPDATE matches only while the
 * heartbeat is the one read (a compare-and-set), so two sweeps never both resume a batch.
 */
export async function takeStaleIngests(
  db: SqlDriver,
  staleBefore: number,
  owner: string,
  now: number,
): Promise<ResumedIngest[]> {
  const stale = await db.all(
    "SELECT id, ingest_heartbeat_at FROM batches WHERE status = 'validating' AND ingest_heartbeat_at < ? LIMIT 100",
    [staleBefore],
  );
  const taken: ResumedIngest[] = [];
  for (const { id, ingest_heartbeat_at } of stale) {
    const row = await db.get(
      `UPDATE batches SET ingest_heartbeat_at = ?, ingest_owner = ?
       WHERE id = ? AND status = 'validating' AND ingest_heartbeat_at = ? RETURNING *`,
      [now, owner, id, ingest_heartbeat_at],
    );
    if (!row) continue;
    const state = row.ingest_state;
    taken.push({
      batch: toBatch(row),
      progress: state ? (JSON.parse(String(state)) as IngestProgress) : null,
    });
  }
  return taken;
}

export async function activeRows(db: SqlDriver, workspaceId: string): Promise<number> {
  const row = (await db.get(
    `SELECT COALESCE(SUM(total - succeeded - failed), 0) AS c FROM batches
     WHERE workspace_id = ? AND status IN ('validating', 'in_progress', 'paused', 'cancelling')`,
    [workspaceId],
  )) as Row;
  return n(row.c);
}
