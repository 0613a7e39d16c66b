/**
 * Row mappers shared by both dialects: the column names are the same in SQLite and PostgreSQL.
 * PostgreSQL returns BIGINT as strings, so numbers pass through `n()`.
 */
import type { BatchStatus, ItemStatus } from "../../domain/statuses.js";
import type { Agent, AgentResponseFormat, AgentTool, AgentVersion } from "../agents.js";
import type { Batch } from "../batches.js";
import type { Chat, MessageFeedback, MessageRecord } from "../chats.js";
import type { FileRecord } from "../files.js";
import {
  type BatchItem,
  type ClaimedItem,
  type ItemAnswer,
  type ItemResultRow,
  type NewBatchItem,
  RESULT_CELL,
} from "../items.js";
import type { Workspace } from "../workspaces.js";
import type { Row } from "./driver.js";

export function n(v: unknown): number {
  return typeof v === "number" ? v : Number(v);
}

export function nOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : n(v);
}

/** JSON columns are TEXT in SQLite and JSONB in PostgreSQL (already parsed). */
export function json<T>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  return (typeof v === "string" ? JSON.parse(v) : v) as T;
}

export function toWorkspace(r: Row): Workspace {
  return {
    id: r.id,
    name: r.name,
    whitelistEnabled: Boolean(r.whitelist_enabled),
    createdAt: n(r.created_at),
  };
}

export function toAgent(r: Row): Agent {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    description: r.description ?? null,
    model: r.model,
    systemPrompt: r.system_prompt ?? null,
    temperature: r.temperature ?? null,
    maxTokens: nOrNull(r.max_tokens),
    settings: json<Record<string, unknown>>(r.settings) ?? {},
    tools: json<AgentTool[]>(r.tools) ?? [],
    maxSteps: nOrNull(r.max_steps) ?? 10,
    responseFormat: json<AgentResponseFormat>(r.response_format) ?? null,
    publishedVersion: nOrNull(r.published_version),
    publishedAt: nOrNull(r.published_at),
    createdAt: n(r.created_at),
    updatedAt: n(r.updated_at),
  };
}

export function toAgentVersion(r: Row): AgentVersion {
  return {
    agentId: r.agent_id,
    version: n(r.version),
    name: r.name,
    model: r.model,
    systemPrompt: r.system_prompt ?? null,
    temperature: r.temperature ?? null,
    maxTokens: nOrNull(r.max_tokens),
    settings: json<Record<string, unknown>>(r.settings) ?? {},
    tools: json<AgentTool[]>(r.tools) ?? [],
    maxSteps: nOrNull(r.max_steps) ?? 10,
    responseFormat: json<AgentResponseFormat>(r.response_format) ?? null,
    createdAt: n(r.created_at),
  };
}

export function toChat(r: Row): Chat {
  return {
    id: n(r.id),
    workspaceId: r.workspace_id,
    agentId: r.agent_id ?? null,
    name: r.name ?? null,
    externalUserId: r.external_user_id ?? null,
    createdAt: n(r.created_at),
    updatedAt: n(r.updated_at),
  };
}

export function toMessage(r: Row): MessageRecord {
  return {
    id: n(r.id),
    chatId: n(r.chat_id),
    groupId: n(r.group_id ?? r.id),
    role: r.role,
    content: r.content,
    meta: json<Record<string, unknown>>(r.meta) ?? {},
    createdAt: n(r.created_at),
  };
}

export function toBatch(r: Row): Batch {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    agentId: r.agent_id,
    name: r.name ?? null,
    status: r.status as BatchStatus,
    total: n(r.total),
    succeeded: n(r.succeeded),
    failed: n(r.failed),
    pending: n(r.pending),
    processing: n(r.processing),
    awaiting: n(r.awaiting),
    webhook: json(r.webhook),
    metadata: json(r.metadata),
    context: json(r.context),
    promptTokens: n(r.prompt_tokens),
    cachedPromptTokens: n(r.cached_prompt_tokens),
    completionTokens: n(r.completion_tokens),
    cost: n(r.cost),
    errorMessage: r.error_message ?? null,
    createdAt: n(r.created_at),
    startedAt: nOrNull(r.started_at),
    completedAt: nOrNull(r.completed_at),
    cancelledAt: nOrNull(r.cancelled_at),
    pausedAt: nOrNull(r.paused_at),
    expiresAt: n(r.expires_at),
    inputFileId: r.input_file_id ?? null,
    originalFileName: r.original_file_name ?? null,
    inputFormat: r.input_format ?? null,
    validationErrors: json(r.validation_errors),
    requestHash: r.request_hash ?? null,
  };
}

/** The fields an item was created with, as a claim and a read both return them. */
function newItemFields(r: Row): NewBatchItem {
  return {
    customId: r.custom_id,
    agentId: r.agent_id,
    agentVersion: n(r.agent_version),
    message: r.message,
    externalUserId: r.external_user_id ?? null,
    name: r.name ?? null,
    attachedFileUuids: json<string[]>(r.attached_file_uuids) ?? [],
    historyId: nOrNull(r.history_id),
    context: json(r.context),
    metadata: json(r.metadata),
    webhook: json(r.webhook),
    request: json(r.request_json),
  };
}

export function toBatchItem(r: Row): BatchItem {
  return {
    ...newItemFields(r),
    ...answerFields(r),
    id: n(r.id),
    batchId: r.batch_id,
    seq: n(r.seq),
    status: r.status as ItemStatus,
    attempts: n(r.attempts),
    finishReason: r.finish_reason ?? null,
    responseDetail: json(r.response_detail),
  };
}

/** What an item's run left in its row: its answer or error, its chat, when it was processed. */
function answerFields(r: Row): ItemAnswer {
  return {
    responseContent: r.response_content ?? null,
    responseUsage: json(r.response_usage),
    responseJson: json(r.response_json),
    errorCode: nOrNull(r.error_code),
    errorMessage: r.error_message ?? null,
    chatId: nOrNull(r.chat_id),
    conversationId: nOrNull(r.conversation_id),
    processedAt: nOrNull(r.processed_at),
  };
}

/**
 * The columns of an `ItemResultRow`, in `RESULT_CELL` order: what every export reads. No usage
 * member is read out of `response_usage` here: SQLite parses the whole usage for each `->`, and
 * the CSV export's four token counts cost ~3 µs of CPU per row that way, against ~1.7 µs for one
 * JSON.parse of the usage text in the CSV writer (bench/README.md, "The CSV export's token
 * counts").
 */
export const RESULT_COLUMNS =
  "seq, custom_id, status, response_content, response_usage, response_json, error_code, error_message, chat_id, conversation_id, processed_at, attempts, agent_id, context, metadata";

/** The number cells of an `ItemResultRow` (PostgreSQL returns BIGINT as strings). */
const NUMBER_CELLS = [
  RESULT_CELL.seq,
  RESULT_CELL.errorCode,
  RESULT_CELL.chatId,
  RESULT_CELL.conversationId,
  RESULT_CELL.processedAt,
  RESULT_CELL.attempts,
];

/** The JSON cells of an `ItemResultRow` (the columns are TEXT on both dialects). */
const JSON_CELLS = [
  RESULT_CELL.responseUsage,
  RESULT_CELL.responseJson,
  RESULT_CELL.context,
  RESULT_CELL.metadata,
];

/**
 * A raw row of `RESULT_COLUMNS` as an `ItemResultRow`, in place: number cells as numbers, JSON
 * cells as text, undefined as null (nothing to change on SQLite but the check).
 */
export function toItemResultRow(r: unknown[]): ItemResultRow {
  for (const i of NUMBER_CELLS) {
    const v = r[i];
    if (v !== null && typeof v !== "number") r[i] = v === undefined ? null : Number(v);
  }
  for (const i of JSON_CELLS) {
    const v = r[i];
    if (v !== null && typeof v !== "string") r[i] = v === undefined ? null : JSON.stringify(v);
  }
  return r;
}

/**
 * A claimed row as the engine runs it: the created-with fields' object gets the claim's fields
 * set on it, not spread into another (a claim maps every item it takes; a copy per item was
 * measurable garbage at 10,000 in flight).
 */
export function toClaimedItem(r: Row, workspaceId: string): ClaimedItem {
  const item = newItemFields(r) as ClaimedItem;
  item.id = n(r.id);
  item.batchId = r.batch_id;
  item.workspaceId = workspaceId;
  item.seq = n(r.seq);
  item.attempt = n(r.attempts);
  item.interruptions = n(r.interruptions ?? 0);
  return item;
}

export function toFile(r: Row): FileRecord {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    purpose: r.purpose,
    scope: r.scope,
    originalName: r.original_name,
    contentType: r.content_type,
    size: n(r.size),
    storagePath: r.storage_path,
    meta: json(r.meta),
    createdAt: n(r.created_at),
  };
}

export function toFeedback(r: Row): MessageFeedback {
  return {
    id: n(r.id),
    chatId: n(r.chat_id),
    messageId: n(r.message_id),
    rating: r.rating,
    comment: r.comment ?? null,
    externalUserId: r.external_user_id ?? null,
    createdAt: n(r.created_at),
  };
}
