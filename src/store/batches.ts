/** Batches: creation (inline or streamed from a file), reads, and the state changes a client asks for. */
import type { BatchTransition } from "../domain/lifecycle.js";
import type { BatchStatus } from "../domain/statuses.js";
import type { WebhookSettings } from "../domain/webhook-events.js";
import type { Agent } from "./agents.js";
import type { CommitReport, NewBatchItem } from "./items.js";
import type { Page, PageQuery } from "./page.js";

export interface Batch {
  id: string;
  workspaceId: string;
  agentId: string;
  name: string | null;
  status: BatchStatus;
  total: number;
  succeeded: number;
  failed: number;
  pending: number;
  processing: number;
  /** Items waiting for client tool outputs. */
  awaiting: number;
  webhook: WebhookSettings | null;
  metadata: Record<string, unknown> | null;
  /** The batch's context (seed 003), returned with it and in its webhook events. */
  context: Record<string, unknown> | null;
  promptTokens: number;
  /** Of `promptTokens`, those providers served from their prompt cache (as far as they said). */
  cachedPromptTokens: number;
  completionTokens: number;
  /** USD. */
  cost: number;
  errorMessage: string | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  cancelledAt: number | null;
  pausedAt: number | null;
  expiresAt: number;
  /** The uploaded file the batch was made from, its name and format (null for inline requests). */
  inputFileId: string | null;
  originalFileName: string | null;
  inputFormat: InputFormat | null;
  /** Rows of the input file that failed validation (the first ones, up to a cap), or null. */
  validationErrors: RowError[] | null;
  /** SHA-256 of the create request, to tell a retried create from a different one. */
  requestHash: string | null;
}

export type InputFormat = "csv" | "json" | "jsonl";

/** A row of an input file that failed validation; `row` counts data rows from 1. */
export interface RowError {
  row: number;
  error: string;
}

export interface NewBatch {
  id: string;
  workspaceId: string;
  agentId: string;
  name: string | null;
  webhook: WebhookSettings | null;
  metadata: Record<string, unknown> | null;
  context?: Record<string, unknown> | null;
  createdAt: number;
  expiresAt: number;
  inputFileId?: string | null;
  originalFileName?: string | null;
  inputFormat?: InputFormat | null;
  requestHash?: string | null;
}

/** One row of a batch being ingested: a valid item or the reason it is not. */
export type IngestEntry = { row: number; item: NewBatchItem } | { row: number; error: string };

/** Reads an ingest needs while its transaction is open (on the transaction's connection). */
export interface IngestLookups {
  getAgent(workspaceId: string, agentId: string): Promise<Agent | undefined>;
  chatExists(workspaceId: string, chatId: number): Promise<boolean>;
  isWhitelisted(workspaceId: string, externalUserId: string): Promise<boolean>;
}

export interface IngestOptions {
  /** `fail`: any bad row fails the batch and no item is stored; `skip`: bad rows are left out. */
  onInvalidRows: "fail" | "skip";
  /** Most row errors kept in `validation_errors` (all are counted in `error_message`). */
  maxReportedErrors: number;
  /** Makes the create idempotent per workspace: the same key returns the batch it created. */
  idempotencyKey?: string;
}

/** One row of a validating batch, stored by `ingestChunk`; `seq` orders the batch's items. */
export interface IngestRow {
  seq: number;
  item: NewBatchItem;
}

/**
 * Where a background ingest stands, stored with each chunk in the chunk's transaction, so that
 * another process can take the batch over and read on from `lastRow` (the rows up to it are
 * stored or reported in `errors`).
 */
export interface IngestProgress {
  /** The create's read options (the file, its format and agent are on the batch row). */
  columnMapping: Record<string, string> | null;
  onInvalidRows: "fail" | "skip";
  /** File row number of the last row read before the chunk was stored; 0 before any. */
  lastRow: number;
  /** The seq the next stored row gets. */
  nextSeq: number;
  /** Rows read (stored or not): the per-batch and per-workspace caps count them. */
  rows: number;
  errorCount: number;
  /** The row errors kept so far (at most the ingest's `maxReportedErrors`). */
  errors: RowError[];
}

/** A validating batch this process took over from one that stopped, and where its ingest stood. */
export interface ResumedIngest {
  batch: Batch;
  /** Null: the batch was begun before ingests were resumable (or inline); it cannot be resumed. */
  progress: IngestProgress | null;
}

/** How a background ingest ends: the batch runnable with its rows, or failed (no item kept). */
export type IngestEnd =
  | { kind: "ready"; errors: RowError[] }
  | { kind: "failed"; message: string; errors: RowError[] };

export type CreateBatchResult =
  | { kind: "created"; batch: Batch }
  /** The id or idempotency key was used before: the batch it made, and whether the request matched. */
  | { kind: "existing"; batch: Batch; sameRequest: boolean; by: "id" | "idempotency_key" }
  /** A client-chosen id another workspace already uses. */
  | { kind: "id_taken" }
  /** Nothing to ingest: the source had no rows at all. */
  | { kind: "empty" };

export interface BatchListQuery extends PageQuery {
  statuses?: BatchStatus[];
}

export type StateChangeResult =
  | { kind: "not_found" }
  | { kind: "conflict"; batch: Batch }
  | { kind: "ok"; batch: Batch; changed: boolean; transitions: BatchTransition[] };

export interface BatchStore {
  get(workspaceId: string, batchId: string): Promise<Batch | undefined>;
  /** Batches of a workspace, newest first. */
  list(workspaceId: string, query: BatchListQuery): Promise<Page<Batch>>;
  /**
   * Creates a batch from a stream of validated rows in ONE transaction, inserting items in
   * multi-row groups (only the current group is held in memory). A custom_id seen before in the
   * batch becomes a row error (the UNIQUE constraint detects it). With `fail`, any row error
   * stores no item and the batch is created `failed` with its validation errors.
   */
  ingest(
    batch: NewBatch,
    entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>,
    options: IngestOptions,
  ): Promise<CreateBatchResult>;
  /**
   * Starts a background ingest: takes the batch's identity (id, idempotency key) and inserts it
   * `validating` with no items, so nothing of it runs until `finishIngest`. `created` is the new
   * batch; `existing` / `id_taken` as for `ingest`.
   */
  beginIngest(
    batch: NewBatch,
    idempotencyKey: string | undefined,
    now: number,
    resume?: { owner: string; progress: IngestProgress },
  ): Promise<CreateBatchResult>;
  /**
   * Stores one chunk of a validating batch's rows in one short transaction (items not runnable:
   * the batch is `validating`), adds them to its total, refreshes its ingest heartbeat and stores
   * `progress(stored)` (the ingest's state once the chunk is in). Returns the seqs stored (a
   * custom_id the batch already has is skipped), or null when the batch is no longer validating
   * or `owner` no longer ingests it (failed as stale, cancelled, taken over): the ingest must stop.
   */
  ingestChunk(
    batchId: string,
    rows: IngestRow[],
    now: number,
    owner: string,
    progress: (stored: Set<number>) => IngestProgress,
  ): Promise<Set<number> | null>;
  /** Refreshes the heartbeat of an ingest `owner` still holds; false when it no longer does. */
  touchIngest(batchId: string, owner: string, now: number): Promise<boolean>;
  /**
   * Hands an ingest back (its process is stopping): its heartbeat is made stale at once, so the
   * next process that looks takes it over.
   */
  releaseIngest(batchId: string, owner: string): Promise<void>;
  /**
   * Ends a background ingest in one step: `ready` makes every stored item runnable (status
   * in_progress, pending = total); `failed` deletes the stored items (in short transactions) and
   * fails the batch with the message. Undefined when the batch was no longer validating (or,
   * given `owner`, no longer that owner's).
   */
  finishIngest(batchId: string, end: IngestEnd, now: number, owner?: string): Promise<Batch | undefined>;
  /**
   * Takes over the validating batches whose ingest heartbeat is older than `staleBefore` (the
   * process ingesting them stopped): each becomes `owner`'s, its heartbeat `now` (one process
   * wins each), with where its ingest stood.
   */
  takeStaleIngests(staleBefore: number, owner: string, now: number): Promise<ResumedIngest[]>;
  /** Rows (items) of the workspace's unfinished batches, validating ones included. */
  activeRows(workspaceId: string): Promise<number>;
  /** The reads row validation needs, outside any transaction (a background ingest). */
  lookups(): IngestLookups;
  /** Cancels an in-progress or paused batch: pending items fail with 499 at once. */
  cancel(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;
  /** An in_progress batch stops starting items (in-flight ones finish). */
  pause(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;
  resume(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;
  /**
   * Re-queues the failed items of a finished batch (attempts reset, successes kept) and moves it
   * back to in_progress with the completion window extended to at least `expiresAt`. A batch that
   * is not finished, or has no failed item, is a conflict.
   */
  retryFailed(
    workspaceId: string,
    batchId: string,
    now: number,
    expiresAt: number,
  ): Promise<StateChangeResult>;
  /** Pending items of batches past their completion window fail with 408. */
  expire(now: number): Promise<CommitReport>;
}
