/** How agentbatch's records look in the OpenAI Batch and Files APIs. */
import type { ApiBatch } from "../../store/api-batches.js";
import type { BatchItem, FilePurpose, FileRecord } from "../../store/types.js";
import { successBody } from "./openai-response-bodies.js";

/** Unix seconds, OpenAI's timestamps. */
const sec = (ms: number | null | undefined): number | null => (ms == null ? null : Math.floor(ms / 1000));

const WIRE_PURPOSE: Record<FilePurpose, string> = {
  attachment: "user_data",
  batch_input: "batch",
  batch_output: "batch_output",
  batch_error: "batch_output",
};

export function fileObject(f: FileRecord) {
  return {
    id: f.id,
    object: "file" as const,
    bytes: f.size,
    created_at: sec(f.createdAt) as number,
    filename: f.originalName,
    purpose: WIRE_PURPOSE[f.purpose] ?? f.purpose,
    status: "processed" as const,
    expires_at: null,
    status_details: null,
  };
}

export type OpenAIBatchStatus =
  | "validating"
  | "failed"
  | "in_progress"
  | "finalizing"
  | "completed"
  | "expired"
  | "cancelling"
  | "cancelled";

/**
 * The store's status in OpenAI's terms. A batch whose items are all done is `finalizing` until
 * its output files are written; a paused batch is `in_progress` (OpenAI has no pause); a
 * completed batch with requests that ran out of time is `expired`.
 */
export function openAIStatus(ab: ApiBatch, expiredItems: number): OpenAIBatchStatus {
  const { batch, api } = ab;
  const finalized = api.finalizedAt !== null;
  switch (batch.status) {
    case "validating":
      return "validating";
    case "in_progress":
    case "paused":
      return "in_progress";
    case "failed":
      return "failed";
    case "cancelling":
      return "cancelling";
    case "cancelled":
      return finalized ? "cancelled" : "cancelling";
    case "completed":
      if (!finalized) return "finalizing";
      // Its output files could not be written (openai-output.ts): the errors say why.
      if (api.lineErrors.length > 0) return "failed";
      return expiredItems > 0 ? "expired" : "completed";
  }
}

export function batchObject(ab: ApiBatch, expiredItems: number) {
  const { batch, api } = ab;
  const status = openAIStatus(ab, expiredItems);
  const ended = batch.completedAt ?? batch.cancelledAt;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(batch.metadata ?? {}))
    metadata[k] = typeof v === "string" ? v : JSON.stringify(v);
  return {
    id: batch.id,
    object: "batch" as const,
    endpoint: api.endpoint,
    errors:
      api.lineErrors.length > 0
        ? { object: "list" as const, data: api.lineErrors.map((e) => ({ ...e })) }
        : null,
    input_file_id: api.inputFileId,
    completion_window: api.completionWindow,
    status,
    output_file_id: api.outputFileId,
    error_file_id: api.errorFileId,
    created_at: sec(batch.createdAt) as number,
    in_progress_at: status === "failed" || status === "validating" ? null : sec(batch.createdAt),
    expires_at: sec(batch.expiresAt),
    finalizing_at: batch.status === "completed" ? sec(batch.completedAt) : null,
    completed_at: status === "completed" ? sec(api.finalizedAt) : null,
    failed_at: status === "failed" ? sec(batch.completedAt ?? batch.createdAt) : null,
    expired_at: status === "expired" ? sec(ended) : null,
    cancelling_at:
      status === "cancelling" || status === "cancelled"
        ? sec(api.cancelRequestedAt ?? batch.cancelledAt)
        : null,
    cancelled_at: status === "cancelled" ? sec(batch.cancelledAt) : null,
    request_counts: { total: batch.total, completed: batch.succeeded, failed: batch.failed },
    metadata: batch.metadata ? metadata : null,
    usage: {
      input_tokens: batch.promptTokens,
      input_tokens_details: { cached_tokens: batch.cachedPromptTokens },
      output_tokens: batch.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: batch.promptTokens + batch.completionTokens,
    },
  };
}

/** One line of the output file: a succeeded request and its response body for the batch's endpoint. */
export function outputLine(it: BatchItem) {
  return {
    id: `batch_req_${it.id}`,
    custom_id: it.customId,
    response: { status_code: 200, request_id: `req_${it.id}`, body: successBody(it) },
    error: null,
  };
}

const ERROR_TYPES: Record<number, { type: string; code: string }> = {
  400: { type: "invalid_request_error", code: "invalid_request" },
  408: { type: "batch_expired", code: "batch_expired" },
  429: { type: "rate_limit_error", code: "rate_limit_exceeded" },
  499: { type: "batch_cancelled", code: "batch_cancelled" },
  500: { type: "server_error", code: "server_error" },
  502: { type: "server_error", code: "upstream_error" },
  504: { type: "server_error", code: "upstream_timeout" },
};

/**
 * One line of the error file. A request that never ran (cancelled, expired) has no response;
 * one the upstream refused has the response it would have had, with OpenAI's error body.
 */
export function errorLine(it: BatchItem) {
  const code = it.errorCode ?? 500;
  const kind = ERROR_TYPES[code] ?? ERROR_TYPES[500];
  const message = it.errorMessage ?? "The request failed";
  const ranAndFailed = code !== 408 && code !== 499;
  return {
    id: `batch_req_${it.id}`,
    custom_id: it.customId,
    response: ranAndFailed
      ? {
          status_code: code,
          request_id: `req_${it.id}`,
          body: { error: { message, type: kind.type, param: null, code: kind.code } },
        }
      : null,
    error: { code: kind.code, message },
  };
}
