/** Aggregates /metrics reads at scrape time. */
import type { BatchStatus, ItemStatus } from "../domain/statuses.js";
import type { WebhookDeliveryStatus } from "./outbox.js";

/** What /metrics reads from the store at scrape time. */
export interface MetricsSnapshot {
  /** Items by status, summed over every batch's counters. */
  items: Record<ItemStatus, number>;
  /** Pending items of in_progress batches: the queue the engine claims from. */
  queueDepth: number;
  /** Batches by status. */
  batches: Partial<Record<BatchStatus, number>>;
  /** Webhook deliveries of the outbox by status, with the attempts made on them. */
  webhookDeliveries: Partial<Record<WebhookDeliveryStatus, { deliveries: number; attempts: number }>>;
}

export interface StoreMetrics {
  /** Item and batch counts over every workspace, read from the batch counters. */
  snapshot(): Promise<MetricsSnapshot>;
}
