/**
 * The store interface: every read and write of agentbatch's state. One implementation per
 * dialect (sqlite/, postgres/); nothing outside store/ writes SQL. All times are epoch
 * milliseconds; the HTTP layer formats them.
 */

export type BatchStatus =
  | "validating"
  | "in_progress"
  | "paused"
  | "completed"
  | "failed"
  | "cancelling"
  | "cancelled";
export type ItemStatus = "pending" | "processing" | "success" | "failed";

export const TERMINAL_BATCH_STATUSES: readonly BatchStatus[] = ["completed", "failed", "cancelled"];

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

export interface WebhookSettings {
  url: string;
  events: string[];
  secret: string | null;
}

/** Usage in the shape of seed 000's `response_usage`. */
export interface ResponseUsage {
  tool_calls: {
    model: string;
    call_type: string;
    total_tokens: number;
    prompt_tokens: number;
    completion_tokens: number;
  }[];
  total_calls: number;
  total_tokens: number;
  main_response: null;
  total_prompt_tokens: number;
  total_completion_tokens: number;
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

  getChat(workspaceId: string, chatId: number): Promise<Chat | undefined>;
  /** Messages of a chat, oldest first. */
  listMessages(chatId: number): Promise<MessageRecord[]>;

  createFile(file: FileRecord): Promise<FileRecord>;
  /** A file of the workspace that has not been deleted. */
  getFile(workspaceId: string, fileId: string): Promise<FileRecord | undefined>;
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
  /** Returns unstarted items to pending without counting the attempt (graceful shutdown). */
  releaseItems(owner: string, items: { itemId: number; attempt: number }[]): Promise<void>;
  /** Writes finished, retried and failed items in one transaction, fenced by owner and attempt. */
  commitOutcomes(outcomes: ItemOutcome[], now: number): Promise<CommitReport>;
  /** Items whose lease ran out go back to pending, or fail with 500 once attempts are spent. */
  reapExpiredLeases(now: number, maxAttempts: number): Promise<CommitReport>;
  /** Pending items of batches past their completion window fail with 408. */
  expireBatches(now: number): Promise<CommitReport>;
}
