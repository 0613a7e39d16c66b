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
import type { IngestRow, NewBatch } from "../batches.js";
import type { FileRecord } from "../files.js";
import { finishIngest, ingestChunk } from "./background-ingest.js";
import { insertBatchRow } from "./batch-rows.js";
import type { Row, SqlDriver } from "./driver.js";
import { insertFile } from "./file-rows.js";
import { json, n, nOrNull, toBatch } from "./rows.js";

const TERMINAL = "('completed', 'failed', 'cancelled')";
/** Items stored per transaction. */
const CHUNK = 1000;

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

  /**
   * A batch with line errors is created `failed` in one transaction. Otherwise the batch and its
   * api_batches row are stored `validating` first, the items follow in chunks of short
   * transactions (the process keeps serving meanwhile), and one UPDATE makes them all runnable.
   */
  async create(
    b: NewBatch,
    api: NewApiBatch,
    total: number,
    items: ItemGroups,
    now: number,
  ): Promise<ApiBatch> {
    const failed = api.lineErrors.length > 0;
    await this.db.transaction(async (tx) => {
      const errorMessage = failed
        ? `The input file failed validation (${api.lineErrors.length} invalid lines)`
        : null;
      const row = {
        batch: { ...b, inputFileId: api.inputFileId },
        status: failed ? "failed" : "validating",
        total: 0,
        errorMessage,
      } as const;
      if (!(await insertBatchRow(tx, { ...row, completedAt: failed ? now : null }))) {
        throw new Error(`batch ${b.id} exists already`);
      }
      if (!failed) await tx.run("UPDATE batches SET ingest_heartbeat_at = ? WHERE id = ?", [now, b.id]);
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
    });
    if (!failed) await this.storeItems(b.id, total, items);
    return (await this.get(b.workspaceId, b.id, api.shape)) as ApiBatch;
  }

  /** The items of a validating batch in chunks; runnable at the end, or the batch failed. */
  private async storeItems(batchId: string, total: number, items: ItemGroups): Promise<void> {
    let seq = 0;
    let chunk: IngestRow[] = [];
    const flush = async () => {
      if ((await ingestChunk(this.db, batchId, chunk, Date.now())) === null) {
        throw new Error(`batch ${batchId} stopped validating while its items were stored`);
      }
      chunk = [];
      await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      for await (const group of items) {
        for (const item of group) {
          chunk.push({ seq: seq++, item });
          if (chunk.length >= CHUNK) await flush();
        }
      }
      if (chunk.length > 0) await flush();
      if (seq !== total) throw new Error(`batch ${batchId}: expected ${total} items, read ${seq}`);
    } catch (err) {
      const message = `the batch's requests could not be stored: ${(err as Error).message}`;
      await finishIngest(this.db, batchId, { kind: "failed", message, errors: [] }, Date.now());
      throw err;
    }
    await finishIngest(this.db, batchId, { kind: "ready", errors: [] }, Date.now());
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
