/**
 * Writing the webhook outbox: the state changes of batches and items call these inside their own
 * transactions, so an event exists exactly when the change that causes it committed.
 */

import { newDeliveryId } from "../../domain/ids.js";
import {
  batchEventFor,
  batchEventPayload,
  DEFAULT_REQUEST_WEBHOOK_EVENTS,
  type RequestEvent,
  requestEventPayload,
  type WebhookSettings,
  wantsAnyRequestEvent,
  wantsRequestEvent,
  webhookTargetHost,
} from "../../domain/webhook-events.js";
import type { Row, SqlExecutor } from "./driver.js";
import { json, n, nOrNull } from "./rows.js";

/** What the outbox needs to know about a batch to decide which events its changes send. */
export interface OutboxBatch {
  workspaceId: string;
  webhook: WebhookSettings | null;
  /** How many of its items carry their own webhook. */
  itemWebhooks: number;
}

export function outboxBatch(row: Row): OutboxBatch {
  return {
    workspaceId: row.workspace_id,
    webhook: json<WebhookSettings>(row.webhook),
    itemWebhooks: n(row.item_webhooks ?? 0),
  };
}

/** True when a final item outcome of this batch may send a `request.*` event. */
export function wantsItemEvents(batch: OutboxBatch): boolean {
  return batch.itemWebhooks > 0 || wantsAnyRequestEvent(batch.webhook);
}

/** A per-request webhook as stored on the item, with its default events. */
export function itemWebhook(raw: unknown): WebhookSettings | null {
  const w = json<Partial<WebhookSettings>>(raw);
  if (!w?.url) return null;
  return { url: w.url, secret: w.secret ?? null, events: w.events ?? DEFAULT_REQUEST_WEBHOOK_EVENTS };
}

async function insertDelivery(
  tx: SqlExecutor,
  d: { workspaceId: string; batchId: string; customId: string | null; event: string; payload: string },
  target: WebhookSettings,
  now: number,
): Promise<void> {
  await tx.run(
    `INSERT INTO webhook_deliveries (id, workspace_id, batch_id, custom_id, event, payload, url, target_host,
       secret, status, attempts, next_attempt_at, retry_since, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
    [
      newDeliveryId(),
      d.workspaceId,
      d.batchId,
      d.customId,
      d.event,
      d.payload,
      target.url,
      webhookTargetHost(target.url),
      target.secret,
      now,
      now,
      now,
    ],
  );
}

/**
 * Queues the batch event its current status sends (`batch.completed`, `.failed`, `.cancelled`),
 * if its webhook asked for it. Call it in the transaction that set the status, after the counters
 * moved.
 */
export async function enqueueBatchEvent(tx: SqlExecutor, batchId: string, now: number): Promise<void> {
  const b = (await tx.get(
    "SELECT id, workspace_id, status, total, succeeded, failed, webhook, metadata, context FROM batches WHERE id = ?",
    [batchId],
  )) as Row;
  const webhook = json<WebhookSettings>(b.webhook);
  const event = batchEventFor(b.status, webhook);
  if (!event || !webhook) return;
  const payload = batchEventPayload(
    event,
    {
      id: b.id,
      status: b.status,
      total: n(b.total),
      succeeded: n(b.succeeded),
      failed: n(b.failed),
      metadata: json(b.metadata),
      context: json(b.context),
    },
    now,
  );
  await insertDelivery(
    tx,
    { workspaceId: b.workspace_id, batchId, customId: null, event, payload },
    webhook,
    now,
  );
}

/**
 * Queues `request.succeeded` / `request.failed` for an item that just reached its final status,
 * to the batch's webhook and to the item's own, each if it asked for that event.
 */
export async function enqueueItemEvent(
  tx: SqlExecutor,
  batch: OutboxBatch,
  item: Row,
  now: number,
): Promise<void> {
  const event: RequestEvent =
    item.status === "success"
      ? "request.succeeded"
      : item.status === "awaiting_tool_calls"
        ? "request.awaiting_tool_calls"
        : "request.failed";
  const targets = [batch.webhook, itemWebhook(item.webhook)].filter(
    (w): w is WebhookSettings => w !== null && wantsRequestEvent(w, event),
  );
  if (targets.length === 0) return;
  const payload = requestEventPayload(
    event,
    {
      batchId: item.batch_id,
      customId: item.custom_id,
      status: item.status,
      errorCode: nOrNull(item.error_code),
      errorMessage: item.error_message ?? null,
      responseContent: item.response_content ?? null,
      responseUsage: json(item.response_usage),
      responseJson: json(item.response_json),
      chatId: nOrNull(item.chat_id),
      conversationId: nOrNull(item.conversation_id),
      processedAt: nOrNull(item.processed_at),
    },
    now,
  );
  for (const target of targets) {
    await insertDelivery(
      tx,
      { workspaceId: batch.workspaceId, batchId: item.batch_id, customId: item.custom_id, event, payload },
      target,
      now,
    );
  }
}
