import type {
  AgentStore,
  BatchStore,
  ChatStore,
  ItemQueue,
  StepStore,
  StoreCapabilities,
  WorkerRegistry,
} from "../store/types.js";

/**
 * The parts of the store the engine uses, and nothing more: the item queue, batch expiry, worker
 * heartbeats and the leader, agent versions and chat history. The real `Store` is one; a test
 * hands in a fake of just these.
 */
export interface EngineStore {
  readonly capabilities: Pick<StoreCapabilities, "sharedByProcesses">;
  readonly items: Pick<
    ItemQueue,
    | "claim"
    | "runnableWorkspaces"
    | "renewLeases"
    | "release"
    | "commit"
    | "reapExpired"
    | "leaseHolders"
    | "recoverFrom"
  >;
  readonly batches: Pick<BatchStore, "expire">;
  readonly workers: WorkerRegistry;
  readonly agents: Pick<AgentStore, "getVersion">;
  readonly chats: Pick<ChatStore, "listMessages">;
  /** Durable steps of tool-using turns (agents with tools fail without it). */
  readonly steps?: Pick<StepStore, "append" | "list">;
}
