import type { BatchStatus } from "../../domain/statuses.js";
import type { MetricsSnapshot, StoreMetrics } from "../metrics.js";
import type { WebhookDeliveryStatus } from "../outbox.js";
import type { Row, SqlDriver } from "./driver.js";
import { n } from "./rows.js";

/** The aggregates /metrics reads: batch counters and the outbox. */
export class SqlStoreMetrics implements StoreMetrics {
  constructor(private readonly db: SqlDriver) {}

  async snapshot(): Promise<MetricsSnapshot> {
    // The counters move in the same transactions as the items, so their sums are exact item counts.
    const totals = (await this.db.get(
      `SELECT COALESCE(SUM(pending), 0) AS pending, COALESCE(SUM(processing), 0) AS processing,
         COALESCE(SUM(succeeded), 0) AS succeeded, COALESCE(SUM(failed), 0) AS failed,
         COALESCE(SUM(awaiting), 0) AS awaiting,
         COALESCE(SUM(CASE WHEN status = 'in_progress' THEN pending ELSE 0 END), 0) AS queued
       FROM batches`,
    )) as Row;
    const byStatus = await this.db.all("SELECT status, COUNT(*) AS c FROM batches GROUP BY status");
    const deliveries = await this.db.all(
      "SELECT status, COUNT(*) AS c, COALESCE(SUM(attempts), 0) AS a FROM webhook_deliveries GROUP BY status",
    );
    return {
      items: {
        pending: n(totals.pending),
        processing: n(totals.processing),
        awaiting_tool_calls: n(totals.awaiting),
        success: n(totals.succeeded),
        failed: n(totals.failed),
      },
      queueDepth: n(totals.queued),
      batches: Object.fromEntries(byStatus.map((r) => [r.status as BatchStatus, n(r.c)])),
      webhookDeliveries: Object.fromEntries(
        deliveries.map((r) => [r.status as WebhookDeliveryStatus, { deliveries: n(r.c), attempts: n(r.a) }]),
      ),
    };
  }
}
