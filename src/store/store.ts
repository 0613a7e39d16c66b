/**
 * The store: every read and write of agentbatch's state, one interface per aggregate, composed
 * here. One implementation (`sql/`) over a small driver per dialect (`sqlite/`, `postgres/`);
 * nothing outside store/ writes SQL. All times are epoch milliseconds; the HTTP layer formats them.
 */
import type { AgentStore } from "./agents.js";
import type { ApiBatchStore } from "./api-batches.js";
import type { BatchStore } from "./batches.js";
import type { BlobStore } from "./blobs.js";
import type { Broadcast } from "./broadcast.js";
import type { ChatTurnStore } from "./chat-turns.js";
import type { ChatStore } from "./chats.js";
import type { FileStore } from "./files.js";
import type { ItemQueue } from "./items.js";
import type { StoreMetrics } from "./metrics.js";
import type { WebhookOutbox } from "./outbox.js";
import type { StepStore } from "./steps.js";
import type { ToolCallStore } from "./tool-calls.js";
import type { WorkerRegistry } from "./workers.js";
import type { WorkspaceStore } from "./workspaces.js";

/** What the database behind the store can do, for the parts that adapt to it (never its name). */
export interface StoreCapabilities {
  /**
   * Several processes (API nodes and workers, on any machines) share this database: workers
   * heartbeat and split the upstream limits, and one of them at a time runs maintenance.
   */
  sharedByProcesses: boolean;
  /** The database can wake other processes (LISTEN/NOTIFY): idle workers need not poll fast. */
  broadcast: boolean;
}

export interface Store {
  readonly capabilities: StoreCapabilities;
  readonly workspaces: WorkspaceStore;
  readonly agents: AgentStore;
  readonly chats: ChatStore;
  /** Chat turns waiting on client tool calls. */
  readonly chatTurns: ChatTurnStore;
  readonly files: FileStore;
  /** File bytes kept in the database (when files/ is set to store them there). */
  readonly blobs: BlobStore;
  readonly batches: BatchStore;
  /** The item table as the queue. */
  readonly items: ItemQueue;
  /** Durable steps of tool-using agent turns. */
  readonly steps: StepStore;
  /** Client tool calls items wait on. */
  readonly toolCalls: ToolCallStore;
  /** The webhook outbox (rows are written by the state changes, in their transactions). */
  readonly outbox: WebhookOutbox;
  /** What batches created through the OpenAI / Anthropic batch shapes add. */
  readonly apiBatches: ApiBatchStore;
  readonly workers: WorkerRegistry;
  readonly metrics: StoreMetrics;
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  /**
   * The cross-process channel, listening once this resolves; null when the database has none
   * (SQLite: one process owns it, and in-process signals suffice).
   */
  openBroadcast(onError?: (err: Error) => void): Promise<Broadcast | null>;
  close(): Promise<void>;
}
