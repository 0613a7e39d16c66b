/**
 * Batch items, and the item table as the queue: claims, lease renewals, hand-backs, group
 * commits of outcomes (fenced by lease owner and attempt) and the reaper.
 */
import type { WorkspaceShare } from "../domain/fair-share.js";
import type { BatchTransition } from "../domain/lifecycle.js";
import type { ItemStatus } from "../domain/statuses.js";
import type { ResponseUsage } from "../domain/usage.js";
import type { WebhookSettings } from "../domain/webhook-events.js";
import type {
  EmbeddingRequest,
  ModelRequest,
  OpenAILogprobs,
  ThinkingBlock,
  TokenUsage,
  ToolCall,
} from "../providers/types.js";
import type { Page, PageQuery } from "./page.js";

/** Custom ids of a batch grouped by item status (seed 002's status map), one page per status. */
export type StatusMap = Record<ItemStatus, string[]>;

/**
 * A whole model request carried by an item instead of an agent turn (the OpenAI and Anthropic
 * batch shapes): provider-neutral (the provider contract's own request fields), with the model
 * already routed to `provider/model`. `operation` says which call it is: a chat completion
 * (absent, as items stored before embeddings and Responses had none), an embeddings call, or
 * a Responses API call (its request object, passed through or mapped onto a chat completion).
 */
export type ItemRequest = ChatItemRequest | EmbeddingsItemRequest | ResponsesItemRequest;

interface ItemRequestBase {
  /** `provider/model` after alias routing. */
  model: string;
  /** The model as the client wrote it, echoed in the shaped responses. */
  requestedModel: string;
}

/** A lease owner of items being processed and the earliest lease expiry (epoch ms) among them. */
export interface LeaseHolder {
  owner: string;
  earliestExpiry: number;
}

export interface ChatItemRequest extends ItemRequestBase, Omit<ModelRequest, "model" | "options"> {
  operation?: "chat";
}

export interface EmbeddingsItemRequest extends ItemRequestBase, Omit<EmbeddingRequest, "model" | "options"> {
  operation: "embeddings";
}

export interface ResponsesItemRequest extends ItemRequestBase {
  operation: "responses";
  /** The Responses request object as the client wrote it. */
  body: Record<string, unknown>;
}

/**
 * What an answer holds beyond its text, for the API shapes' output lines (column
 * `response_detail`): never shown in the Codeer result columns.
 */
export interface ResponseDetail {
  toolCalls?: ToolCall[];
  logprobs?: OpenAILogprobs;
  thinking?: ThinkingBlock[];
  /** Cached / reasoning token counts, when the provider said. */
  usage?: TokenUsage;
  /** Embeddings: one vector per input, in input order. */
  embeddings?: number[][];
  /** Responses: the Response object (the upstream's, or built from a chat completion). */
  response?: Record<string, unknown>;
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
  /** The parsed answer of an agent with structured output (validated against its schema). */
  responseJson?: unknown;
  errorCode: number | null;
  errorMessage: string | null;
  chatId: number | null;
  conversationId: number | null;
  processedAt: number | null;
  /** Why the model stopped (`stop`, `length`, ...), when the provider said. */
  finishReason?: string | null;
  /** Tool calls, logprobs, vectors, a Responses object: see `ResponseDetail`. */
  responseDetail?: ResponseDetail | null;
}

/** What an item's run left in its row: its answer or error, its chat, when it was processed. */
export type ItemAnswer = Pick<
  BatchItem,
  | "responseContent"
  | "responseUsage"
  | "responseJson"
  | "errorCode"
  | "errorMessage"
  | "chatId"
  | "conversationId"
  | "processedAt"
>;

/** What an export writes of an item (`listResultRowsAfter` reads only these columns). */
export type ItemResult = ItemAnswer &
  Pick<BatchItem, "seq" | "customId" | "status" | "attempts" | "agentId" | "context" | "metadata">;

/**
 * The cells of an `ItemResultRow`, by name: `ItemResult`'s fields in this order (its JSON fields
 * `responseUsage`, `responseJson`, `context`, `metadata` as the text they are stored as, so an
 * export writes them without parsing and re-serialising every row).
 */
export const RESULT_CELL = {
  seq: 0,
  customId: 1,
  status: 2,
  responseContent: 3,
  responseUsage: 4,
  responseJson: 5,
  errorCode: 6,
  errorMessage: 7,
  chatId: 8,
  conversationId: 9,
  processedAt: 10,
  attempts: 11,
  agentId: 12,
  context: 13,
  metadata: 14,
} as const;

/**
 * An export row as an array (no object per row): `RESULT_CELL` says which cell is which. Number
 * cells are numbers, JSON cells their stored text, null when absent.
 */
export type ItemResultRow = readonly unknown[];

/** An item handed to a worker by a claim; `attempt` and `leaseOwner` fence its result. */
export interface ClaimedItem extends NewBatchItem {
  id: number;
  batchId: string;
  workspaceId: string;
  seq: number;
  attempt: number;
  /** Times a worker died or stalled while holding it (not counted in `attempt`'s upstream tries). */
  interruptions: number;
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
      /** The parsed answer, when the agent asked for structured output. */
      responseJson?: unknown;
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
      /**
       * The item's attached files (the claimed item's; undefined: none), the files of its question
       * message. The store reads no item row back to learn them. Required, so that a success built
       * anywhere else cannot leave them out unnoticed (its message would lose its files).
       */
      attachedFileUuids: string[] | undefined;
      /** Why the model stopped (`stop`, `length`, `content_filter`, `tool_calls`), when known. */
      finishReason?: string | null;
      responseDetail?: ResponseDetail | null;
    })
  | (OutcomeBase & {
      kind: "retry";
      notBefore: number;
      errorCode: number;
      errorMessage: string;
      /** Its worker died or stalled: counted as an interruption, and the attempt is not spent. */
      interrupted?: boolean;
    })
  | (OutcomeBase & {
      kind: "failed";
      errorCode: number;
      errorMessage: string;
      interrupted?: boolean;
      /** What the model calls spent before the item failed (a 422 after the repair step): counted. */
      usage?: FailureUsage;
    })
  /** The agent asked for client tool calls: the item waits (no lease) until their outputs arrive. */
  | (OutcomeBase & { kind: "await"; calls: AwaitedToolCall[] });

/** The tokens and cost of a failed item's model calls, added to its batch's totals. */
export interface FailureUsage {
  promptTokens: number;
  completionTokens: number;
  cost: number;
  responseUsage: ResponseUsage;
}

/** A client tool call an item waits on. */
export interface AwaitedToolCall {
  callId: string;
  /** The model's own id of the call (the result is sent back to the model under it). */
  providerId: string;
  name: string;
  arguments: string;
  /** The step index its result is stored at. */
  stepIndex: number;
}

export interface CommitReport {
  /** Outcomes written; the rest were fenced off (their worker had lost the lease). */
  applied: number;
  discarded: number;
  transitions: BatchTransition[];
  /** Batches whose counters moved. */
  touchedBatchIds: string[];
}

export interface ItemListQuery extends PageQuery {
  status?: ItemStatus;
}

/** What a claim saw besides the items it took (filled in by `claim` when passed). */
export interface ClaimSeen {
  /**
   * False when no batch had items to run (none in progress with a pending item): until work
   * arrives (a batch created or resumed, an item back to pending) another claim finds nothing
   * either, whatever slots free up. True when one had, also if the claim took none of them (their
   * workspace at its cap, a retry not yet due, another worker first).
   */
  runnable: boolean;
  /**
   * In: no work has arrived since the caller's previous claim (no batch created, resumed, no
   * item back to pending: each comes with a signal). The store may then take the candidate
   * batches its previous claim read, as that claim left them, instead of reading them again.
   */
  sameWork?: boolean;
}

export interface ItemQueue {
  /**
   * Leases up to `limit` runnable items to `owner`, spread round-robin across workspaces and
   * batches (domain/fair-share.ts), and moves them to processing with their attempt count raised.
   * With `share`, a workspace gets no more than its cap while another has work.
   */
  claim(
    owner: string,
    limit: number,
    leaseMs: number,
    now: number,
    share?: WorkspaceShare,
    seen?: ClaimSeen,
  ): Promise<ClaimedItem[]>;
  /** The workspaces that have items waiting to run (in batches in progress). */
  runnableWorkspaces(): Promise<string[]>;
  /** Extends the leases `owner` still holds; returns the ids it no longer holds. */
  renewLeases(owner: string, itemIds: number[], leaseExpiresAt: number): Promise<number[]>;
  /**
   * Returns unstarted items to pending without counting the attempt (graceful shutdown, or a
   * batch paused or cancelled while they waited); items of a cancelling batch fail with 499.
   * Returns the batches that moved (e.g. cancelling → cancelled).
   */
  release(owner: string, items: { itemId: number; attempt: number }[]): Promise<BatchTransition[]>;
  /** Writes finished, retried and failed items in one transaction, fenced by owner and attempt. */
  commit(outcomes: ItemOutcome[], now: number): Promise<CommitReport>;
  /**
   * Items whose lease ran out count an interruption and go back to pending (their attempt not
   * spent), or fail as quarantined at `quarantineAfter` interruptions (domain `interruptionRule`).
   */
  reapExpired(now: number, quarantineAfter: number): Promise<CommitReport>;
  /**
   * The lease owners of the items being processed (to tell the live ones from the dead), each
   * with the earliest lease among its items (whether any lease has run out, so the reaper need
   * not scan for expired ones when none can be: one scan of the held items a maintenance run, not two).
   */
  leaseHolders(): Promise<LeaseHolder[]>;
  /** The items held by `owners`, known dead, are returned at once, as `reapExpired` returns expired ones. */
  recoverFrom(owners: string[], now: number, quarantineAfter: number): Promise<CommitReport>;
  /** Items of a batch in submission order; the total is read from the batch counters. */
  list(batchId: string, query: ItemListQuery): Promise<Page<BatchItem>>;
  /** Up to `limit` items after `afterSeq` in submission order (keyset pages for exports). */
  listAfter(batchId: string, afterSeq: number, limit: number, status?: ItemStatus): Promise<BatchItem[]>;
  /**
   * `listAfter` with only the fields a results export writes (far fewer columns to read and
   * map), as arrays (`ItemResultRow`), its JSON fields as their stored text.
   */
  listResultRowsAfter(
    batchId: string,
    afterSeq: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemResultRow[]>;
  getByCustomId(batchId: string, customId: string): Promise<BatchItem | undefined>;
  /** Custom ids per item status, `page` applying to each status list. */
  statusMap(batchId: string, page: PageQuery): Promise<StatusMap>;
  /** How many failed items of a batch ended with each error code (499 cancelled, 408 expired...). */
  countFailedByCode(batchId: string): Promise<Map<number, number>>;
}
