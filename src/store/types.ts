/**
 * The store's record and interface types in one import, for the layers above. Each is declared
 * once, in the file of its aggregate; this file only re-exports them.
 */
export type { BatchTransition } from "../domain/lifecycle.js";
export type { BatchStatus, ItemStatus } from "../domain/statuses.js";
export type { ResponseUsage } from "../domain/usage.js";
export type { WebhookSettings } from "../domain/webhook-events.js";
export type { Agent, AgentConfig, AgentPatch, AgentStore, AgentVersion, NewAgent } from "./agents.js";
export type {
  Batch,
  BatchListQuery,
  BatchStore,
  CreateBatchResult,
  IngestEntry,
  IngestLookups,
  IngestOptions,
  InputFormat,
  NewBatch,
  RowError,
  StateChangeResult,
} from "./batches.js";
export type { BlobChunk, BlobStore } from "./blobs.js";
export type { Broadcast } from "./broadcast.js";
export type {
  Chat,
  ChatListQuery,
  ChatOrder,
  ChatStore,
  ChatTurnRecord,
  FeedbackRating,
  MessageFeedback,
  MessageFile,
  MessageRecord,
  NewChat,
  NewFeedback,
  StoredChatTurn,
} from "./chats.js";
export type { FileListQuery, FilePurpose, FileRecord, FileStore } from "./files.js";
export type {
  BatchItem,
  ClaimedItem,
  CommitReport,
  ItemListQuery,
  ItemOutcome,
  ItemQueue,
  ItemRequest,
  NewBatchItem,
  StatusMap,
} from "./items.js";
export type { MetricsSnapshot, StoreMetrics } from "./metrics.js";
export type {
  DeliveryAttemptResult,
  WebhookDelivery,
  WebhookDeliveryQuery,
  WebhookDeliveryStatus,
  WebhookOutbox,
} from "./outbox.js";
export type { Page, PageQuery } from "./page.js";
export type { Store, StoreCapabilities } from "./store.js";
export type { WorkerRegistry } from "./workers.js";
export type { WhitelistEntry, Workspace, WorkspaceStore } from "./workspaces.js";
