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

/** The item columns' SQL types, in `ITEM_COLUMNS` order: the element types of `UNNEST_TEXT`'s arrays. */
const ITEM_TYPES = [
  "text",
  "integer",
  "text",
  "text",
  "integer",
  "text",
  "text",
  "text",
  "text",
  "bigint",
  "text",
  "text",
  "text",
  "text",
];

/**
 * The INSERT of a group where parameters can be arrays (PostgreSQL): one array per column,
 * `unnest` into rows, in order. One text and 14 parameters whatever the group's size, against
 * 7,000 parameters for 500 rows as VALUES, which PostgreSQL parses, binds and plans one by one:
 * 1,000 items went in in 76-99 ms as VALUES and 31-35 ms as arrays (fastest of 8, load 6;
 * bench/README.md, "Issue 17.1, claim statement"), and the first POST's ingest is what the first
 * claim waits for.
 */
const UNNEST_TEXT = `INSERT INTO batch_items ${ITEM_COLUMNS}
     SELECT * FROM unnest(${ITEM_TYPES.map((t) => `?::${t}[]`).join(", ")})
     ON CONFLICT (batch_id, custom_id) DO NOTHING`;

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

/** The parameters of `insertText`: the group's values row by row, in `ITEM_COLUMNS` order. */
function itemParams(batchId: string, group: { seq: number; item: NewBatchItem }[]): unknown[] {
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
  return params;
}

/** The parameters of `UNNEST_TEXT`: one array per column, the same values as `itemParams`. */
function itemColumns(batchId: string, group: { seq: number; item: NewBatchItem }[]): unknown[][] {
  const columns: unknown[][] = ITEM_TYPES.map(() => new Array(group.length));
  group.forEach(({ seq, item: it }, r) => {
    columns[0][r] = batchId;
    columns[1][r] = seq;
    columns[2][r] = it.customId;
    columns[3][r] = it.agentId;
    columns[4][r] = it.agentVersion;
    columns[5][r] = it.message;
    columns[6][r] = it.externalUserId;
    columns[7][r] = it.name;
    columns[8][r] = it.attachedFileUuids.length > 0 ? JSON.stringify(it.attachedFileUuids) : null;
    columns[9][r] = it.historyId;
    columns[10][r] = it.context ? JSON.stringify(it.context) : null;
    columns[11][r] = it.metadata ? JSON.stringify(it.metadata) : null;
    columns[12][r] = it.webhook ? JSON.stringify(it.webhook) : null;
    columns[13][r] = it.request ? JSON.stringify(it.request) : null;
  });
  return columns;
}

/**
 * One multi-row INSERT (on PostgreSQL one array per column, `UNNEST_TEXT`). A row whose custom_id the batch already has is skipped by the
 * UNIQUE (batch_id, custom_id) constraint; returns the seqs actually inserted. Nearly always
 * every row goes in, so no row comes back (RETURNING): only when fewer went in are the seqs of
 * the group's range read back (seqs are unique in a batch, so those rows are this group's).
 */
export async function insertItemGroup(
  tx: SqlExecutor,
  batchId: string,
  group: { seq: number; item: NewBatchItem }[],
): Promise<Set<number>> {
  if (group.length === 0) return new Set();
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const { seq } of group) {
    if (seq < low) low = seq;
    if (seq > high) high = seq;
  }
  const changed = tx.arrayParams
    ? await tx.run(UNNEST_TEXT, itemColumns(batchId, group))
    : await tx.run(insertText(group.length), itemParams(batchId, group));
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
