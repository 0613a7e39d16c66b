/** The INSERTs of batch and item rows, written once for every way a batch is created. */
import { type BatchStatus, isTerminalBatchStatus } from "../../domain/statuses.js";
import type { NewBatch } from "../batches.js";
import type { NewBatchItem } from "../items.js";
import { marks, type SqlExecutor } from "./driver.js";
import { countFinished } from "./metrics-totals.js";
import { n } from "./rows.js";

/** A new batch row: the batch as created, its starting status and counters. */
export interface BatchRow {
  batch: NewBatch;
  status: BatchStatus;
  /** Items it starts with (all pending); an ingest sets the real count once the file is in. */
  total: number;
  errorMessage?: string | null;
  completedAt?: number | null;
}

/** Inserts a batch row; false when a batch with its id already exists (nothing is written then). */
export async function insertBatchRow(tx: SqlExecutor, r: BatchRow): Promise<boolean> {
  const b = r.batch;
  const row = await tx.get(
    `INSERT INTO batches (id, workspace_id, agent_id, name, status, total, pending, webhook, metadata, context,
       error_message, created_at, completed_at, expires_at, input_file_id, original_file_name, input_format,
       request_hash)
     VALUES (${marks(18)}) ON CONFLICT (id) DO NOTHING RETURNING id`,
    [
      b.id,
      b.workspaceId,
      b.agentId,
      b.name,
      r.status,
      r.total,
      r.total,
      b.webhook ? JSON.stringify(b.webhook) : null,
      b.metadata ? JSON.stringify(b.metadata) : null,
      b.context ? JSON.stringify(b.context) : null,
      r.errorMessage ?? null,
      b.createdAt,
      r.completedAt ?? null,
      b.expiresAt,
      b.inputFileId ?? null,
      b.originalFileName ?? null,
      b.inputFormat ?? null,
      b.requestHash ?? null,
    ],
  );
  if (row && isTerminalBatchStatus(r.status)) {
    const counters = { pending: r.total, processing: 0, awaiting: 0, succeeded: 0, failed: 0 };
    await countFinished(tx, { status: r.status, ...counters });
  }
  return row !== undefined;
}

/**
 * One multi-row INSERT. A row whose custom_id the batch already has is skipped by the
 * UNIQUE (batch_id, custom_id) constraint; returns the seqs actually inserted.
 */
export async function insertItemGroup(
  tx: SqlExecutor,
  batchId: string,
  group: { seq: number; item: NewBatchItem }[],
): Promise<Set<number>> {
  const columns =
    "(batch_id, seq, custom_id, agent_id, agent_version, message, external_user_id, name, attached_file_uuids, history_id, context, metadata, webhook, request_json)";
  const params: unknown[] = [];
  for (const { seq, item: it } of group) {
    params.push(
      batchId,
      seq,
      it.customId,
      it.agentId,
      it.agentVersion,
      it.message,
      it.externalUserId,
      it.name,
      it.attachedFileUuids.length > 0 ? JSON.stringify(it.attachedFileUuids) : null,
      it.historyId,
      it.context ? JSON.stringify(it.context) : null,
      it.metadata ? JSON.stringify(it.metadata) : null,
      it.webhook ? JSON.stringify(it.webhook) : null,
      it.request ? JSON.stringify(it.request) : null,
    );
  }
  const rows = await tx.all(
    `INSERT INTO batch_items ${columns} VALUES ${group.map(() => `(${marks(14)})`).join(", ")}
     ON CONFLICT (batch_id, custom_id) DO NOTHING RETURNING seq`,
    params,
  );
  const inserted = new Set(rows.map((r) => n(r.seq)));
  const withWebhook = group.filter((g) => g.item.webhook && inserted.has(g.seq)).length;
  if (withWebhook > 0) {
    await tx.run("UPDATE batches SET item_webhooks = item_webhooks + ? WHERE id = ?", [withWebhook, batchId]);
  }
  return inserted;
}
