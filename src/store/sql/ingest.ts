/**
 * Creating a batch from a stream of validated rows (inline requests or an input file): the
 * batch identity (client-chosen id, Idempotency-Key), the rows inserted in multi-row groups, and
 * the row errors collected, all in one transaction.
 */

import type {
  CreateBatchResult,
  IngestEntry,
  IngestLookups,
  IngestOptions,
  NewBatch,
  RowError,
} from "../batches.js";
import type { NewBatchItem } from "../items.js";
import { insertBatchRow, insertItemGroup } from "./batch-rows.js";
import type { Row, SqlExecutor } from "./driver.js";
import { countFinished } from "./metrics-totals.js";
import { enqueueBatchEvent } from "./outbox-rows.js";
import { rowInWorkspace } from "./queries.js";
import { toAgent, toBatch } from "./rows.js";

/** Items per multi-row INSERT while ingesting: 500 rows of VALUES (SQLite), 1,000 as arrays (PostgreSQL). */
const INGEST_GROUP = 500;
/**
 * With array parameters a group is one statement of 14 parameters whatever its size: a 1,000-item
 * POST is one INSERT, not two (one round trip and one plan fewer before the first claim).
 */
const ARRAY_INGEST_GROUP = 1000;

/** Thrown inside a transaction to roll it back and return `result` instead. */
export class Rollback extends Error {
  constructor(readonly result: CreateBatchResult) {
    super("rollback");
  }
}

/** The reads row validation needs, on the ingest transaction's connection. */
export function ingestLookups(tx: SqlExecutor): IngestLookups {
  return {
    getAgent: async (workspaceId, agentId) => {
      const row = await rowInWorkspace(tx, "agents", agentId, workspaceId);
      return row ? toAgent(row) : undefined;
    },
    chatExists: async (workspaceId, chatId) =>
      Boolean(await tx.get("SELECT id FROM chats WHERE id = ? AND workspace_id = ?", [chatId, workspaceId])),
    isWhitelisted: async (workspaceId, externalUserId) =>
      Boolean(
        await tx.get("SELECT 1 AS ok FROM whitelist_users WHERE workspace_id = ? AND external_user_id = ?", [
          workspaceId,
          externalUserId,
        ]),
      ),
  };
}

/** Collects a batch's rows into multi-row inserts and its row errors (the first ones kept). */
class RowSink {
  rows = 0;
  inserted = 0;
  errorCount = 0;
  readonly errors: RowError[] = [];
  private nextSeq = 0;
  private group: { seq: number; row: number; item: NewBatchItem }[] = [];
  private readonly groupSize: number;
  /** No group inserted yet: the batch, created in this transaction, has no items (`insertItemGroup`'s `fresh`). */
  private fresh = true;

  constructor(
    private readonly tx: SqlExecutor,
    private readonly batchId: string,
    private readonly maxReportedErrors: number,
  ) {
    this.groupSize = tx.arrayParams ? ARRAY_INGEST_GROUP : INGEST_GROUP;
  }

  report(row: number, error: string): void {
    this.errorCount++;
    if (this.errors.length < this.maxReportedErrors) this.errors.push({ row, error });
  }

  async add(entry: IngestEntry): Promise<void> {
    this.rows++;
    if ("error" in entry) {
      this.report(entry.row, entry.error);
      return;
    }
    this.group.push({ seq: this.nextSeq++, row: entry.row, item: entry.item });
    if (this.group.length >= this.groupSize) await this.flush();
  }

  /** Inserts the current group; a custom_id the batch already has is a row error (UNIQUE). */
  async flush(): Promise<void> {
    if (this.group.length === 0) return;
    const stored = await insertItemGroup(this.tx, this.batchId, this.group, this.fresh);
    this.fresh = false;
    this.inserted += stored.size;
    for (const g of this.group) {
      if (!stored.has(g.seq)) {
        this.report(
          g.row,
          `custom_id: "${g.item.customId}" is used by an earlier row; custom_id must be unique within the batch`,
        );
      }
    }
    this.group = [];
  }
}

/**
 * Runs one ingest inside `tx`. Rows are stored even after a row error (so later duplicates are
 * found too); with `fail` the savepoint takes them all back at the end.
 */
export async function ingestInTransaction(
  tx: SqlExecutor,
  b: NewBatch,
  entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>,
  options: IngestOptions,
): Promise<CreateBatchResult> {
  const earlier = await claimBatchIdentity(tx, b, options.idempotencyKey);
  if (earlier) throw new Rollback(earlier);
  await tx.run("SAVEPOINT ingest");
  const sink = new RowSink(tx, b.id, options.maxReportedErrors);
  for await (const entry of entries(ingestLookups(tx))) await sink.add(entry);
  await sink.flush();
  if (sink.rows === 0) throw new Rollback({ kind: "empty" });
  const failed = sink.errorCount > 0 && (options.onInvalidRows === "fail" || sink.inserted === 0);
  if (failed) await tx.run("ROLLBACK TO SAVEPOINT ingest");
  await tx.run("RELEASE SAVEPOINT ingest");
  const inserted = failed ? 0 : sink.inserted;
  const row = await tx.get(
    `UPDATE batches SET total = ?, pending = ?, status = ?, error_message = ?, validation_errors = ?,
       completed_at = ? WHERE id = ? RETURNING *`,
    [
      inserted,
      inserted,
      failed ? "failed" : "in_progress",
      failed ? `${sink.errorCount} validation error(s)` : null,
      sink.errors.length > 0 ? JSON.stringify(sink.errors) : null,
      failed ? Date.now() : null,
      b.id,
    ],
  );
  if (failed) await enqueueBatchEvent(tx, b.id, Date.now());
  await countFinished(tx, row);
  return { kind: "created", batch: toBatch(row as Row) };
}

/**
 * Takes the idempotency key (if any) and inserts the batch row (`status`, no items yet). Returns what an earlier create with the same key or id made, or null when this one is
 * the first.
 */
export async function claimBatchIdentity(
  tx: SqlExecutor,
  b: NewBatch,
  idempotencyKey: string | undefined,
  status: "in_progress" | "validating" = "in_progress",
): Promise<CreateBatchResult | null> {
  if (idempotencyKey !== undefined) {
    const earlier = await takeIdempotencyKey(tx, b, idempotencyKey);
    if (earlier) return earlier;
  }
  if (await insertBatchRow(tx, { batch: b, status, total: 0 })) return null;
  const existing = await rowInWorkspace(tx, "batches", b.id, b.workspaceId);
  if (!existing) return { kind: "id_taken" };
  const hash = b.requestHash ?? null;
  return {
    kind: "existing",
    batch: toBatch(existing),
    sameRequest: hash !== null && existing.request_hash === hash,
    by: "id",
  };
}

/** Takes the key for this create, or returns the batch an earlier create with the key made. */
async function takeIdempotencyKey(
  tx: SqlExecutor,
  b: NewBatch,
  key: string,
): Promise<CreateBatchResult | null> {
  const hash = b.requestHash ?? "";
  // ON CONFLICT waits for a concurrent create with the same key, then sees its row.
  const took = await tx.run(
    `INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, batch_id, created_at)
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, idem_key) DO NOTHING`,
    [b.workspaceId, key, hash, b.id, b.createdAt],
  );
  if (took > 0) return null;
  const taken = (await tx.get(
    "SELECT request_hash, batch_id FROM idempotency_keys WHERE workspace_id = ? AND idem_key = ?",
    [b.workspaceId, key],
  )) as Row;
  const batch = await tx.get("SELECT * FROM batches WHERE id = ?", [taken.batch_id]);
  if (!batch) return null;
  return {
    kind: "existing",
    batch: toBatch(batch),
    sameRequest: taken.request_hash === hash,
    by: "idempotency_key",
  };
}
