/**
 * The webhook outbox: one row per event and target, written by the state changes of batches and
 * items inside their own transactions, read and updated by the dispatcher (`webhooks/`).
 */
import type { Page, PageQuery } from "./page.js";

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** One event for one target: a row of the outbox, sent until delivered or given up. */
export interface WebhookDelivery {
  /** Stable across retries and redeliveries (the `webhook-id` header). */
  id: string;
  workspaceId: string;
  batchId: string;
  /** The request an `request.*` event is about; null for batch events. */
  customId: string | null;
  event: string;
  /** The exact body bytes sent (JSON text). */
  payload: string;
  url: string;
  /** The host the URL targets (`host:port`): deliveries are shared out and capped by it. */
  targetHost: string;
  secret: string | null;
  status: WebhookDeliveryStatus;
  /** Attempts made (a claim counts one); fences the result of an attempt. */
  attempts: number;
  nextAttemptAt: number;
  /** Start of the retry window (creation, or the last redelivery). */
  retrySince: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** What became of one attempt. */
export type DeliveryAttemptResult =
  | { kind: "delivered"; statusCode: number }
  | { kind: "retry"; nextAttemptAt: number; statusCode: number | null; error: string }
  | { kind: "failed"; statusCode: number | null; error: string };

export interface WebhookDeliveryQuery extends PageQuery {
  status?: WebhookDeliveryStatus;
}

/** How a claim shares the due deliveries out. */
export interface FairClaim {
  /** Most deliveries taken per (workspace, target host) in one claim. */
  perTarget: number;
  /** Hosts to take nothing for (the dispatcher already sends its cap to each). */
  skipHosts: string[];
}

export interface WebhookOutbox {
  /**
   * Leases up to `limit` due deliveries to `owner` (their next attempt moves `leaseMs` ahead, so
   * a sender that dies leaves them due again) and counts the attempt. Round-robin across
   * (workspace, target host): the first due delivery of every group before the second of any,
   * at most `fair.perTarget` per group, none for `fair.skipHosts`; so one tenant's backlog to a
   * target that never answers does not hold the others back.
   */
  claimDue(
    owner: string,
    limit: number,
    leaseMs: number,
    now: number,
    fair?: FairClaim,
  ): Promise<WebhookDelivery[]>;
  /** Stores an attempt's result if `owner` still holds that attempt; false when fenced off. */
  recordAttempt(
    id: string,
    owner: string,
    attempt: number,
    result: DeliveryAttemptResult,
    now: number,
  ): Promise<boolean>;
  /** Hands unsent claims back, due at once, without counting the attempt (shutdown). */
  release(owner: string, claims: { id: string; attempt: number }[], now: number): Promise<void>;
  /** When the earliest pending delivery (to a host not in `skipHosts`) is due, or null when none is. */
  nextDueAt(skipHosts?: string[]): Promise<number | null>;
  /** Deliveries of a batch, oldest first. */
  list(batchId: string, query: WebhookDeliveryQuery): Promise<Page<WebhookDelivery>>;
  /** Queues a delivery of the batch again, due now, with a fresh retry window. */
  redeliver(batchId: string, deliveryId: string, now: number): Promise<WebhookDelivery | undefined>;
}
