/**
 * The webhook events and their bodies. The store calls these inside the transaction that causes
 * an event, and stores the resulting text as the exact bytes to send (and sign).
 */
import { iso } from "./time.js";
import type { ResponseUsage } from "./usage.js";

/** A webhook target: where events go, which ones, and the signing secret. */
export interface WebhookSettings {
  url: string;
  events: string[];
  secret: string | null;
}

/** The seed's batch events, named in `webhook.events` without their `batch.` prefix. */
export const BATCH_EVENTS = ["completed", "failed", "cancelled"] as const;
/** Per-request events (extension), named in `webhook.events` as they are sent. */
export const REQUEST_EVENTS = ["request.succeeded", "request.failed", "request.awaiting_tool_calls"] as const;

export type RequestEvent = (typeof REQUEST_EVENTS)[number];

/** What a webhook listens to when it names no events: the seed's default, and every request event. */
export const DEFAULT_BATCH_WEBHOOK_EVENTS = ["completed", "failed"];
export const DEFAULT_REQUEST_WEBHOOK_EVENTS: string[] = [...REQUEST_EVENTS];

/** A `response_content` larger than this is replaced by a pointer to the results endpoint. */
export const MAX_INLINE_CONTENT_BYTES = 64 * 1024;

/** The event a batch status sends (`batch.completed`...), if the webhook asked for it. */
export function batchEventFor(status: string, webhook: WebhookSettings | null): string | null {
  if (!webhook || !(BATCH_EVENTS as readonly string[]).includes(status)) return null;
  return webhook.events.includes(status) ? `batch.${status}` : null;
}

export function wantsRequestEvent(webhook: WebhookSettings | null | undefined, event: RequestEvent): boolean {
  return Boolean(webhook?.events.includes(event));
}

export function wantsAnyRequestEvent(webhook: WebhookSettings | null | undefined): boolean {
  return REQUEST_EVENTS.some((e) => wantsRequestEvent(webhook, e));
}

/**
 * Seed 000's payload: `{event, timestamp, data: {id, status, total_requests, completed_requests,
 * failed_requests}}`, plus the batch's `metadata` and `context` when it has them (extensions).
 */
export function batchEventPayload(
  event: string,
  batch: {
    id: string;
    status: string;
    total: number;
    succeeded: number;
    failed: number;
    /** Extensions: the batch's own objects, as given on create (left out when none). */
    metadata?: Record<string, unknown> | null;
    context?: Record<string, unknown> | null;
  },
  now: number,
): string {
  return JSON.stringify({
    event,
    timestamp: iso(now),
    data: {
      id: batch.id,
      status: batch.status,
      total_requests: batch.total,
      completed_requests: batch.succeeded,
      failed_requests: batch.failed,
      ...(batch.metadata ? { metadata: batch.metadata } : {}),
      ...(batch.context ? { context: batch.context } : {}),
    },
  });
}

export interface RequestEventItem {
  batchId: string;
  customId: string;
  status: string;
  errorCode: number | null;
  errorMessage: string | null;
  responseContent: string | null;
  responseUsage: ResponseUsage | null;
  /** The parsed answer of structured output, when the agent asked for it. */
  responseJson?: unknown;
  chatId: number | null;
  conversationId: number | null;
  processedAt: number | null;
}

/**
 * `{event, timestamp, data: {batch_id, custom_id, status, error_code, error_message, result}}`,
 * where `result` is the request's row of the results endpoint (with `response_json` for
 * structured output). A response over 64 KB is left out and `result.results_url` is the path of
 * that one request's result (its custom_id URL-encoded).
 */
export function requestEventPayload(event: RequestEvent, item: RequestEventItem, now: number): string {
  const content = item.responseContent;
  const tooLarge = content !== null && Buffer.byteLength(content, "utf8") > MAX_INLINE_CONTENT_BYTES;
  return JSON.stringify({
    event,
    timestamp: iso(now),
    data: {
      batch_id: item.batchId,
      custom_id: item.customId,
      status: item.status,
      error_code: item.errorCode,
      error_message: item.errorMessage,
      result: {
        response_content: tooLarge ? null : content,
        ...(tooLarge
          ? {
              response_content_truncated: true,
              results_url: `/api/v1/batches/${encodeURIComponent(item.batchId)}/results/${encodeURIComponent(item.customId)}`,
            }
          : {}),
        ...(item.responseJson === undefined || item.responseJson === null || tooLarge
          ? {}
          : { response_json: item.responseJson }),
        response_usage: item.responseUsage,
        history_id: item.chatId,
        conversation_id: item.conversationId,
        processed_at: iso(item.processedAt),
      },
    },
  });
}

/**
 * The host a webhook URL targets (`host:port`, lower case), by which deliveries are shared out
 * fairly and capped per target; the URL itself when it does not parse.
 */
export function webhookTargetHost(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return url;
  }
}
