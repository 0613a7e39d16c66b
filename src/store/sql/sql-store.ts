import type { Broadcast } from "../broadcast.js";
import { migrations } from "../migrations/index.js";
import type { Store, StoreCapabilities } from "../store.js";
import { SqlAgentStore } from "./agents.js";
import { SqlApiBatchStore } from "./api-batches.js";
import { SqlBatchStore } from "./batches.js";
import { SqlBlobStore } from "./blobs.js";
import { SqlChatTurnStore } from "./chat-turns.js";
import { SqlChatStore } from "./chats.js";
import type { SqlDriver } from "./driver.js";
import { SqlFileStore } from "./files.js";
import { SqlItemQueue } from "./items.js";
import { SqlStoreMetrics } from "./metrics.js";
import { SqlOutbox } from "./outbox.js";
import { SqlStepStore } from "./steps.js";
import { SqlToolCallStore } from "./tool-calls.js";
import { SqlWorkerRegistry } from "./workers.js";
import { SqlWorkspaceStore } from "./workspaces.js";

/** The store over one dialect driver: each aggregate its own object, all on the same driver. */
export class SqlStore implements Store {
  readonly capabilities: StoreCapabilities;
  readonly workspaces: SqlWorkspaceStore;
  readonly agents: SqlAgentStore;
  readonly chats: SqlChatStore;
  readonly chatTurns: SqlChatTurnStore;
  readonly files: SqlFileStore;
  readonly blobs: SqlBlobStore;
  readonly batches: SqlBatchStore;
  readonly items: SqlItemQueue;
  readonly steps: SqlStepStore;
  readonly toolCalls: SqlToolCallStore;
  readonly outbox: SqlOutbox;
  readonly apiBatches: SqlApiBatchStore;
  readonly workers: SqlWorkerRegistry;
  readonly metrics: SqlStoreMetrics;

  constructor(private readonly db: SqlDriver) {
    this.capabilities = {
      sharedByProcesses: db.capabilities.sharedByProcesses,
      broadcast: db.capabilities.broadcast,
    };
    this.workspaces = new SqlWorkspaceStore(db);
    this.agents = new SqlAgentStore(db);
    this.chats = new SqlChatStore(db);
    this.chatTurns = new SqlChatTurnStore(db);
    this.files = new SqlFileStore(db);
    this.blobs = new SqlBlobStore(db);
    this.batches = new SqlBatchStore(db);
    this.items = new SqlItemQueue(db);
    this.steps = new SqlStepStore(db);
    this.toolCalls = new SqlToolCallStore(db);
    this.outbox = new SqlOutbox(db);
    this.apiBatches = new SqlApiBatchStore(db);
    this.workers = new SqlWorkerRegistry(db);
    this.metrics = new SqlStoreMetrics(db);
  }

  migrate(): Promise<void> {
    return this.db.migrate(migrations);
  }

  openBroadcast(onError: (err: Error) => void = () => {}): Promise<Broadcast | null> {
    return this.db.openBroadcast(onError);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
