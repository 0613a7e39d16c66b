/** How batches and their results look on the wire (seed 000's field names, then extensions). */
import { iso } from "../../domain/time.js";
import type { Batch, ItemResult } from "../../store/types.js";

export function batchToWire(b: Batch) {
  const done = b.succeeded + b.failed;
  return {
    id: b.id,
    status: b.status,
    agent_id: b.agentId,
    total_requests: b.total,
    completed_requests: b.succeeded,
    failed_requests: b.failed,
    created_at: iso(b.createdAt),
    completed_at: iso(b.completedAt),
    cancelled_at: iso(b.cancelledAt),
    // Extensions (fields the seed does not have; never a change of a seed field's meaning).
    name: b.name,
    metadata: b.metadata,
    context: b.context,
    pending_requests: b.pending,
    processing_requests: b.processing,
    awaiting_tool_calls_requests: b.awaiting,
    progress: b.total === 0 ? 1 : Math.round((done / b.total) * 10_000) / 10_000,
    started_at: iso(b.startedAt),
    paused_at: iso(b.pausedAt),
    expires_at: iso(b.expiresAt),
    error_message: b.errorMessage,
    validation_errors: b.validationErrors,
    input_file_id: b.inputFileId,
    original_file_name: b.originalFileName,
    input_format: b.inputFormat,
    usage: {
      prompt_tokens: b.promptTokens,
      completion_tokens: b.completionTokens,
      total_tokens: b.promptTokens + b.completionTokens,
      /** Of `prompt_tokens`, those providers reported as served from their prompt cache. */
      cached_prompt_tokens: b.cachedPromptTokens,
    },
    total_cost: Math.round(b.cost * 1e6) / 1e6,
    webhook: b.webhook
      ? { url: b.webhook.url, events: b.webhook.events, has_secret: b.webhook.secret !== null }
      : null,
  };
}

export function itemToWire(it: ItemResult) {
  const failed = it.status === "failed";
  return {
    custom_id: it.customId,
    status: it.status,
    response_content: it.responseContent,
    response_usage: it.responseUsage,
    error_code: failed ? it.errorCode : null,
    error_message: failed ? it.errorMessage : null,
    history_id: it.chatId,
    conversation_id: it.conversationId,
    processed_at: iso(it.processedAt),
    // Extensions.
    /** The parsed answer of an agent with structured output (validated against its schema). */
    response_json: it.responseJson ?? null,
    attempts: it.attempts,
    agent_id: it.agentId,
    context: it.context ?? null,
    metadata: it.metadata ?? null,
  };
}
