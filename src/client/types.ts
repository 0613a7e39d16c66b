/**
 * The client's types, derived from the schemas the server validates with and the functions that
 * shape its responses, so that they cannot drift apart. Type-only imports: none of this exists
 * at runtime, and the built client imports nothing outside dist/client.
 */
import type { Static } from "@sinclair/typebox";
import type { BATCH_STATUSES, ITEM_STATUSES } from "../domain/statuses.js";
import type { CreateAgentBody, UpdateAgentBody } from "../server/schemas/agents.js";
import type { BatchRequestItem, CreateBatchBody, WebhookBody } from "../server/schemas/batches.js";
import type { CreateChatBody, ListChatsQuery, SendMessageBody } from "../server/schemas/chats.js";
import type { agentToWire } from "../server/wire/agents.js";
import type { batchToWire, itemToWire } from "../server/wire/batches.js";
import type { chatToWire } from "../server/wire/chats.js";
import type { Pagination } from "../server/wire/envelope.js";
import type { batchFileToWire } from "../server/wire/files.js";
import type { stepToWire } from "../server/wire/steps.js";
import type { toolCallToWire, toolOutputsToWire } from "../server/wire/tool-calls.js";
import type { deliveryToWire } from "../server/wire/webhooks.js";

export type { Pagination };

export type BatchStatus = (typeof BATCH_STATUSES)[number];
export type ItemStatus = (typeof ITEM_STATUSES)[number];

/** Body of `POST /api/v1/batches`. */
export type CreateBatchParams = Static<typeof CreateBatchBody>;
export type BatchRequest = Static<typeof BatchRequestItem>;
export type WebhookParams = Static<typeof WebhookBody>;
/** Body of `POST /api/v1/agents`. */
export type CreateAgentParams = Static<typeof CreateAgentBody>;
/** Body of `PATCH /api/v1/agents/{id}`. */
export type UpdateAgentParams = Static<typeof UpdateAgentBody>;

/** Body of `POST /api/v1/chats`. */
export type CreateChatParams = Static<typeof CreateChatBody>;
/** Filters of `GET /api/v1/chats`. */
export type ListChatsParams = Partial<Static<typeof ListChatsQuery>>;
/** Body of `POST /api/v1/chats/{id}/messages`, without `stream` (the method chooses). */
export type SendMessageParams = Omit<Static<typeof SendMessageBody>, "stream">;
export type Chat = ReturnType<typeof chatToWire>;

export type Batch = ReturnType<typeof batchToWire>;
/** A client tool call a request waits on (`GET /batches/{id}/tool-calls`). */
export type ToolCall = ReturnType<typeof toolCallToWire>;
/** An output for a client tool call: a string, or any JSON value (sent as its JSON text). */
export interface ToolOutput {
  call_id: string;
  output: unknown;
}
/** A chat turn waiting on client tool calls (`stream: false`); answer with `chats.submitToolOutputs`. */
export interface ChatAwaitingToolCalls {
  status: "awaiting_tool_calls";
  response_id: string;
  chat_id: number;
  calls: { call_id: string; tool: string; arguments: unknown }[];
}
/** A chat turn dropped by `chats.cancelToolCalls`, with the calls it waited on. */
export interface ChatToolCallsCancelled {
  status: "cancelled";
  response_id: string;
  chat_id: number;
  calls: { call_id: string; tool: string; arguments: unknown }[];
}
/** What `POST /batches/{id}/tool-outputs` answers: a verdict per entry. */
export type ToolOutputsResult = ReturnType<typeof toolOutputsToWire>;
/** One step of a tool-using request's transcript. */
export type TurnStep = ReturnType<typeof stepToWire>;
export type BatchResult = ReturnType<typeof itemToWire>;
export type Agent = ReturnType<typeof agentToWire>;
/** An agent's structured output: `{type: "json_object"}` or `{type: "json_schema", json_schema}`. */
export type ResponseFormat = NonNullable<CreateAgentParams["response_format"]>;
/**
 * A result of an agent with structured output, its `response_json` typed as the schema's object
 * (the server validated it; null for a failed item).
 */
export type StructuredBatchResult<T> = Omit<BatchResult, "response_json"> & { response_json: T | null };

/** Every response body: seed 001's envelope. */
export interface Envelope<T> {
  data: T;
  message: string | null;
  error_code: number;
  pagination?: Pagination;
}

/** One page of a list. */
export interface Page<T> {
  data: T[];
  pagination: Pagination;
}

export interface PageParams {
  /** Results per page (1..1000, server default 50). */
  limit?: number;
  offset?: number;
}

export interface ListBatchesParams extends PageParams {
  /** One status, or several. */
  status?: BatchStatus | BatchStatus[];
}

export interface ListResultsParams extends PageParams {
  status?: ItemStatus;
}

export type ExportFormat = "csv" | "jsonl" | "json";

/** A message of a chat (`GET /api/v1/chats/{id}/messages`). */
export interface ChatMessage {
  id: number;
  group_id: number;
  role: "system" | "user" | "assistant";
  content: string;
  meta: Record<string, unknown>;
  attached_files: unknown[];
  created_at: string | null;
}

/** An uploaded batch input file (`POST /api/v1/files`); pass its `id` as `file_id`. */
export type UploadedFile = ReturnType<typeof batchFileToWire>;

/** A webhook delivery of a batch (`GET /api/v1/batches/{id}/webhook-deliveries`). */
export type WebhookDelivery = ReturnType<typeof deliveryToWire>;

/** custom_ids grouped by request status (`GET /api/v1/batches/{id}/status-map`). */
export interface StatusMap extends Record<ItemStatus, string[]> {
  batch_id: string;
  status: BatchStatus;
  counts: Record<ItemStatus, number>;
  limit: number;
  offset: number;
}

/**
 * An event of `GET /api/v1/batches/{id}/events` (Server-Sent Events): `snapshot` first,
 * `progress` on change, `done` at the end; `data` is the batch.
 */
export interface BatchEvent {
  id: string | null;
  event: string;
  data: unknown;
}
