/** How agentbatch's records look in the Anthropic Message Batches API. */
import { isTerminalBatchStatus } from "../../domain/statuses.js";
import type { ApiBatch } from "../../store/api-batches.js";
import type { BatchItem } from "../../store/types.js";

/** RFC 3339, as Anthropic writes times. */
const rfc3339 = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function processingStatus(ab: ApiBatch): "in_progress" | "canceling" | "ended" {
  if (isTerminalBatchStatus(ab.batch.status)) return "ended";
  return ab.batch.status === "cancelling" ? "canceling" : "in_progress";
}

/** `failedByCode`: failed items per error code (499 cancelled, 408 expired, the rest errored). */
export function messageBatchObject(ab: ApiBatch, failedByCode: Map<number, number>, origin: string) {
  const { batch, api } = ab;
  const status = processingStatus(ab);
  const canceled = failedByCode.get(499) ?? 0;
  const expired = failedByCode.get(408) ?? 0;
  return {
    id: batch.id,
    type: "message_batch" as const,
    processing_status: status,
    request_counts: {
      processing: batch.pending + batch.processing,
      succeeded: batch.succeeded,
      errored: batch.failed - canceled - expired,
      canceled,
      expired,
    },
    ended_at: status === "ended" ? rfc3339(batch.completedAt ?? batch.cancelledAt ?? batch.createdAt) : null,
    created_at: rfc3339(batch.createdAt) as string,
    expires_at: rfc3339(batch.expiresAt) as string,
    archived_at: null,
    cancel_initiated_at: rfc3339(api.cancelRequestedAt ?? batch.cancelledAt),
    results_url: status === "ended" ? `${origin}/v1/messages/batches/${batch.id}/results` : null,
  };
}

const STOP_REASONS: Record<string, string> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  content_filter: "refusal",
};

function errorType(code: number): string {
  if (code === 400) return "invalid_request_error";
  if (code === 429) return "rate_limit_error";
  if (code === 504) return "timeout_error";
  return "api_error";
}

/** Tool arguments as `tool_use.input`: an object (arguments that are not a JSON object become `{}`). */
function toolInput(args: string): Record<string, unknown> {
  try {
    const v = JSON.parse(args);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

/** The Message's content: thinking blocks, the text, then one `tool_use` block per tool call. */
function contentBlocks(it: BatchItem): Record<string, unknown>[] {
  const detail = it.responseDetail;
  const blocks: Record<string, unknown>[] = (detail?.thinking ?? []).map((t) => ({ ...t }));
  const text = it.responseContent ?? "";
  if (text !== "" || !detail?.toolCalls) blocks.push({ type: "text", text });
  for (const call of detail?.toolCalls ?? []) {
    blocks.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call.arguments) });
  }
  return blocks;
}

/** Anthropic's usage: `input_tokens` excludes the tokens read from or written to the cache. */
function messageUsage(it: BatchItem) {
  const u = it.responseUsage;
  const prompt = u?.total_prompt_tokens ?? 0;
  const cacheRead = it.responseDetail?.usage?.cachedPromptTokens ?? 0;
  const cacheWrite = it.responseDetail?.usage?.cacheCreationTokens ?? 0;
  return {
    input_tokens: Math.max(0, prompt - cacheRead - cacheWrite),
    output_tokens: u?.total_completion_tokens ?? 0,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
  };
}

/** One line of the results file: `{custom_id, result}` with a full Message for a success. */
export function resultLine(it: BatchItem) {
  if (it.status === "success") {
    const u = it.responseUsage;
    return {
      custom_id: it.customId,
      result: {
        type: "succeeded" as const,
        message: {
          id: `msg_${it.batchId.replace(/^msgbatch_/, "")}${it.seq.toString(36)}`,
          type: "message" as const,
          role: "assistant" as const,
          model: u?.tool_calls[0]?.model ?? it.request?.requestedModel ?? "",
          content: contentBlocks(it),
          stop_reason: STOP_REASONS[it.finishReason ?? "stop"] ?? "end_turn",
          stop_sequence: null,
          usage: messageUsage(it),
        },
      },
    };
  }
  if (it.errorCode === 499) return { custom_id: it.customId, result: { type: "canceled" as const } };
  if (it.errorCode === 408) return { custom_id: it.customId, result: { type: "expired" as const } };
  return {
    custom_id: it.customId,
    result: {
      type: "errored" as const,
      error: {
        type: "error" as const,
        error: { type: errorType(it.errorCode ?? 500), message: it.errorMessage ?? "The request failed" },
      },
    },
  };
}
