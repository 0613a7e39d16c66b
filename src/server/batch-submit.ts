/**
 * Creating a batch, whichever way its requests arrive: inline (`requests`, at most 1000) or from
 * an uploaded input file (`file_id`, any number of rows, streamed). Both go through the store's
 * `ingestBatch`, which also makes the create idempotent: a repeated `Idempotency-Key`, or a
 * repeated client-chosen `id`, returns the batch the first create made. A file's rows are read
 * by batch-file-rows.ts.
 */
import { createHash } from "node:crypto";
import { InputFileError } from "../files/batch-input.js";
import type {
  Batch,
  CreateBatchResult,
  IngestEntry,
  IngestProgress,
  NewBatch,
  Workspace,
} from "../store/types.js";
import { fileEntries } from "./batch-file-rows.js";
import { type CreateBatchInput, prepareBatch } from "./batch-service.js";
import type { AppContext } from "./context.js";
import { ApiError, badRequest, conflict } from "./errors.js";
import type { IngestJob } from "./ingest-runner.js";

/** Row errors kept on the batch (`validation_errors`); `error_message` counts them all. */
export const MAX_REPORTED_ROW_ERRORS = 1000;

export interface SubmitResult {
  batch: Batch;
  /** True when an earlier create with the same Idempotency-Key or id made this batch. */
  replayed: boolean;
}

/** SHA-256 of the request body with its keys sorted, to tell a retry from a different request. */
export function requestHash(input: unknown): string {
  return createHash("sha256").update(stableJson(input)).digest("hex");
}

/**
 * JSON with every object's keys sorted (by UTF-16 code units) and undefined members left out:
 * the text the hashes of earlier batches were taken of, so it must not change. Built in one
 * string, with no entry arrays or per-member strings joined (1,000 requests a body).
 */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) {
      // An element JSON has no text for (undefined) is empty, as Array#join made it.
      const e = stableJson(v[i]) as string | undefined;
      out += (i === 0 ? "" : ",") + (e ?? "");
    }
    return `${out}]`;
  }
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > 1 && !sorted(keys)) keys.sort();
    let out = "{";
    let first = true;
    for (const k of keys) {
      const x = o[k];
      if (x === undefined) continue;
      out += `${first ? "" : ","}${JSON.stringify(k)}:${stableJson(x)}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(v);
}

function sorted(keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) return false;
  return true;
}

export async function submitBatch(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  options: { idempotencyKey?: string } = {},
  now = Date.now(),
): Promise<SubmitResult> {
  checkRequestSource(input);
  // Only a create that names its batch (`id`) or carries an idempotency key can be retried and
  // compared with this one; for any other the hash would be stored and never read. Hashing a
  // 1,000-request body cost 1.6–4 ms (bench/README.md, "Issue 17 on a still slower machine").
  const hash = input.id !== undefined || options.idempotencyKey !== undefined ? requestHash(input) : null;
  if (input.id !== undefined) {
    // A repeated create with the same id: answer without re-reading its input.
    const existing = await ctx.store.batches.get(ws.id, input.id);
    if (existing) return replay(existing, existing.requestHash === hash, "id");
  }

  const { batch, items } = await prepareBatch(ctx, ws, input, now);
  batch.id = input.id ?? batch.id;
  batch.requestHash = hash;
  if (input.file_id !== undefined) return submitFile(ctx, ws, input, batch, options.idempotencyKey, now);
  await checkRowCaps(ctx, ws, items.length);
  const entries = async function* () {
    for (let i = 0; i < items.length; i++) yield { row: i + 1, item: items[i] };
  };
  return answerIngest(ctx, input, batch, await ingest(ctx, input, batch, entries, options.idempotencyKey));
}

/** Inline requests over a cap are a 400 naming it. */
async function checkRowCaps(ctx: AppContext, ws: Workspace, rows: number): Promise<number> {
  const { maxRowsPerBatch, maxRowsPerWorkspace } = ctx.config;
  if (rows > maxRowsPerBatch) {
    throw badRequest(
      `requests: ${rows} requests exceed the cap of ${maxRowsPerBatch} rows per batch (max_rows_per_batch)`,
    );
  }
  const active = await ctx.store.batches.activeRows(ws.id);
  if (active + Math.max(rows, 1) > maxRowsPerWorkspace) {
    throw badRequest(
      `requests: the workspace has ${active} unfinished rows; the cap is ${maxRowsPerWorkspace} rows per workspace (max_rows_per_workspace)`,
    );
  }
  return active;
}

/**
 * A batch from an input file: its first row is read now (an unreadable or empty file is a 400),
 * the batch is stored `validating` and answered, and the rest is read in the background.
 */
async function submitFile(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  batch: NewBatch,
  idempotencyKey: string | undefined,
  now: number,
): Promise<SubmitResult> {
  const read = await fileEntries(ctx, ws, input, batch);
  const entries = read(ctx.store.batches.lookups())[Symbol.asyncIterator]();
  let first: IteratorResult<IngestEntry[]>;
  try {
    first = await entries.next();
  } catch (err) {
    if (err instanceof InputFileError) throw badRequest(`file_id: ${err.message}`);
    throw err;
  }
  if (first.done || first.value.length === 0)
    throw badRequest(`file_id: file ${input.file_id} has no data rows`);
  let handedOver = false;
  try {
    const activeBefore = await checkRowCaps(ctx, ws, 1);
    const progress: IngestProgress = {
      columnMapping: input.column_mapping ?? null,
      onInvalidRows: input.on_invalid_rows ?? "fail",
      lastRow: 0,
      nextSeq: 0,
      rows: 0,
      errorCount: 0,
      errors: [],
    };
    const owner = ctx.ingests.owner;
    const result = await ctx.store.batches.beginIngest(batch, idempotencyKey, now, { owner, progress });
    if (result.kind === "created") {
      ctx.ingests.run({
        batch: result.batch,
        entries,
        first: first.value,
        progress,
        maxReportedErrors: MAX_REPORTED_ROW_ERRORS,
        maxRows: ctx.config.maxRowsPerBatch,
        maxWorkspaceRows: ctx.config.maxRowsPerWorkspace,
        activeBefore,
      });
      handedOver = true;
    }
    return answerIngest(ctx, input, batch, result);
  } finally {
    if (!handedOver) await entries.return?.();
  }
}

/**
 * The ingest of a batch whose process stopped, read on from the row after the last one stored
 * (ingest-runner.ts takes the batch over). Throws, with the reason, when its file is gone.
 */
export async function reopenIngest(
  ctx: AppContext,
  batch: Batch,
  progress: IngestProgress,
): Promise<IngestJob> {
  const ws = await ctx.store.workspaces.get(batch.workspaceId);
  if (!ws || !batch.inputFileId) throw new Error("the batch has no input file to read");
  const input = {
    file_id: batch.inputFileId,
    column_mapping: progress.columnMapping ?? undefined,
    input_format: batch.inputFormat ?? undefined,
  };
  let read: Awaited<ReturnType<typeof fileEntries>>;
  try {
    read = await fileEntries(ctx, ws, input, { ...batch }, progress.lastRow);
  } catch (err) {
    throw new Error(err instanceof ApiError ? err.message : String(err));
  }
  const activeRows = await ctx.store.batches.activeRows(ws.id);
  return {
    batch,
    entries: read(ctx.store.batches.lookups())[Symbol.asyncIterator](),
    progress,
    maxReportedErrors: MAX_REPORTED_ROW_ERRORS,
    maxRows: ctx.config.maxRowsPerBatch,
    maxWorkspaceRows: ctx.config.maxRowsPerWorkspace,
    // The batch's own rows are in the workspace's count and in `progress.rows`: count them once.
    activeBefore: Math.max(0, activeRows - batch.total),
  };
}

/** Requests come inline or from a file, never both; the file's options only with a file. */
function checkRequestSource(input: CreateBatchInput): void {
  if (input.requests && input.file_id !== undefined) {
    throw badRequest("file_id: send either requests or file_id, not both");
  }
  if (!input.requests && input.file_id === undefined) {
    throw badRequest("requests is required (or file_id, the id of an uploaded batch input file)");
  }
  if (input.file_id === undefined) {
    for (const field of ["input_format", "column_mapping", "on_invalid_rows"] as const) {
      if (input[field] !== undefined) throw badRequest(`${field}: applies only to a batch made from file_id`);
    }
  }
}

async function ingest(
  ctx: AppContext,
  input: CreateBatchInput,
  batch: NewBatch,
  entries: () => AsyncIterable<IngestEntry>,
  idempotencyKey: string | undefined,
): Promise<CreateBatchResult> {
  try {
    return await ctx.store.batches.ingest(batch, entries, {
      onInvalidRows: input.on_invalid_rows ?? "fail",
      maxReportedErrors: MAX_REPORTED_ROW_ERRORS,
      idempotencyKey,
    });
  } catch (err) {
    if (err instanceof InputFileError) throw badRequest(`file_id: ${err.message}`);
    throw err;
  }
}

function answerIngest(
  ctx: AppContext,
  input: CreateBatchInput,
  batch: NewBatch,
  result: CreateBatchResult,
): SubmitResult {
  switch (result.kind) {
    case "created":
      if (result.batch.status === "in_progress") ctx.signals.notifyWork();
      return { batch: result.batch, replayed: false };
    case "existing":
      return replay(result.batch, result.sameRequest, result.by);
    case "id_taken":
      // Batch ids are global; the message must not tell one workspace what ids another uses.
      throw conflict(`id: "${batch.id}" cannot be used; choose another id`);
    case "empty":
      throw badRequest(`file_id: file ${input.file_id} has no data rows`);
  }
}

function replay(batch: Batch, sameRequest: boolean, by: "id" | "idempotency_key"): SubmitResult {
  if (!sameRequest) {
    throw conflict(
      by === "id"
        ? `id: batch ${batch.id} already exists and was created by a different request`
        : `Idempotency-Key was already used for a different request (it created batch ${batch.id}); use a new key`,
    );
  }
  return { batch, replayed: true };
}
