/**
 * The webhook outbox: one row per event and target. Rows are written by the store's state
 * changes inside their own transactions (the `enqueue*` functions), so an event exists exactly
 * when the change that causes it committed; `SqlWebhookOutbox` is what the dispatcher reads and
 * updates.
 */
import {
  batchEventFor,
  batchEventPayload,
  DEFAULT_REQUEST_WEBHOOK_EVENTS,
  type RequestEvent,
  requestEventPayload,
  wantsAnyRequestEvent,
  wantsRequestEvent,
} from "../domain/webhook-events.js";
import { json, n, nOrNull } from "./rows.js";
import type { Row, SqlDriver, SqlExecutor } from "./sql/driver.js";
import type {
  DeliveryAttemptResult,
  Page,
  WebhookDelivery,
  WebhookDeliveryQuery,
  WebhookOutbox,
  WebhookSettings,
} from "./types.js";

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

function deliveryId(): string {
  return `msg_${crypto.randomUUID().replace(/-/g, "")}`;
}

async function insertDelivery(
  tx: SqlExecutor,
  d: { workspaceId: string; batchId: string; customId: string | null; event: string; payload: string },
  target: WebhookSettings,
  now: number,
): Promise<void> {
  await tx.run(
    `INSERT INTO webhook_deliveries (id, workspace_id, batch_id, custom_id, event, payload, url, secret, status,
       attempts, next_attempt_at, retry_since, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
    [
      deliveryId(),
      d.workspaceId,
      d.batchId,
      d.customId,
      d.event,
      d.payload,
      target.url,
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
    "SELECT id, workspace_id, status, total, succeeded, failed, webhook FROM batches WHERE id = ?",
    [batchId],
  )) as Row;
  const webhook = json<WebhookSettings>(b.webhook);
  const event = batchEventFor(b.status, webhook);
  if (!event || !webhook) return;
  const payload = batchEventPayload(
    event,
    { id: b.id, status: b.status, total: n(b.total), succeeded: n(b.succeeded), failed: n(b.failed) },
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
  const event: RequestEvent = item.status === "success" ? "request.succeeded" : "request.failed";
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

function toDelivery(r: Row): WebhookDelivery {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    batchId: r.batch_id,
    customId: r.custom_id ?? null,
    event: r.event,
    payload: r.payload,
    url: r.url,
    secret: r.secret ?? null,
    status: r.status,
    attempts: n(r.attempts),
    nextAttemptAt: n(r.next_attempt_at),
    retrySince: n(r.retry_since),
    lastStatusCode: nOrNull(r.last_status_code),
    lastError: r.last_error ?? null,
    createdAt: n(r.created_at),
    deliveredAt: nOrNull(r.delivered_at),
  };
}

/** Longest `last_error` kept. */
const MAX_ERROR_CHARS = 1000;

export class SqlWebhookOutbox implements WebhookOutbox {
  constructor(private readonly db: SqlDriver) {}

  async claimDue(owner: string, limit: number, leaseMs: number, now: number): Promise<WebhookDelivery[]> {
    // The same pattern as the item claim: one statement, other claimers skip locked rows.
    const skipLocked = this.db.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
    const rows = await this.db.all(
      `UPDATE webhook_deliveries SET lease_owner = ?, lease_expires_at = ?, next_attempt_at = ?, attempts = attempts + 1
       WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
                    ORDER BY next_attempt_at LIMIT ?${skipLocked})
       RETURNING *`,
      [owner, now + leaseMs, now + leaseMs, now, limit],
    );
    return rows.map(toDelivery);
  }

  async recordAttempt(
    id: string,
    owner: string,
    attempt: number,
    result: DeliveryAttemptResult,
    now: number,
  ): Promise<boolean> {
    const fence = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'pending'";
    const error = result.kind === "delivered" ? null : result.error.slice(0, MAX_ERROR_CHARS);
    const status =
      result.kind === "delivered" ? "delivered" : result.kind === "failed" ? "failed" : "pending";
    const changed = await this.db.run(
      `UPDATE webhook_deliveries SET status = ?, last_status_code = ?, last_error = ?, next_attempt_at = ?,
         delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL ${fence}`,
      [
        status,
        result.statusCode,
        error,
        result.kind === "retry" ? result.nextAttemptAt : now,
        result.kind === "delivered" ? now : null,
        id,
        owner,
        attempt,
      ],
    );
    return changed > 0;
  }

  async release(owner: string, claims: { id: string; attempt: number }[], now: number): Promise<void> {
    for (const c of claims) {
      await this.db.run(
        `UPDATE webhook_deliveries SET next_attempt_at = ?, attempts = attempts - 1, lease_owner = NULL,
           lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'pending'`,
        [now, c.id, owner, c.attempt],
      );
    }
  }

  async nextDueAt(): Promise<number | null> {
    const row = await this.db.get(
      "SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending'",
    );
    return nOrNull(row?.t);
  }

  async list(batchId: string, query: WebhookDeliveryQuery): Promise<Page<WebhookDelivery>> {
    const filter = query.status ? " AND status = ?" : "";
    const params = query.status ? [batchId, query.status] : [batchId];
    const rows = await this.db.all(
      `SELECT * FROM webhook_deliveries WHERE batch_id = ?${filter} ORDER BY created_at, id LIMIT ? OFFSET ?`,
      [...params, query.limit, query.offset],
    );
    const total = (await this.db.get(
      `SELECT COUNT(*) AS c FROM webhook_deliveries WHERE batch_id = ?${filter}`,
      params,
    )) as Row;
    return { rows: rows.map(toDelivery), total: n(total.c) };
  }

  async redeliver(batchId: string, deliveryId: string, now: number): Promise<WebhookDelivery | undefined> {
    // attempts = 0 also fences off the result of an attempt still in flight.
    const row = await this.db.get(
      `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, retry_since = ?,
         delivered_at = NULL, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ? AND batch_id = ? RETURNING *`,
      [now, now, deliveryId, batchId],
    );
    return row ? toDelivery(row) : undefined;
  }
}
