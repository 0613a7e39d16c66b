/**
 * Batches created through the OpenAI Batch API or the Anthropic Message Batches API shape.
 * They are ordinary batches (one queue, one engine); the `api_batches` side table holds only
 * what a shape adds: its input file, line-level validation errors, the output and error files
 * written once the batch ends, and the cancel / delete times those APIs report.
 */
import { json, n, nOrNull, toBatch, toBatchItem } from "./rows.js";
import type { Row, SqlDriver, SqlExecutor } from "./sql/driver.js";
import type { Batch, BatchItem, FileRecord, NewBatch, NewBatchItem } from "./types.js";

export type ApiShape = "openai" | "anthropic";

/** One invalid line of an OpenAI batch input file (OpenAI's `errors.data[]`). */
export interface ApiBatchLineError {
  code: string;
  message: string;
  param: string | null;
  /** 1-based line of the input file. */
  line: number | null;
}

export interface NewApiBatch {
  shape: ApiShape;
  endpoint: string | null;
  inputFileId: string | null;
  completionWindow: string | null;
  /** Non-empty: the batch is created `failed` with these errors and no items. */
  lineErrors: ApiBatchLineError[];
}

export interface ApiBatchInfo {
  batchId: string;
  shape: ApiShape;
  endpoint: string | null;
  inputFileId: string | null;
  completionWindow: string | null;
  lineErrors: ApiBatchLineError[];
  outputFileId: string | null;
  errorFileId: string | null;
  /** When the output files were written (or the batch needed none); null while still due. */
  finalizedAt: number | null;
  cancelRequestedAt: number | null;
  createdAt: number;
}

export interface ApiBatch {
  batch: Batch;
  api: ApiBatchInfo;
}

/** Newest first; `afterId` pages to older batches, `beforeId` to newer ones. */
export interface ApiBatchPageQuery {
  limit: number;
  afterId?: string;
  beforeId?: string;
}

/** Items created from a stream: groups are inserted in order as they arrive, inside the transaction. */
export type ItemGroups = AsyncIterable<NewBatchItem[]> | Iterable<NewBatchItem[]>;

export interface ApiBatchStore {
  /**
   * Creates the batch, its items (read group by group from `items`, so a large input file is
   * never held whole) and its api_batches row in one transaction. With line errors the batch
   * is created `failed` and `items` is not read.
   */
  create(batch: NewBatch, api: NewApiBatch, total: number, items: ItemGroups, now: number): Promise<ApiBatch>;
  get(workspaceId: string, batchId: string, shape: ApiShape): Promise<ApiBatch | undefined>;
  /** Batches of one shape, newest first; `hasMore` says whether a further page exists. */
  list(
    workspaceId: string,
    shape: ApiShape,
    query: ApiBatchPageQuery,
  ): Promise<{ rows: ApiBatch[]; hasMore: boolean }>;
  /** How many failed items of a batch ended with each error code (499 cancelled, 408 expired...). */
  failedByCode(batchId: string): Promise<Map<number, number>>;
  /** Items of a batch with `seq` above `afterSeq`, in order: a keyset page for streaming exports. */
  itemsAfter(batchId: string, afterSeq: number, limit: number): Promise<BatchItem[]>;
  /** Records when a cancel was asked for (the first time only). */
  markCancelRequested(batchId: string, now: number): Promise<void>;
  /** Hides an ended batch from its shape's routes (the Codeer routes still see it). */
  markDeleted(batchId: string, now: number): Promise<void>;
  /**
   * Takes up to `limit` ended batches whose output files are still due, for `owner`; a take
   * older than `staleMs` (its process died mid-write) is taken again.
   */
  claimFinalization(owner: string, now: number, staleMs: number, limit: number): Promise<ApiBatch[]>;
  /** Stores the written files and marks the batch finalized, if `owner` still holds it. */
  completeFinalization(
    batchId: string,
    owner: string,
    files: { output: FileRecord | null; error: FileRecord | null },
    now: number,
  ): Promise<boolean>;
}

type InsertGroup = (
  tx: SqlExecutor,
  batchId: string,
  group: { seq: number; item: NewBatchItem }[],
) => Promise<unknown>;
type CreateFile = (tx: SqlExecutor, file: FileRecord) => Promise<unknown>;

const TERMINAL = "('completed', 'failed', 'cancelled')";

function toApiBatchInfo(r: Row): ApiBatchInfo {
  return {
    batchId: r.batch_id,
    shape: r.shape,
    endpoint: r.endpoint ?? null,
    inputFileId: r.input_file_id ?? null,
    completionWindow: r.completion_window ?? null,
    lineErrors: json<ApiBatchLineError[]>(r.line_errors) ?? [],
    outputFileId: r.output_file_id ?? null,
    errorFileId: r.error_file_id ?? null,
    finalizedAt: nOrNull(r.finalized_at),
    cancelRequestedAt: nOrNull(r.cancel_requested_at),
    createdAt: n(r.created_at),
  };
}

/** Selects a batch row and its api_batches row; api columns are prefixed `a_`. */
const SELECT_JOINED = `SELECT b.*, a.batch_id AS a_batch_id, a.shape AS a_shape, a.endpoint AS a_endpoint,
  a.input_file_id AS a_input_file_id, a.completion_window AS a_completion_window, a.line_errors AS a_line_errors,
  a.output_file_id AS a_output_file_id, a.error_file_id AS a_error_file_id, a.finalized_at AS a_finalized_at,
  a.cancel_requested_at AS a_cancel_requested_at, a.created_at AS a_created_at
  FROM api_batches a JOIN batches b ON b.id = a.batch_id`;

function toApiBatch(r: Row): ApiBatch {
  const api: Row = {};
  for (const [k, v] of Object.entries(r)) if (k.startsWith("a_")) api[k.slice(2)] = v;
  return { batch: toBatch(r), api: toApiBatchInfo(api) };
}

export class SqlApiBatchStore implements ApiBatchStore {
  constructor(
    private readonly db: SqlDriver,
    private readonly insertGroup: InsertGroup,
    private readonly insertFile: CreateFile,
  ) {}

  async create(
    b: NewBatch,
    api: NewApiBatch,
    total: number,
    items: ItemGroups,
    now: number,
  ): Promise<ApiBatch> {
    const failed = api.lineErrors.length > 0;
    await this.db.transaction(async (tx) => {
      const count = failed ? 0 : total;
      await tx.run(
        `INSERT INTO batches (id, workspace_id, agent_id, name, status, total, pending, webhook, metadata,
           error_message, created_at, completed_at, expires_at, input_file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          b.id,
          b.workspaceId,
          b.agentId,
          b.name,
          failed ? "failed" : "in_progress",
          count,
          count,
          b.webhook ? JSON.stringify(b.webhook) : null,
          b.metadata ? JSON.stringify(b.metadata) : null,
          failed ? `The input file failed validation (${api.lineErrors.length} invalid lines)` : null,
          b.createdAt,
          failed ? now : null,
          b.expiresAt,
          api.inputFileId,
        ],
      );
      // Only OpenAI batches get output files; the others need no finalization.
      const finalizedAt = failed || api.shape !== "openai" ? now : null;
      await tx.run(
        `INSERT INTO api_batches (batch_id, workspace_id, shape, endpoint, input_file_id, completion_window,
           line_errors, finalized_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          b.id,
          b.workspaceId,
          api.shape,
          api.endpoint,
          api.inputFileId,
          api.completionWindow,
          failed ? JSON.stringify(api.lineErrors) : null,
          finalizedAt,
          b.createdAt,
        ],
      );
      if (failed) return;
      let seq = 0;
      for await (const group of items) {
        for (let start = 0; start < group.length; start += 100) {
          const part = group.slice(start, start + 100).map((item) => ({ seq: seq++, item }));
          await this.insertGroup(tx, b.id, part);
        }
      }
      if (seq !== total) throw new Error(`batch ${b.id}: expected ${total} items, read ${seq}`);
    });
    return (await this.get(b.workspaceId, b.id, api.shape)) as ApiBatch;
  }

  async get(workspaceId: string, batchId: string, shape: ApiShape): Promise<ApiBatch | undefined> {
    const row = await this.db.get(
      `${SELECT_JOINED} WHERE a.batch_id = ? AND a.workspace_id = ? AND a.shape = ? AND a.deleted_at IS NULL`,
      [batchId, workspaceId, shape],
    );
    return row ? toApiBatch(row) : undefined;
  }

  async list(
    workspaceId: string,
    shape: ApiShape,
    query: ApiBatchPageQuery,
  ): Promise<{ rows: ApiBatch[]; hasMore: boolean }> {
    const where = ["a.workspace_id = ?", "a.shape = ?", "a.deleted_at IS NULL"];
    const params: unknown[] = [workspaceId, shape];
    const cursorId = query.beforeId ?? query.afterId;
    if (cursorId) {
      const cursor = await this.db.get(
        "SELECT created_at FROM api_batches WHERE batch_id = ? AND workspace_id = ? AND shape = ?",
        [cursorId, workspaceId, shape],
      );
      if (!cursor) return { rows: [], hasMore: false };
      // Keyset on (created_at, batch_id): stable under inserts, no deep OFFSET.
      where.push(
        query.beforeId ? "(a.created_at, a.batch_id) > (?, ?)" : "(a.created_at, a.batch_id) < (?, ?)",
      );
      params.push(n(cursor.created_at), cursorId);
    }
    const order = query.beforeId ? "ASC" : "DESC";
    const rows = await this.db.all(
      `${SELECT_JOINED} WHERE ${where.join(" AND ")} ORDER BY a.created_at ${order}, a.batch_id ${order} LIMIT ?`,
      [...params, query.limit + 1],
    );
    const hasMore = rows.length > query.limit;
    const page = rows.slice(0, query.limit).map(toApiBatch);
    if (query.beforeId) page.reverse();
    return { rows: page, hasMore };
  }

  async failedByCode(batchId: string): Promise<Map<number, number>> {
    const rows = await this.db.all(
      "SELECT error_code, COUNT(*) AS c FROM batch_items WHERE batch_id = ? AND status = 'failed' GROUP BY error_code",
      [batchId],
    );
    return new Map(rows.map((r) => [n(r.error_code ?? 0), n(r.c)]));
  }

  async itemsAfter(batchId: string, afterSeq: number, limit: number): Promise<BatchItem[]> {
    const rows = await this.db.all(
      "SELECT * FROM batch_items WHERE batch_id = ? AND seq > ? ORDER BY seq LIMIT ?",
      [batchId, afterSeq, limit],
    );
    return rows.map(toBatchItem);
  }

  async markCancelRequested(batchId: string, now: number): Promise<void> {
    await this.db.run(
      "UPDATE api_batches SET cancel_requested_at = ? WHERE batch_id = ? AND cancel_requested_at IS NULL",
      [now, batchId],
    );
  }

  async markDeleted(batchId: string, now: number): Promise<void> {
    await this.db.run("UPDATE api_batches SET deleted_at = ? WHERE batch_id = ? AND deleted_at IS NULL", [
      now,
      batchId,
    ]);
  }

  async claimFinalization(owner: string, now: number, staleMs: number, limit: number): Promise<ApiBatch[]> {
    const due = await this.db.all(
      `SELECT a.batch_id FROM api_batches a JOIN batches b ON b.id = a.batch_id
       WHERE a.finalized_at IS NULL AND b.status IN ${TERMINAL}
         AND (a.finalize_started_at IS NULL OR a.finalize_started_at < ?)
       ORDER BY a.created_at LIMIT ?`,
      [now - staleMs, limit],
    );
    const taken: ApiBatch[] = [];
    for (const d of due) {
      // Compare-and-set: of several processes sweeping at once, one takes each batch.
      const changed = await this.db.run(
        `UPDATE api_batches SET finalize_owner = ?, finalize_started_at = ?
         WHERE batch_id = ? AND finalized_at IS NULL AND (finalize_started_at IS NULL OR finalize_started_at < ?)`,
        [owner, now, d.batch_id, now - staleMs],
      );
      if (changed === 0) continue;
      const row = await this.db.get(`${SELECT_JOINED} WHERE a.batch_id = ?`, [d.batch_id]);
      if (row) taken.push(toApiBatch(row));
    }
    return taken;
  }

  async completeFinalization(
    batchId: string,
    owner: string,
    files: { output: FileRecord | null; error: FileRecord | null },
    now: number,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const changed = await tx.run(
        `UPDATE api_batches SET output_file_id = ?, error_file_id = ?, finalized_at = ?
         WHERE batch_id = ? AND finalize_owner = ? AND finalized_at IS NULL`,
        [files.output?.id ?? null, files.error?.id ?? null, now, batchId, owner],
      );
      if (changed === 0) return false;
      if (files.output) await this.insertFile(tx, files.output);
      if (files.error) await this.insertFile(tx, files.error);
      return true;
    });
  }
}
