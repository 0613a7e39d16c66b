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

/** The item columns' SQL types, in `ITEM_COLUMNS` order: the element types of `unnestText`'s arrays. */
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

/** `ITEM_COLUMNS`' names, in order. */
const ITEM_NAMES = ITEM_COLUMNS.slice(1, -1).split(", ");
/** The item columns that may be NULL (from `external_user_id` on): a group where one is NULL throughout leaves it out. */
const FIRST_NULLABLE = 6;
const CONFLICT_CLAUSE = "ON CONFLICT (batch_id, custom_id) DO NOTHING";

/**
 * The INSERT of a group where parameters can be arrays (PostgreSQL): one array per column,
 * `unnest` into rows, in order. One text and at most 14 parameters whatever the group's size,
 * against 7,000 parameters for 500 rows as VALUES, which PostgreSQL parses, binds and plans one
 * by one: 1,000 items went in in 76-99 ms as VALUES and 31-35 ms as arrays (fastest of 8, load 6;
 * bench/README.md, "Issue 17.1, claim statement"), and the first POST's ingest is what the first
 * claim waits for. A nullable column that is NULL in every row of the group is left out (its
 * default is NULL), not sent as an array of NULLs: with most of them unset, 1,000 items went in
 * ~1 ms sooner (bench/README.md, "Issue 17.1, first call on PostgreSQL"). `present` is one bit per
 * column of `ITEM_COLUMNS` sent; the text is built once per set of columns and conflict clause.
 */
const unnestTexts = new Map<string, string>();
function unnestText(present: boolean[], conflict: boolean): string {
  const key = `${present.map((p) => (p ? 1 : 0)).join("")}:${conflict ? 1 : 0}`;
  let sql = unnestTexts.get(key);
  if (sql === undefined) {
    const names = ITEM_NAMES.filter((_, c) => present[c]);
    const arrays = ITEM_TYPES.filter((_, c) => present[c]).map((t) => `?::${t}[]`);
    sql = `INSERT INTO batch_items (${names.join(", ")})
     SELECT * FROM unnest(${arrays.join(", ")})${conflict ? ` ${CONFLICT_CLAUSE}` : ""}`;
    unnestTexts.set(key, sql);
  }
  return sql;
}

/** The INSERT text for `rows` items, built once per group size (the driver caches its statement). */
const insertTexts = new Map<string, string>();
function insertText(rows: number, conflict: boolean): string {
  const key = `${rows}:${conflict ? 1 : 0}`;
  let sql = insertTexts.get(key);
  if (sql === undefined) {
    const row = `(${marks(14)})`;
    sql = `INSERT INTO batch_items ${ITEM_COLUMNS} VALUES ${new Array(rows).fill(row).join(", ")}${
      conflict
        ? `
     ${CONFLICT_CLAUSE}`
        : ""
    }`;
    insertTexts.set(key, sql);
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

/** The parameters of `unnestText` before `presentColumns`: one array per column, the same values as `itemParams`. */
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

/** `unnestText`'s columns and arrays for `group`: those with a value in some row (`unnestText`). */
function presentColumns(columns: unknown[][]): { present: boolean[]; arrays: unknown[][] } {
  const present = columns.map(
    (col, c) => c < FIRST_NULLABLE || col.some((v) => v !== null && v !== undefined),
  );
  return { present, arrays: columns.filter((_, c) => present[c]) };
}

/** A UTF-16 surrogate code unit: a custom_id with one may be stored other than JS compares it. */
const SURROGATE = /[\ud800-\udfff]/;

/**
 * True when two items of `group` may have the same stored custom_id: the same string twice, or
 * any custom_id with a surrogate (node-pg sends a lone one as U+FFFD, so two different JS strings
 * can be one stored value; such a group keeps ON CONFLICT and reports the repeat as a row error,
 * rather than failing the whole ingest on the UNIQUE constraint).
 */
function repeatsCustomId(group: { item: NewBatchItem }[]): boolean {
  const seen = new Set<string>();
  for (const { item } of group) {
    if (seen.has(item.customId) || SURROGATE.test(item.customId)) return true;
    seen.add(item.customId);
  }
  return false;
}

/**
 * One multi-row INSERT (on PostgreSQL one array per column, `unnestText`). A row whose custom_id the batch already has is skipped by the
 * UNIQUE (batch_id, custom_id) constraint; returns the seqs actually inserted. Nearly always
 * every row goes in, so no row comes back (RETURNING): only when fewer went in are the seqs of
 * the group's range read back (seqs are unique in a batch, so those rows are this group's).
 * With `fresh` (the batch has no items: its row was inserted by this transaction) and no
 * custom_id twice in the group, no row can conflict, and the INSERT has no ON CONFLICT clause
 * (on both stores): PostgreSQL's speculative insertion (into the arbiter index, then confirmed)
 * cost ~1.5 ms per 1,000 items (bench/README.md, "Issue 17.1, first call on PostgreSQL").
 */
export async function insertItemGroup(
  tx: SqlExecutor,
  batchId: string,
  group: { seq: number; item: NewBatchItem }[],
  fresh = false,
): Promise<Set<number>> {
  if (group.length === 0) return new Set();
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const { seq } of group) {
    if (seq < low) low = seq;
    if (seq > high) high = seq;
  }
  const conflict = !fresh || repeatsCustomId(group);
  let changed: number;
  if (tx.arrayParams) {
    const { present, arrays } = presentColumns(itemColumns(batchId, group));
    changed = await tx.run(unnestText(present, conflict), arrays);
  } else {
    changed = await tx.run(insertText(group.length, conflict), itemParams(batchId, group));
  }
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
