import { ACTIVE_BATCH_STATUSES, type BatchStatus } from "../../domain/statuses.js";
import type { MetricsSnapshot, StoreMetrics } from "../metrics.js";
import type { WebhookDeliveryStatus } from "../outbox.js";
import type { Row, SqlDriver } from "./driver.js";
import { n } from "./rows.js";

const ACTIVE = ACTIVE_BATCH_STATUSES.map((s) => `'${s}'`).join(", ");

/** The aggregates /metrics reads: batch counters and the outbox. */
export class SqlStoreMetrics implements StoreMetrics {
  constructor(private readonly db: SqlDriver) {}

  async snapshot(): Promise<MetricsSnapshot> {
    // The counters move in the same transactions as the items, so their sums are exact item counts.
    // Only batches that have not finished are summed (the batches_status index); the finished
    // ones are one running-totals row (metrics-totals.ts), so a refresh does not grow with history.
    const active = (await this.db.get(
      `SELECT COALESCE(SUM(pending), 0) AS pending, COALESCE(SUM(processing), 0) AS processing,
         COALESCE(SUM(succeeded), 0) AS succeeded, COALESCE(SUM(failed), 0) AS failed,
         COALESCE(SUM(awaiting), 0) AS awaiting,
         COALESCE(SUM(CASE WHEN status = 'in_progress' THEN pending ELSE 0 END), 0) AS queued
       FROM batches WHERE status IN (${ACTIVE})`,
    )) as Row;
    const done = (await this.db.get("SELECT * FROM metrics_totals WHERE id = 1")) as Row;
    const totals = (key: string) => n(active[key]) + n(done[key]);
    const byStatus = await this.db.all(
      `SELECT status, COUNT(*) AS c FROM batches WHERE status IN (${ACTIVE}) GROUP BY status`,
    );
    // Covered by webhook_deliveries_status_attempts (migration 017): an index-only scan.
    const deliveries = await this.db.all(
      "SELECT status, COUNT(*) AS c, COALESCE(SUM(attempts), 0) AS a FROM webhook_deliveries GROUP BY status",
    );
    return {
      items: {
        pending: totals("pending"),
        processing: totals("processing"),
        awaiting_tool_calls: totals("awaiting"),
        success: totals("succeeded"),
        failed: totals("failed"),
      },
      queueDepth: n(active.queued),
      batches: {
        ...Object.fromEntries(byStatus.map((r) => [r.status as BatchStatus, n(r.c)])),
        completed: n(done.completed_batches),
        failed: n(done.failed_batches),
        cancelled: n(done.cancelled_batches),
      },
      webhookDeliveries: Object.fromEntries(
        deliveries.map((r) => [r.status as WebhookDeliveryStatus, { deliveries: n(r.c), attempts: n(r.a) }]),
      ),
    };
  }
}
