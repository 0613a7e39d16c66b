/**
 * Batches created through the OpenAI Batch API or the Anthropic Message Batches API shape.
 * They are ordinary batches (one queue, one engine); the `api_batches` side table holds only
 * what a shape adds: its input file, line-level validation errors, the output and error files
 * written once the batch ends, and the cancel / delete times those APIs report.
 */
import type { Batch, NewBatch } from "./batches.js";
import type { FileRecord } from "./files.js";
import type { NewBatchItem } from "./items.js";

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
   * Creates the batch and its api_batches row (`validating`), then its items read group by group
   * from `items` (a large input file is never held whole) in chunks of short transactions, so
   * other work goes on meanwhile; the items become runnable in one step at the end. With line
   * errors the batch is created `failed` and `items` is not read.
   */
  create(batch: NewBatch, api: NewApiBatch, total: number, items: ItemGroups, now: number): Promise<ApiBatch>;
  get(workspaceId: string, batchId: string, shape: ApiShape): Promise<ApiBatch | undefined>;
  /** Batches of one shape, newest first; `hasMore` says whether a further page exists. */
  list(
    workspaceId: string,
    shape: ApiShape,
    query: ApiBatchPageQuery,
  ): Promise<{ rows: ApiBatch[]; hasMore: boolean }>;
  /** Records when a cancel was asked for (the first time only). */
  markCancelRequested(batchId: string, now: number): Promise<void>;
  /** Hides an ended batch from its shape's routes (the Codeer routes still see it). */
  markDeleted(batchId: string, now: number): Promise<void>;
  /**
   * Takes up to `limit` ended batches whose output files are still due, for `owner`; a take
   * older than `staleMs` (its process died mid-write) is taken again.
   */
  claimFinalization(owner: string, now: number, staleMs: number, limit: number): Promise<ApiBatch[]>;
  /**
   * Marks the batch finalized without files because they could not be written (a full disk):
   * `error` is kept as its errors and the OpenAI shape shows it `failed`. False if `owner` lost it.
   */
  failFinalization(batchId: string, owner: string, error: ApiBatchLineError, now: number): Promise<boolean>;
  /** Stores the written files and marks the batch finalized, if `owner` still holds it. */
  completeFinalization(
    batchId: string,
    owner: string,
    files: { output: FileRecord | null; error: FileRecord | null },
    now: number,
  ): Promise<boolean>;
}
