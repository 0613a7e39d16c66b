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

const ITEM_COLUMNS =
  "(batch_id, seq, custom_id, agent_id, agent_version, message, external_user_id, name, attached_file_uuids, history_id, context, metadata, webhook, request_json)";

/** The INSERT text for `rows` items, built once per group size (the driver caches its statement). */
const insertTexts = new Map<number, string>();
function insertText(rows: number): string {
  let sql = insertTexts.get(rows);
  if (sql === undefined) {
    const row = `(${marks(14)})`;
    sql = `INSERT INTO batch_items ${ITEM_COLUMNS} VALUES ${new Array(rows).fill(row).join(", ")}
     ON CONFLICT (batch_id, custom_id) DO NOTHING`;
    insertTexts.set(rows, sql);
  }
  return sql;
}

/**
 * One multi-row INSERT. A row whose custom_id the batch already has is skipped by the
 * UNIQUE (batch_id, custom_id) constraint; returns the seqs actually inserted. Nearly always
 * every row goes in, so no row comes back (RETURNING): only when fewer went in are the seqs of
 * the group's range read back (seqs are unique in a batch, so those rows are this group's).
 */
export async function insertItemGroup(
  tx: SqlExecutor,
  batchId: string,
  group: { seq: number; item: NewBatchItem }[],
): Promise<Set<number>> {
  const params: unknown[] = [];
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const { seq, item: it } of group) {
    if (seq < low) low = seq;
    if (seq > high) high = seq;
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
  if (group.length === 0) return new Set();
  const changed = await tx.run(insertText(group.length), params);
  const seqs = group.map((g) => g.seq);
  let inserted: Set<number>;
  if (changed === group.length) {
    inserted = new Set(seqs);
  } else {
    const ours = new Set(seqs);
    const rows = await tx.all("SELECT seq FROM batch_items WHERE batch_id = ? AND seq BETWEEN ? AND ?", [
      batchId,
      low,
      high,
    ]);
    inserted = new Set(rows.map((r) => n(r.seq)).filter((seq) => ours.has(seq)));
  }
  const withWebhook = group.filter((g) => g.item.webhook && inserted.has(g.seq)).length;
  if (withWebhook > 0) {
    await tx.run("UPDATE batches SET item_webhooks = item_webhooks + ? WHERE id = ?", [withWebhook, batchId]);
  }
  return inserted;
}
