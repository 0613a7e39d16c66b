/**
 * The store interface: every read and write of agentbatch's state. One implementation per
 * dialect (sqlite/, postgres/); nothing outside store/ writes SQL. All times are epoch
 * milliseconds; the HTTP layer formats them.
 */
import type { BatchStatus, ItemStatus } from "../domain/statuses.js";
import type { ResponseUsage } from "../domain/usage.js";
import type { WebhookSettings } from "../domain/webhook-events.js";
import type { ApiBatchStore } from "./api-batches.js";

export type { BatchStatus, ItemStatus, ResponseUsage, WebhookSettings };

export interface Workspace {
  id: string;
  name: string;
  whitelistEnabled: boolean;
  createdAt: number;
}

export interface AgentConfig {
  model: string;
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  /** Provider options (e.g. the simulator's latency_ms / error_rate). */
  settings: Record<string, unknown>;
}

export interface Agent extends AgentConfig {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  /** Latest published version number, or null if never published. */
  publishedVersion: number | null;
  publishedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface AgentVersion extends AgentConfig {
  agentId: string;
  version: number;
  name: string;
  createdAt: number;
}

export interface NewAgent extends AgentConfig {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
}

export type AgentPatch = Partial<
  Pick<NewAgent, "name" | "description" | "model" | "systemPrompt" | "temperature" | "maxTokens" | "settings">
>;

export interface Chat {
  id: number;
  workspaceId: string;
  agentId: string | null;
  name: string | null;
  externalUserId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface MessageRecord {
  id: number;
  chatId: number;
  /** The id of the user message that opened this turn; a reply shares its question's group. */
  groupId: number;
  role: "system" | "user" | "assistant";
  content: string;
  meta: Record<string, unknown>;
  createdAt: number;
}

export interface NewChat {
  workspaceId: string;
  agentId: string | null;
  name: string | null;
  externalUserId: string | null;
}

export type ChatOrder = "created_at" | "-created_at" | "updated_at" | "-updated_at";

export interface ChatListQuery extends PageQuery {
  orderBy: ChatOrder;
  agentId?: string;
  externalUserId?: string;
}

/**
 * One question and its answer, written together: a finished batch item and a chat message are
 * stored the same way.
 */
export interface ChatTurnRecord {
  workspaceId: string;
  /** The chat to continue, or null to open one (named `chatName`). */
  chatId: number | null;
  agentId: string;
  chatName: string | null;
  externalUserId: string | null;
  message: string;
  reply: string;
  /** Files the question carried, in order. */
  attachedFileIds: string[];
  questionMeta: Record<string, unknown>;
  /** `token_usage`, `response_time_ms` and the like. */
  replyMeta: Record<string, unknown>;
}

export interface StoredChatTurn {
  chatId: number;
  question: MessageRecord;
  answer: MessageRecord;
}

/** A file attached to a message of a chat. */
export interface MessageFile {
  messageId: number;
  file: FileRecord;
}

export type FeedbackRating = "helpful" | "improve";

export interface MessageFeedback {
  id: number;
  chatId: number;
  messageId: number;
  rating: FeedbackRating;
  comment: string | null;
  externalUserId: string | null;
  createdAt: number;
}

export type NewFeedback = Omit<MessageFeedback, "id" | "createdAt">;

export interface WhitelistEntry {
  externalUserId: string;
  createdAt: number;
}

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
  webhook: WebhookSettings | null;
  metadata: Record<string, unknown> | null;
  promptTokens: number;
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

export type CreateBatchResult =
  | { kind: "created"; batch: Batch }
  /** The id or idempotency key was used before: the batch it made, and whether the request matched. */
  | { kind: "existing"; batch: Batch; sameRequest: boolean; by: "id" | "idempotency_key" }
  /** A client-chosen id another workspace already uses. */
  | { kind: "id_taken" }
  /** Nothing to ingest: the source had no rows at all. */
  | { kind: "empty" };

/** Custom ids of a batch grouped by item status (seed 002's status map), one page per status. */
export type StatusMap = Record<ItemStatus, string[]>;

/**
 * A whole model request carried by an item instead of an agent turn (the OpenAI and Anthropic
 * batch shapes): provider-neutral, with the model already routed to `provider/model`.
 */
export interface ItemRequest {
  /** `provider/model` after alias routing. */
  model: string;
  /** The model as the client wrote it, echoed in the shaped responses. */
  requestedModel: string;
  messages: {
    role: "system" | "user" | "assistant";
    content:
      | string
      | ({ type: "text"; text: string } | { type: "image"; mediaType: string; dataBase64: string })[];
  }[];
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  stop?: string[];
}

/** One request of a batch as created: the agent version is fixed at creation time. */
export interface NewBatchItem {
  customId: string;
  agentId: string;
  agentVersion: number;
  message: string;
  externalUserId: string | null;
  name: string | null;
  attachedFileUuids: string[];
  historyId: number | null;
  /** This request's own webhook target for `request.*` events (extension; seed 002's per-run callback). */
  webhook?: WebhookSettings | null;
  /** Objects folded from an input file's `context.*` / `metadata.*` columns. */
  context?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  /** A whole model request (OpenAI / Anthropic batch shapes): run as is, without the agent. */
  request?: ItemRequest | null;
}

export interface BatchItem extends NewBatchItem {
  id: number;
  batchId: string;
  seq: number;
  status: ItemStatus;
  attempts: number;
  responseContent: string | null;
  responseUsage: ResponseUsage | null;
  errorCode: number | null;
  errorMessage: string | null;
  chatId: number | null;
  conversationId: number | null;
  processedAt: number | null;
  /** Why the model stopped (`stop`, `length`, ...), when the provider said. */
  finishReason?: string | null;
}

/** An item handed to a worker by a claim; `attempt` and `leaseOwner` fence its result. */
export interface ClaimedItem extends NewBatchItem {
  id: number;
  batchId: string;
  workspaceId: string;
  seq: number;
  attempt: number;
}

interface OutcomeBase {
  itemId: number;
  batchId: string;
  leaseOwner: string;
  attempt: number;
}

export type ItemOutcome =
  | (OutcomeBase & {
      kind: "success";
      responseContent: string;
      responseUsage: ResponseUsage;
      promptTokens: number;
      completionTokens: number;
      cost: number;
      responseTimeMs: number;
      /** Filled by the worker from the claimed item, so the store can write the chat turn. */
      workspaceId: string;
      agentId: string;
      message: string;
      chatName: string | null;
      externalUserId: string | null;
      historyId: number | null;
      /** Why the model stopped (`stop`, `length`, `content_filter`, `tool_calls`), when known. */
      finishReason?: string | null;
    })
  | (OutcomeBase & { kind: "retry"; notBefore: number; errorCode: number; errorMessage: string })
  | (OutcomeBase & { kind: "failed"; errorCode: number; errorMessage: string });

/** A batch that moved to another status inside a store call, for progress events and webhooks. */
export interface BatchTransition {
  batchId: string;
  workspaceId: string;
  from: BatchStatus;
  to: BatchStatus;
}

export interface CommitReport {
  /** Outcomes written; the rest were fenced off (their worker had lost the lease). */
  applied: number;
  discarded: number;
  transitions: BatchTransition[];
  /** Batches whose counters moved. */
  touchedBatchIds: string[];
}

/** What a file is for: a chat/batch attachment, a batch input file, or a file agentbatch produced. */
export type FilePurpose = "attachment" | "batch_input" | "batch_output" | "batch_error";

export interface FileRecord {
  id: string;
  workspaceId: string;
  purpose: FilePurpose;
  scope: "persistent" | "ephemeral";
  originalName: string;
  contentType: string;
  size: number;
  /** Path of the bytes relative to the data directory (files/ owns the layout). */
  storagePath: string;
  meta: Record<string, unknown> | null;
  createdAt: number;
}

export interface FileListQuery extends PageQuery {
  purpose?: FilePurpose;
}

export interface PageQuery {
  limit: number;
  offset: number;
}

export interface Page<T> {
  rows: T[];
  total: number;
}

export interface BatchListQuery extends PageQuery {
  statuses?: BatchStatus[];
}

export interface ItemListQuery extends PageQuery {
  status?: ItemStatus;
}

export type StateChangeResult =
  | { kind: "not_found" }
  | { kind: "conflict"; batch: Batch }
  | { kind: "ok"; batch: Batch; changed: boolean; transitions: BatchTransition[] };

export interface Store {
  readonly dialect: "sqlite" | "postgres";
  /** The webhook outbox (rows are written by the state changes above, in their transactions). */
  readonly webhooks: WebhookOutbox;
  /** Batches created through the OpenAI / Anthropic batch API shapes (api-batches.ts). */
  readonly apiBatches: ApiBatchStore;
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /** Returns the workspace of that name, creating it if needed. */
  ensureWorkspace(name: string): Promise<Workspace>;
  /** Stores a key by its hash; an existing hash is left as it is. */
  addApiKey(workspaceId: string, keyHash: string, prefix: string): Promise<void>;
  findWorkspaceByKeyHash(keyHash: string): Promise<Workspace | undefined>;

  createAgent(agent: NewAgent, now: number): Promise<Agent>;
  getAgent(workspaceId: string, agentId: string): Promise<Agent | undefined>;
  /** Agents of a workspace, newest first; `publishedOnly` keeps those with a published version. */
  listAgents(workspaceId: string, page: PageQuery, publishedOnly?: boolean): Promise<Page<Agent>>;
  updateAgent(
    workspaceId: string,
    agentId: string,
    patch: AgentPatch,
    now: number,
  ): Promise<Agent | undefined>;
  /** Snapshots the agent's current config as a new published version. */
  publishAgent(workspaceId: string, agentId: string, now: number): Promise<Agent | undefined>;
  getAgentVersion(agentId: string, version: number): Promise<AgentVersion | undefined>;

  getWorkspace(workspaceId: string): Promise<Workspace | undefined>;
  setWhitelistEnabled(workspaceId: string, enabled: boolean): Promise<Workspace | undefined>;
  /** Adds users to the whitelist; returns how many were not on it yet. */
  addWhitelistUsers(workspaceId: string, externalUserIds: string[], now: number): Promise<number>;
  /** Returns false when the user was not on the whitelist. */
  removeWhitelistUser(workspaceId: string, externalUserId: string): Promise<boolean>;
  /** Whitelisted users, in the order they were added. */
  listWhitelistUsers(workspaceId: string, page: PageQuery): Promise<Page<WhitelistEntry>>;
  /** Those of `externalUserIds` that are on the workspace's whitelist. */
  whitelistedAmong(workspaceId: string, externalUserIds: string[]): Promise<Set<string>>;

  createChat(chat: NewChat, now: number): Promise<Chat>;
  renameChat(workspaceId: string, chatId: number, name: string, now: number): Promise<Chat | undefined>;
  listChats(workspaceId: string, query: ChatListQuery): Promise<Page<Chat>>;
  /** Stores a question and its answer in one transaction; opens the chat when `chatId` is null. */
  appendChatTurn(turn: ChatTurnRecord, now: number): Promise<StoredChatTurn>;
  getMessage(chatId: number, messageId: number): Promise<MessageRecord | undefined>;
  /** Files attached to the messages of a chat, in message order. */
  listMessageFiles(chatId: number): Promise<MessageFile[]>;
  addFeedback(feedback: NewFeedback, now: number): Promise<MessageFeedback>;
  /** Feedback on the messages of a chat, oldest first. */
  listFeedbacks(chatId: number): Promise<MessageFeedback[]>;
  getChat(workspaceId: string, chatId: number): Promise<Chat | undefined>;
  /** Messages of a chat, oldest first. */
  listMessages(chatId: number): Promise<MessageRecord[]>;

  createFile(file: FileRecord): Promise<FileRecord>;
  /** A file of the workspace that has not been deleted. */
  getFile(workspaceId: string, fileId: string): Promise<FileRecord | undefined>;
  /** Those of `fileIds` that are files of the workspace and not deleted (any order). */
  getFiles(workspaceId: string, fileIds: string[]): Promise<FileRecord[]>;
  /** Files of a workspace, newest first. */
  listFiles(workspaceId: string, query: FileListQuery): Promise<Page<FileRecord>>;
  /** Marks a file deleted and returns it (the caller removes its bytes), or undefined if there was none. */
  deleteFile(workspaceId: string, fileId: string, now: number): Promise<FileRecord | undefined>;

  /** Creates a batch and all its items in one transaction. */
  createBatch(batch: NewBatch, items: NewBatchItem[]): Promise<Batch>;
  getBatch(workspaceId: string, batchId: string): Promise<Batch | undefined>;
  /** Batches of a workspace, newest first. */
  listBatches(workspaceId: string, query: BatchListQuery): Promise<Page<Batch>>;
  /** Items of a batch in submission order. */
  listItems(batchId: string, query: ItemListQuery): Promise<Page<BatchItem>>;
  /** Cancels an in-progress or paused batch: pending items fail with 499 at once. */
  cancelBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;

  /**
   * Leases up to `limit` runnable items to `owner`, spread round-robin across workspaces and
   * batches, and moves them to processing with their attempt count raised.
   */
  claimItems(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedItem[]>;
  /** Extends the leases `owner` still holds; returns the ids it no longer holds. */
  renewLeases(owner: string, itemIds: number[], leaseExpiresAt: number): Promise<number[]>;
  /**
   * Returns unstarted items to pending without counting the attempt (graceful shutdown, or a
   * batch paused or cancelled while they waited); items of a cancelling batch fail with 499.
   * Returns the batches that moved (e.g. cancelling → cancelled).
   */
  releaseItems(owner: string, items: { itemId: number; attempt: number }[]): Promise<BatchTransition[]>;
  /** Writes finished, retried and failed items in one transaction, fenced by owner and attempt. */
  commitOutcomes(outcomes: ItemOutcome[], now: number): Promise<CommitReport>;
  /** Items whose lease ran out go back to pending, or fail with 500 once attempts are spent. */
  reapExpiredLeases(now: number, maxAttempts: number): Promise<CommitReport>;
  /** Pending items of batches past their completion window fail with 408. */
  expireBatches(now: number): Promise<CommitReport>;

  /**
   * Creates a batch from a stream of validated rows in ONE transaction, inserting items in
   * multi-row groups (only the current group is held in memory). A custom_id seen before in the
   * batch becomes a row error (the UNIQUE constraint detects it). With `fail`, any row error
   * stores no item and the batch is created `failed` with its validation errors.
   */
  ingestBatch(
    batch: NewBatch,
    entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>,
    options: IngestOptions,
  ): Promise<CreateBatchResult>;
  /** An in_progress batch stops starting items (in-flight ones finish). */
  pauseBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;
  resumeBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult>;
  /**
   * Re-queues the failed items of a finished batch (attempts reset, successes kept) and moves it
   * back to in_progress with the completion window extended to at least `expiresAt`. A batch that
   * is not finished, or has no failed item, is a conflict.
   */
  retryFailedItems(
    workspaceId: string,
    batchId: string,
    now: number,
    expiresAt: number,
  ): Promise<StateChangeResult>;
  /** Up to `limit` items after `afterSeq` in submission order (keyset pages for exports). */
  listItemsAfter(batchId: string, afterSeq: number, limit: number, status?: ItemStatus): Promise<BatchItem[]>;
  getItemByCustomId(batchId: string, customId: string): Promise<BatchItem | undefined>;
  /** Custom ids per item status, `page` applying to each status list. */
  statusMap(batchId: string, page: PageQuery): Promise<StatusMap>;

  /**
   * Runs `fn` only if no other process runs the task of that name now (maintenance leader);
   * returns undefined without running it otherwise. SQLite: the one process always runs it.
   */
  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined>;
  /**
   * Records that worker `workerId` is alive, forgets workers not seen since `staleBefore`, and
   * returns how many workers are alive (itself included): per-upstream limits are split by it.
   */
  heartbeatWorker(workerId: string, now: number, staleBefore: number): Promise<number>;
  /** Forgets a worker that stops. */
  removeWorker(workerId: string): Promise<void>;

  /** Item and batch counts over every workspace, read from the batch counters (for /metrics). */
  metricsSnapshot(): Promise<MetricsSnapshot>;
}

/** What /metrics reads from the store at scrape time. */
export interface MetricsSnapshot {
  /** Items by status, summed over every batch's counters. */
  items: Record<ItemStatus, number>;
  /** Pending items of in_progress batches: the queue the engine claims from. */
  queueDepth: number;
  /** Batches by status. */
  batches: Partial<Record<BatchStatus, number>>;
  /** Webhook deliveries of the outbox by status, with the attempts made on them. */
  webhookDeliveries: Partial<Record<WebhookDeliveryStatus, { deliveries: number; attempts: number }>>;
}

// ---- webhooks ----

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** One event for one target: a row of the outbox, sent until delivered or given up. */
export interface WebhookDelivery {
  /** Stable across retries and redeliveries (the `webhook-id` header). */
  id: string;
  workspaceId: string;
  batchId: string;
  /** The request an `request.*` event is about; null for batch events. */
  customId: string | null;
  event: string;
  /** The exact body bytes sent (JSON text). */
  payload: string;
  url: string;
  secret: string | null;
  status: WebhookDeliveryStatus;
  /** Attempts made (a claim counts one); fences the result of an attempt. */
  attempts: number;
  nextAttemptAt: number;
  /** Start of the retry window (creation, or the last redelivery). */
  retrySince: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** What became of one attempt. */
export type DeliveryAttemptResult =
  | { kind: "delivered"; statusCode: number }
  | { kind: "retry"; nextAttemptAt: number; statusCode: number | null; error: string }
  | { kind: "failed"; statusCode: number | null; error: string };

export interface WebhookDeliveryQuery extends PageQuery {
  status?: WebhookDeliveryStatus;
}

export interface WebhookOutbox {
  /**
   * Leases up to `limit` due deliveries to `owner` (their next attempt moves `leaseMs` ahead, so
   * a sender that dies leaves them due again) and counts the attempt.
   */
  claimDue(owner: string, limit: number, leaseMs: number, now: number): Promise<WebhookDelivery[]>;
  /** Stores an attempt's result if `owner` still holds that attempt; false when fenced off. */
  recordAttempt(
    id: string,
    owner: string,
    attempt: number,
    result: DeliveryAttemptResult,
    now: number,
  ): Promise<boolean>;
  /** Hands unsent claims back, due at once, without counting the attempt (shutdown). */
  release(owner: string, claims: { id: string; attempt: number }[], now: number): Promise<void>;
  /** When the earliest pending delivery is due, or null when none is pending. */
  nextDueAt(): Promise<number | null>;
  /** Deliveries of a batch, oldest first. */
  list(batchId: string, query: WebhookDeliveryQuery): Promise<Page<WebhookDelivery>>;
  /** Queues a delivery of the batch again, due now, with a fresh retry window. */
  redeliver(batchId: string, deliveryId: string, now: number): Promise<WebhookDelivery | undefined>;
}
