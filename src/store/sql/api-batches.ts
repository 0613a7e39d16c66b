import type {
  ApiBatch,
  ApiBatchInfo,
  ApiBatchLineError,
  ApiBatchPageQuery,
  ApiBatchStore,
  ApiShape,
  ItemGroups,
  NewApiBatch,
} from "../api-batches.js";
import type { NewBatch } from "../batches.js";
import type { FileRecord } from "../files.js";
import { ITEM_GROUP, insertBatchRow, insertItemGroup } from "./batch-rows.js";
import type { Row, SqlDriver } from "./driver.js";
import { insertFile } from "./file-rows.js";
import { json, n, nOrNull, toBatch } from "./rows.js";

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
  constructor(private readonly db: SqlDriver) {}

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
      const errorMessage = failed
        ? `The input file failed validation (${api.lineErrors.length} invalid lines)`
        : null;
      const row = {
        batch: { ...b, inputFileId: api.inputFileId },
        status: failed ? "failed" : "in_progress",
        total: count,
        errorMessage,
      } as const;
      if (!(await insertBatchRow(tx, { ...row, completedAt: failed ? now : null }))) {
        throw new Error(`batch ${b.id} exists already`);
      }
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
        for (let start = 0; start < group.length; start += ITEM_GROUP) {
          const part = group.slice(start, start + ITEM_GROUP).map((item) => ({ seq: seq++, item }));
          await insertItemGroup(tx, b.id, part);
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

  async failFinalization(
    batchId: string,
    owner: string,
    error: ApiBatchLineError,
    now: number,
  ): Promise<boolean> {
    const changed = await this.db.run(
      `UPDATE api_batches SET line_errors = ?, finalized_at = ?
       WHERE batch_id = ? AND finalize_owner = ? AND finalized_at IS NULL`,
      [JSON.stringify([error]), now, batchId, owner],
    );
    return changed > 0;
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
      if (files.output) await insertFile(tx, files.output);
      if (files.error) await insertFile(tx, files.error);
      return true;
    });
  }
}
