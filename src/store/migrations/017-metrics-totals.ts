import type { Migration } from "./migration.js";

/**
 * /metrics reads finished batches from one running-totals row instead of summing the whole
 * `batches` table: batches by terminal status and the item counters of those batches, moved in
 * the transactions that finish a batch (or retry its failed items). Filled from the batches that
 * have already finished. The outbox is counted by status from a covering index (status,
 * attempts): the refresh reads the index, not the payload rows.
 */
export const migration017: Migration = {
  version: 17,
  sql: (t) => `
CREATE TABLE metrics_totals (
  id INTEGER PRIMARY KEY,
  completed_batches ${t.bigint} NOT NULL DEFAULT 0,
  failed_batches ${t.bigint} NOT NULL DEFAULT 0,
  cancelled_batches ${t.bigint} NOT NULL DEFAULT 0,
  pending ${t.bigint} NOT NULL DEFAULT 0,
  processing ${t.bigint} NOT NULL DEFAULT 0,
  awaiting ${t.bigint} NOT NULL DEFAULT 0,
  succeeded ${t.bigint} NOT NULL DEFAULT 0,
  failed ${t.bigint} NOT NULL DEFAULT 0
);
INSERT INTO metrics_totals (id, completed_batches, failed_batches, cancelled_batches, pending, processing,
  awaiting, succeeded, failed)
SELECT 1,
  COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(pending), 0), COALESCE(SUM(processing), 0), COALESCE(SUM(awaiting), 0),
  COALESCE(SUM(succeeded), 0), COALESCE(SUM(failed), 0)
FROM batches WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX webhook_deliveries_status_attempts ON webhook_deliveries(status, attempts);
`,
};
